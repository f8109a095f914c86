package ghsim

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// faults are the switches tests flip to see how clients cope. Timed faults
// run on the simulator clock; latency is wall time.
type faults struct {
	failNext       int
	failNextStatus int
	failUntil      time.Time
	failStatus     int
	secondaryUntil time.Time
	secondaryCode  int
	latency        time.Duration
	dropWebhooks   int

	appRate, anonRate bucket
}

type fault struct {
	name    string
	respond func(w http.ResponseWriter, now time.Time)
}

// pick returns the fault that answers the current request, if any.
func (f *faults) pick(now time.Time) *fault {
	switch {
	case f.failNext > 0:
		f.failNext--
		return serverError(f.failNextStatus)
	case now.Before(f.failUntil):
		return serverError(f.failStatus)
	case now.Before(f.secondaryUntil):
		until, code := f.secondaryUntil, f.secondaryCode
		return &fault{name: "secondary_rate_limit", respond: func(w http.ResponseWriter, now time.Time) {
			secs := int(math.Ceil(until.Sub(now).Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			writeJSON(w, code, errorBody{
				Message:          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
				DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
			})
		}}
	}
	return nil
}

func serverError(code int) *fault {
	return &fault{name: "server_error", respond: func(w http.ResponseWriter, _ time.Time) {
		writeError(w, code, http.StatusText(code))
	}}
}

// FailNext makes the next n API calls (token exchanges included) answer
// status, e.g. 502.
func (s *Sim) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failNext, s.faults.failNextStatus = n, status
	s.log.Info("fault set", zap.String("fault", "fail_next"), zap.Int("calls", n), zap.Int("status", status))
}

// FailFor makes every API call answer status for d of simulator time.
func (s *Sim) FailFor(d time.Duration, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failUntil, s.faults.failStatus = s.now().Add(d), status
	s.log.Info("fault set", zap.String("fault", "fail_for"), zap.Duration("for", d), zap.Int("status", status))
}

// ExhaustRateLimit spends an installation's hourly budget (0: the App
// JWT's) until reset: calls answer 403 with X-RateLimit-Remaining 0 and
// this X-RateLimit-Reset, then a fresh window starts.
func (s *Sim) ExhaustRateLimit(installationID int64, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &s.faults.appRate
	if installationID != 0 {
		inst := s.installations[installationID]
		if inst == nil {
			s.log.Warn("no such installation to rate-limit", zap.Int64("installation", installationID))
			return
		}
		b = &inst.rate
	}
	b.limit, b.remaining, b.reset = s.opts.RateLimit, 0, reset
	s.log.Info("fault set", zap.String("fault", "primary_rate_limit"), zap.Int64("installation", installationID), zap.Time("reset", reset))
}

// SecondaryRateLimit answers every API call for d with status (403 or
// 429), a secondary-rate-limit body and Retry-After (seconds left).
func (s *Sim) SecondaryRateLimit(status int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.secondaryUntil, s.faults.secondaryCode = s.now().Add(d), status
	s.log.Info("fault set", zap.String("fault", "secondary_rate_limit"), zap.Duration("for", d), zap.Int("status", status))
}

// SetLatency delays every API answer by d (wall time); 0 turns it off.
func (s *Sim) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.latency = d
}

func (s *Sim) latency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.latency
}

// DropWebhooks drops the next n deliveries: the state changes, no POST is
// sent (the delivery is recorded as dropped and can be redelivered).
func (s *Sim) DropWebhooks(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.dropWebhooks = n
}

// ClearFaults turns every switch off. Exhausted budgets stay spent until
// their reset, as on GitHub.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failNext, s.faults.failUntil, s.faults.secondaryUntil = 0, time.Time{}, time.Time{}
	s.faults.latency, s.faults.dropWebhooks = 0, 0
}
