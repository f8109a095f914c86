package ghsim

import (
	"net/http"
	"strconv"
	"time"
)

// bucket is one rate-limit window: per installation, one for the App JWT,
// one for unauthenticated callers.
type bucket struct {
	limit     int
	remaining int
	reset     time.Time
}

// refresh starts a new hourly window when the old one is over.
func (b *bucket) refresh(now time.Time, limit int) {
	if b.reset.IsZero() || !now.Before(b.reset) {
		b.limit, b.remaining = limit, limit
		b.reset = now.Add(time.Hour).Truncate(time.Second)
	}
}

func (b *bucket) spend() {
	if b.remaining > 0 {
		b.remaining--
	}
}

func setRateHeaders(w http.ResponseWriter, b *bucket) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(b.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(b.remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(b.limit-b.remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(b.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

func (s *Sim) bucketLocked(id identity) *bucket {
	switch id.kind {
	case "installation":
		return &id.tok.inst.rate
	case "user":
		return id.tok.rate
	case "app":
		return &s.faults.appRate
	default:
		return &s.faults.anonRate
	}
}

func (s *Sim) limitFor(id identity) int {
	if id.kind == "none" {
		return 60 // GitHub's unauthenticated budget
	}
	return s.opts.RateLimit
}

// RateLimit reports an installation's current window (0 is the App JWT's).
func (s *Sim) RateLimit(installationID int64) (limit, remaining int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &s.faults.appRate
	if installationID != 0 {
		inst := s.installations[installationID]
		if inst == nil {
			return 0, 0, time.Time{}
		}
		b = &inst.rate
	}
	b.refresh(s.now(), s.opts.RateLimit)
	return b.limit, b.remaining, b.reset
}
