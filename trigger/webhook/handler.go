// Package webhook is the trigger's GitHub intake: it verifies a delivery's signature, reads the
// few fields the trigger acts on, and records the pull request's desired state before answering.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
	"go.uber.org/zap"

	"github.com/catalyst-preview/catalyst/trigger/record"
)

// MaxPayloadBytes is GitHub's own cap on webhook payloads; anything larger is not from GitHub.
const MaxPayloadBytes = 25 << 20

// Recorder persists an event durably; *Store is the production implementation.
type Recorder interface {
	Record(ctx context.Context, ev record.Event) (record.Outcome, error)
}

// Handler verifies, parses and records GitHub deliveries. It answers only after the
// desired state is stored in Kubernetes and starts no background work, so a restart right after
// a 202 loses nothing.
type Handler struct {
	secrets  func() [][]byte // current secrets; two while rotating
	recorder Recorder
	log      *zap.Logger
	metrics  *Metrics
	timeout  time.Duration
}

// NewHandler builds the handler. secrets is called per request so that a rotated secret
// file is picked up without a restart.
func NewHandler(secrets func() [][]byte, recorder Recorder, log *zap.Logger, metrics *Metrics) *Handler {
	return &Handler{secrets: secrets, recorder: recorder, log: log, metrics: metrics, timeout: 20 * time.Second}
}

// webhookAnswer is the JSON body of every answer, so GitHub's delivery log shows what happened.
type webhookAnswer struct {
	Result    string `json:"result"`
	Reason    string `json:"reason,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Delivery  string `json:"delivery,omitempty"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	eventType := r.Header.Get(github.EventTypeHeader)
	delivery := r.Header.Get(github.DeliveryIDHeader)
	log := h.log.With(zap.String("delivery", delivery), zap.String("event", eventType))
	status, answer := h.handle(r, eventType, delivery, log)
	answer.Delivery = delivery
	h.metrics.observe(eventType, answer.Result, time.Since(start))
	if status >= 500 {
		log.Error("webhook failed", zap.Int("status", status), zap.String("reason", answer.Reason))
	} else if status >= 400 {
		log.Warn("webhook rejected", zap.Int("status", status), zap.String("reason", answer.Reason))
	}
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(answer)
}

func (h *Handler) handle(r *http.Request, eventType, delivery string, log *zap.Logger) (int, webhookAnswer) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, webhookAnswer{Result: "rejected", Reason: "method " + r.Method + " not allowed; GitHub delivers with POST"}
	}
	if r.ContentLength > MaxPayloadBytes {
		return http.StatusRequestEntityTooLarge, webhookAnswer{Result: "rejected", Reason: "payload larger than 25 MiB"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxPayloadBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return http.StatusRequestEntityTooLarge, webhookAnswer{Result: "rejected", Reason: "payload larger than 25 MiB"}
		}
		return http.StatusBadRequest, webhookAnswer{Result: "rejected", Reason: "reading body: " + err.Error()}
	}
	if err := verifySignature(r.Header.Get(github.SHA256SignatureHeader), body, h.secrets()); err != nil {
		return http.StatusUnauthorized, webhookAnswer{Result: "unauthorized", Reason: err.Error()}
	}
	if eventType == "" {
		return http.StatusBadRequest, webhookAnswer{Result: "rejected", Reason: "missing X-GitHub-Event header"}
	}
	if delivery == "" {
		return http.StatusBadRequest, webhookAnswer{Result: "rejected", Reason: "missing X-GitHub-Delivery header"}
	}
	payload, err := payloadJSON(r.Header.Get("Content-Type"), body)
	if err != nil {
		return http.StatusBadRequest, webhookAnswer{Result: "rejected", Reason: err.Error()}
	}
	if github.EventForType(eventType) == nil {
		return http.StatusAccepted, webhookAnswer{Result: "ignored", Reason: "event " + eventType + " is not handled"}
	}
	parsed, err := github.ParseWebHook(eventType, payload)
	if err != nil {
		return http.StatusBadRequest, webhookAnswer{Result: "rejected", Reason: "malformed " + eventType + " payload: " + err.Error()}
	}
	ev, err := eventFromPayload(eventType, delivery, parsed)
	var ign ignored
	if errors.As(err, &ign) {
		log.Debug("webhook ignored", zap.String("reason", ign.reason))
		return http.StatusAccepted, webhookAnswer{Result: "ignored", Reason: ign.reason}
	}
	if err != nil {
		return http.StatusBadRequest, webhookAnswer{Result: "rejected", Reason: err.Error()}
	}
	log = log.With(zap.String("repo", ev.Repo), zap.Int("pr", ev.Number), zap.String("action", string(ev.Action)))
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	out, err := h.recorder.Record(ctx, ev)
	if err != nil {
		// GitHub does not retry; a 503 shows in its delivery log so an operator can redeliver,
		// and the periodic resync repairs what was lost in the meantime.
		return http.StatusServiceUnavailable, webhookAnswer{Result: "error", Reason: "recording failed: " + err.Error()}
	}
	where := out.Namespace
	if where == "" {
		where = out.Pending
	}
	if !out.Changed {
		log.Info("webhook changed nothing", zap.String("namespace", where), zap.String("reason", out.Reason))
		return http.StatusAccepted, webhookAnswer{Result: "unchanged", Reason: out.Reason, Namespace: out.Namespace}
	}
	log.Info("webhook recorded", zap.String("namespace", where))
	return http.StatusAccepted, webhookAnswer{Result: "recorded", Namespace: out.Namespace}
}

var (
	errNoSignature  = errors.New("missing X-Hub-Signature-256 header")
	errBadSignature = errors.New("X-Hub-Signature-256 does not match any configured secret")
	errNoSecret     = errors.New("no webhook secret configured")
)

// verifySignature checks the HMAC-SHA256 of body against every configured secret in constant
// time per comparison; two secrets are allowed so a secret can be rotated without downtime.
func verifySignature(header string, body []byte, secrets [][]byte) error {
	if header == "" {
		return errNoSignature
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return fmt.Errorf("X-Hub-Signature-256 must start with sha256=: %w", errBadSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("X-Hub-Signature-256 is not a hex SHA-256: %w", errBadSignature)
	}
	if len(secrets) == 0 {
		return errNoSecret
	}
	match := false
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		// Compare with every secret even after a match so timing does not tell which one matched.
		if hmac.Equal(got, mac.Sum(nil)) {
			match = true
		}
	}
	if !match {
		return errBadSignature
	}
	return nil
}

// payloadJSON returns the JSON payload of a delivery sent as application/json or as a form.
func payloadJSON(contentType string, body []byte) ([]byte, error) {
	mediaType := "application/json"
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, fmt.Errorf("bad Content-Type %q: %w", contentType, err)
		}
		mediaType = mt
	}
	switch mediaType {
	case "application/json":
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("malformed form payload: %w", err)
		}
		body = []byte(form.Get("payload"))
	default:
		return nil, fmt.Errorf("unsupported Content-Type %q", contentType)
	}
	if !json.Valid(body) {
		return nil, errors.New("payload is not valid JSON")
	}
	return body, nil
}
