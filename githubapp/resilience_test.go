package githubapp

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const prPath = "/repos/o/r/pulls/7"

// script answers successive requests with successive responders; the last
// one repeats.
type script struct {
	mu    sync.Mutex
	steps []http.HandlerFunc
	n     int
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	step := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	s.mu.Unlock()
	step(w, r)
}

func (s *script) set(steps ...http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps, s.n = steps, 0
}

func okPR(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, http.StatusOK, &github.PullRequest{Number: github.Int(7)})
	}
}

func status(t *testing.T, code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, code, map[string]string{"message": http.StatusText(code)})
	}
}

// truncated cuts the connection in the middle of the body: a network
// error the HTTP transport cannot retry on its own.
func truncated(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		assert.NilError(t, err)
		_, err = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"num")
		assert.NilError(t, err)
		assert.NilError(t, buf.Flush())
		conn.Close()
	}
}

func (f *fixture) getPR() error {
	_, err := f.adapter(1).GetPullRequest(f.t.Context(), "o", "r", 7)
	return err
}

func TestRetries(t *testing.T) {
	tests := map[string]struct {
		steps     func(t *testing.T) []http.HandlerFunc
		wantErr   bool
		wantCalls int
		wantSleep int
	}{
		"5xx burst then success": {
			steps: func(t *testing.T) []http.HandlerFunc {
				return []http.HandlerFunc{status(t, 502), status(t, 503), okPR(t)}
			},
			wantCalls: 3, wantSleep: 2,
		},
		"connection cut then success": {
			steps:     func(t *testing.T) []http.HandlerFunc { return []http.HandlerFunc{truncated(t), okPR(t)} },
			wantCalls: 2, wantSleep: 1,
		},
		"bounded attempts": {
			steps:     func(t *testing.T) []http.HandlerFunc { return []http.HandlerFunc{status(t, 500)} },
			wantErr:   true,
			wantCalls: 4, wantSleep: 3,
		},
		"4xx is terminal": {
			steps:     func(t *testing.T) []http.HandlerFunc { return []http.HandlerFunc{status(t, 422)} },
			wantErr:   true,
			wantCalls: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := setup(t, withPolicy(Policy{BreakerThreshold: 100}))
			f.mux.Handle("GET "+prPath, &script{steps: tc.steps(t)})

			err := f.getPR()
			if tc.wantErr {
				assert.Assert(t, err != nil)
				_, ok := RetryAfter(err)
				assert.Assert(t, !ok, "plain failures carry no retry time")
			} else {
				assert.NilError(t, err)
			}
			assert.Equal(t, f.count("GET "+prPath), tc.wantCalls)
			sleeps := f.clock.Sleeps()
			assert.Assert(t, is.Len(sleeps, tc.wantSleep))
			for i, d := range sleeps {
				full := 500 * time.Millisecond << i
				assert.Assert(t, d >= full/2 && d <= full, "backoff %d = %s, want within [%s, %s]", i, d, full/2, full)
			}
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	f.mux.HandleFunc("GET "+prPath, func(w http.ResponseWriter, r *http.Request) {
		cancel() // the controller shuts down while GitHub fails
		status(t, 502)(w, r)
	})
	_, err := f.adapter(1).GetPullRequest(ctx, "o", "r", 7)
	assert.Assert(t, errors.Is(err, context.Canceled), "got %v", err)
	assert.Equal(t, f.count("GET "+prPath), 1)
}

func TestPrimaryRateLimit(t *testing.T) {
	tests := map[string]struct {
		// answer is the response that reveals the exhausted budget.
		answer  func(t *testing.T, f *fixture, reset time.Time) http.HandlerFunc
		wantErr bool
	}{
		"403 with remaining 0": {
			answer: func(t *testing.T, f *fixture, reset time.Time) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					rateHeaders(w, 0, reset)
					writeJSON(t, w, http.StatusForbidden, map[string]string{
						"message":           "API rate limit exceeded for installation ID 1.",
						"documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
					})
				}
			},
			wantErr: true,
		},
		"success that spends the last request": {
			answer: func(t *testing.T, f *fixture, reset time.Time) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					rateHeaders(w, 0, reset)
					okPR(t)(w, r)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := setup(t)
			reset := epoch.Add(10 * time.Minute)
			s := &script{}
			s.set(tc.answer(t, f, reset))
			f.mux.Handle("GET "+prPath, s)

			err := f.getPR()
			if tc.wantErr {
				var rl *RateLimitedError
				assert.Assert(t, errors.As(err, &rl), "got %v", err)
				assert.Assert(t, rl.Until.Equal(reset), "until %s, want %s", rl.Until, reset)
				assert.Assert(t, !rl.Secondary)
				var gh *github.RateLimitError
				assert.Assert(t, errors.As(err, &gh), "the GitHub error stays reachable")
			} else {
				assert.NilError(t, err)
			}
			assert.Equal(t, testutil.ToFloat64(f.clients.metrics.rateRemaining.WithLabelValues("1")), 0.0)

			// Before the reset nothing goes out, and the caller learns when to come back.
			f.clock.Advance(4 * time.Minute)
			err = f.getPR()
			d, ok := RetryAfter(err)
			assert.Assert(t, ok, "got %v", err)
			assert.Equal(t, d, 6*time.Minute)
			assert.Assert(t, IsRetryable(err))
			assert.Equal(t, f.count("GET "+prPath), 1)

			// Other installations have their own budget.
			_, err = f.adapter(2).GetPullRequest(t.Context(), "o", "r", 7)
			assert.Assert(t, err == nil || tc.wantErr)
			assert.Equal(t, f.count("GET "+prPath), 2)

			// After the reset calls flow again.
			f.clock.Set(reset.Add(time.Second))
			s.set(okPR(t))
			assert.NilError(t, f.getPR())
			assert.Equal(t, f.count("GET "+prPath), 3)
		})
	}
}

func TestSecondaryRateLimit(t *testing.T) {
	tests := map[string]struct {
		code       int
		retryAfter string
		wantWait   time.Duration
		// recovers is false for 403s: go-github then keeps its own
		// wall-clock copy of Retry-After, which a fake clock cannot pass.
		recovers bool
	}{
		"429 with Retry-After":                   {code: 429, retryAfter: "30", wantWait: 30 * time.Second, recovers: true},
		"429 without Retry-After waits a minute": {code: 429, wantWait: time.Minute, recovers: true},
		"403 secondary with Retry-After":         {code: 403, retryAfter: "45", wantWait: 45 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := setup(t)
			s := &script{}
			s.set(func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				rateHeaders(w, 4000, epoch.Add(time.Hour))
				writeJSON(t, w, tc.code, map[string]string{
					"message":           "You have exceeded a secondary rate limit.",
					"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
				})
			})
			f.mux.Handle("GET "+prPath, s)

			err := f.getPR()
			var rl *RateLimitedError
			assert.Assert(t, errors.As(err, &rl), "got %v", err)
			assert.Assert(t, rl.Secondary)
			d, ok := RetryAfter(err)
			assert.Assert(t, ok)
			assert.Equal(t, d, tc.wantWait)
			assert.Assert(t, is.Len(f.clock.Sleeps(), 0), "a rate limit is not retried in place")

			f.clock.Advance(tc.wantWait - time.Second)
			err = f.getPR()
			assert.Assert(t, errors.As(err, &rl), "got %v", err)
			assert.Equal(t, rl.Wait, time.Second)
			assert.Equal(t, f.count("GET "+prPath), 1, "no call before Retry-After")

			if !tc.recovers {
				return
			}
			f.clock.Advance(time.Second)
			s.set(okPR(t))
			assert.NilError(t, f.getPR())
			assert.Equal(t, f.count("GET "+prPath), 2)
		})
	}
}

func TestCircuitBreaker(t *testing.T) {
	tests := map[string]struct {
		probe     func(t *testing.T) http.HandlerFunc
		wantState breakerState
	}{
		"probe succeeds and closes": {probe: okPR, wantState: breakerClosed},
		"probe fails and reopens": {
			probe:     func(t *testing.T) http.HandlerFunc { return status(t, 500) },
			wantState: breakerOpen,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := setup(t, withPolicy(Policy{MaxAttempts: 2, BreakerThreshold: 3, BreakerCooldown: 30 * time.Second}))
			s := &script{}
			s.set(status(t, 503))
			f.mux.Handle("GET "+prPath, s)
			state := func() breakerState {
				return breakerState(testutil.ToFloat64(f.clients.metrics.breaker.WithLabelValues("1")))
			}

			// Two attempts fail; the breaker is still closed.
			err := f.getPR()
			assert.Assert(t, !errors.Is(err, ErrCircuitOpen), "got %v", err)
			assert.Equal(t, state(), breakerClosed)

			// The third consecutive failure opens it.
			err = f.getPR()
			assert.Assert(t, errors.Is(err, ErrCircuitOpen), "got %v", err)
			assert.Equal(t, statusOf(err), 503, "the failure that opened it stays reachable")
			assert.Equal(t, state(), breakerOpen)
			assert.Equal(t, f.count("GET "+prPath), 3)

			// While open: no HTTP, and a retry time.
			f.clock.Advance(10 * time.Second)
			err = f.getPR()
			var co *CircuitOpenError
			assert.Assert(t, errors.As(err, &co), "got %v", err)
			d, ok := RetryAfter(err)
			assert.Assert(t, ok)
			assert.Equal(t, d, 20*time.Second)
			assert.Equal(t, f.count("GET "+prPath), 3)
			assert.Equal(t, testutil.ToFloat64(f.clients.metrics.refused.WithLabelValues("circuit_open")), 1.0)

			// Other installations are unaffected.
			s.set(okPR(t))
			_, err = f.adapter(2).GetPullRequest(t.Context(), "o", "r", 7)
			assert.NilError(t, err)

			// After the cool-down one probe goes out.
			f.clock.Advance(20 * time.Second)
			s.set(tc.probe(t))
			err = f.getPR()
			assert.Equal(t, f.count("GET "+prPath), 5, "exactly one probe")
			assert.Equal(t, state(), tc.wantState)
			if tc.wantState == breakerClosed {
				assert.NilError(t, err)
				return
			}
			assert.Assert(t, errors.Is(err, ErrCircuitOpen), "got %v", err)
			d, _ = RetryAfter(err)
			assert.Equal(t, d, 30*time.Second, "a failed probe starts a new cool-down")
		})
	}
}

func TestBreakerHalfOpenAdmitsOneProbe(t *testing.T) {
	b := breaker{threshold: 1, cooldown: time.Minute}
	now := epoch
	assert.Assert(t, b.failure(now))
	_, _, ok := b.allow(now.Add(59 * time.Second))
	assert.Assert(t, !ok)

	probe, _, ok := b.allow(now.Add(time.Minute))
	assert.Assert(t, ok && probe)
	_, until, ok := b.allow(now.Add(time.Minute))
	assert.Assert(t, !ok, "a second caller waits for the probe")
	assert.Equal(t, until, now.Add(time.Minute+halfOpenWait))

	b.abandon(true) // the probe's caller gave up
	probe, _, ok = b.allow(now.Add(time.Minute))
	assert.Assert(t, ok && probe, "the next caller probes instead")
	b.success()
	assert.Equal(t, b.state, breakerClosed)
}

func TestBackoffIsBounded(t *testing.T) {
	p := Policy{}.withDefaults()
	for attempt := 1; attempt < 80; attempt++ {
		d := backoff(p, attempt)
		assert.Assert(t, d > 0 && d <= p.MaxBackoff, "attempt %d: %s", attempt, d)
	}
	assert.Assert(t, backoff(p, 70) >= p.MaxBackoff/2, "overflow must cap, not wrap")
}

func TestRateRemainingGauge(t *testing.T) {
	f := setup(t)
	f.mux.HandleFunc("GET "+prPath, func(w http.ResponseWriter, r *http.Request) {
		rateHeaders(w, 4321, epoch.Add(time.Hour))
		okPR(t)(w, r)
	})
	assert.NilError(t, f.getPR())
	assert.Equal(t, testutil.ToFloat64(f.clients.metrics.rateRemaining.WithLabelValues(strconv.Itoa(1))), 4321.0)
}
