package ghsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Delivery states.
const (
	DeliveryPending   = "pending"   // held, or no webhook URL yet
	DeliveryDelivered = "delivered" // the last attempt got a 2xx
	DeliveryFailed    = "failed"    // the last attempt got no 2xx
	DeliveryDropped   = "dropped"   // dropped by DropWebhooks; never sent unless redelivered
)

// Delivery is one webhook, as GitHub's "Recent Deliveries" shows it.
type Delivery struct {
	ID       string // X-GitHub-Delivery, kept on redelivery
	Event    string // X-GitHub-Event
	Action   string
	Repo     string
	Number   int    // PR number, 0 if none
	HeadSHA  string // PR head after the action
	Payload  []byte // exactly the bytes sent (and signed)
	Created  time.Time
	State    string
	Attempts []Attempt
}

// Attempt is one POST of a delivery.
type Attempt struct {
	Time       time.Time
	StatusCode int // 0 when no answer
	Err        string
	Redelivery bool
}

// DeliveryError reports a webhook POST that got no 2xx. The state change
// that caused the webhook has happened regardless, as on GitHub.
type DeliveryError struct {
	ID         string
	Event      string
	StatusCode int
	Err        error
}

func (e *DeliveryError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("ghsim: deliver %s %s: %v", e.Event, e.ID, e.Err)
	}
	return fmt.Sprintf("ghsim: deliver %s %s: status %d", e.Event, e.ID, e.StatusCode)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

type webhookState struct {
	url        string
	hold       bool
	deliveries []*Delivery
}

// SetWebhookURL sets where webhooks go (the trigger usually starts after
// the simulator).
func (s *Sim) SetWebhookURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhooks.url = u
}

// HoldWebhooks queues new deliveries as pending instead of sending them;
// send them with Deliver, in any order. Turning it off sends nothing by
// itself.
func (s *Sim) HoldWebhooks(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhooks.hold = on
}

// newDeliveryLocked records a webhook for an event payload (a go-github
// event type) and reports whether it should be sent now.
func (s *Sim) newDeliveryLocked(event, action, repo string, number int, sha string, payload any) (*Delivery, bool) {
	body, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("ghsim: marshal %s payload: %v", event, err)) // go-github types always marshal
	}
	d := &Delivery{
		ID: newUUID(), Event: event, Action: action, Repo: repo, Number: number, HeadSHA: sha,
		Payload: body, Created: s.now(), State: DeliveryPending,
	}
	s.webhooks.deliveries = append(s.webhooks.deliveries, d)
	switch {
	case s.faults.dropWebhooks > 0:
		s.faults.dropWebhooks--
		d.State = DeliveryDropped
		s.log.Info("dropped webhook", zap.String("delivery", d.ID), zap.String("event", event), zap.String("action", action))
		return d, false
	case s.webhooks.hold || s.webhooks.url == "":
		return d, false
	}
	return d, true
}

// emit sends a fresh delivery unless it was held or dropped, and returns a
// snapshot of it.
func (s *Sim) emit(ctx context.Context, d *Delivery, send bool) (Delivery, error) {
	var err error
	if send {
		err = s.send(ctx, d, false)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return d.snapshot(), err
}

// send POSTs a delivery, signed like GitHub, and records the attempt.
func (s *Sim) send(ctx context.Context, d *Delivery, redelivery bool) error {
	s.mu.Lock()
	target := s.webhooks.url
	s.mu.Unlock()
	if target == "" {
		return &DeliveryError{ID: d.ID, Event: d.Event, Err: fmt.Errorf("no webhook URL set")}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(d.Payload))
	if err != nil {
		return &DeliveryError{ID: d.ID, Event: d.Event, Err: err}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/ghsim")
	h.Set("X-GitHub-Event", d.Event)
	h.Set("X-GitHub-Delivery", d.ID)
	h.Set("X-GitHub-Hook-ID", "1")
	h.Set("X-GitHub-Hook-Installation-Target-Type", "integration")
	h.Set("X-GitHub-Hook-Installation-Target-ID", itoa(s.opts.AppID))
	h.Set("X-Hub-Signature", "sha1="+sign(sha1.New, s.opts.WebhookSecret, d.Payload))
	h.Set("X-Hub-Signature-256", "sha256="+sign(sha256.New, s.opts.WebhookSecret, d.Payload))

	a := Attempt{Time: s.now(), Redelivery: redelivery}
	resp, err := s.hook.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		a.StatusCode = resp.StatusCode
	} else {
		a.Err = err.Error()
	}
	ok := err == nil && resp.StatusCode/100 == 2

	s.mu.Lock()
	d.Attempts = append(d.Attempts, a)
	d.State = DeliveryDelivered
	if !ok {
		d.State = DeliveryFailed
	}
	s.mu.Unlock()
	s.log.Debug("sent webhook", zap.String("delivery", d.ID), zap.String("event", d.Event),
		zap.String("action", d.Action), zap.Int("status", a.StatusCode), zap.Bool("redelivery", redelivery))
	if !ok {
		return &DeliveryError{ID: d.ID, Event: d.Event, StatusCode: a.StatusCode, Err: err}
	}
	return nil
}

func sign(h func() hash.Hash, secret string, body []byte) string {
	m := hmac.New(h, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Deliver sends deliveries in the given order: pending ones (held) for
// out-of-order delivery, any other as a redelivery with the same ID and
// payload. It stops at the first unknown ID and returns delivery errors
// joined.
func (s *Sim) Deliver(ctx context.Context, ids ...string) error {
	var errs []error
	for _, id := range ids {
		s.mu.Lock()
		i := slices.IndexFunc(s.webhooks.deliveries, func(d *Delivery) bool { return d.ID == id })
		var d *Delivery
		var redelivery bool
		if i >= 0 {
			d = s.webhooks.deliveries[i]
			redelivery = d.State != DeliveryPending
		}
		s.mu.Unlock()
		if d == nil {
			return fmt.Errorf("ghsim: no delivery %q", id)
		}
		if err := s.send(ctx, d, redelivery); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Redeliver sends a delivery again with the same ID and payload.
func (s *Sim) Redeliver(ctx context.Context, id string) error { return s.Deliver(ctx, id) }

// DeliverPending sends every pending delivery in creation order, or in
// reverse when reverse is true (out-of-order arrival).
func (s *Sim) DeliverPending(ctx context.Context, reverse bool) error {
	var ids []string
	for _, d := range s.Deliveries() {
		if d.State == DeliveryPending {
			ids = append(ids, d.ID)
		}
	}
	if reverse {
		slices.Reverse(ids)
	}
	return s.Deliver(ctx, ids...)
}

// Deliveries returns every delivery, oldest first.
func (s *Sim) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, 0, len(s.webhooks.deliveries))
	for _, d := range s.webhooks.deliveries {
		out = append(out, d.snapshot())
	}
	return out
}

func (d *Delivery) snapshot() Delivery {
	c := *d
	c.Attempts = slices.Clone(d.Attempts)
	return c
}

// newUUID makes a random (version 4) UUID like GitHub's delivery GUIDs.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
