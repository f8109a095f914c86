package ghsim

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"

	"github.com/catalyst-preview/catalyst/githubapp/fakeclock"
)

// faultFixture is a simulator on a fake clock plus a token, so that each
// client below is a fresh go-github client (go-github remembers rate
// limits per client, on the wall clock).
type faultFixture struct {
	t     *testing.T
	s     *Sim
	clock *fakeclock.Clock
	tok   string
}

func newFaultFixture(t *testing.T, o Options) *faultFixture {
	clock := fakeclock.New(time.Now())
	o.Clock = clock
	s, _ := newSim(t, o)
	return &faultFixture{t: t, s: s, clock: clock, tok: apiToken(t.Context(), s)}
}

func (f *faultFixture) list() (*github.Response, error) {
	gh := github.NewClient(nil).WithAuthToken(f.tok)
	gh.BaseURL = mustURL(f.s.URL() + "/")
	_, resp, err := gh.PullRequests.List(f.t.Context(), "acme", "shop", nil)
	return resp, err
}

func (f *faultFixture) lastFault() string {
	calls := f.s.Calls()
	return calls[len(calls)-1].Fault
}

func TestFailNext(t *testing.T) {
	f := newFaultFixture(t, Options{})
	f.s.FailNext(2, http.StatusBadGateway)
	for range 2 {
		_, err := f.list()
		assert.Equal(t, statusOf(err), http.StatusBadGateway)
		assert.Equal(t, f.lastFault(), "server_error")
	}
	_, err := f.list()
	assert.NilError(t, err)
}

func TestFailFor(t *testing.T) {
	f := newFaultFixture(t, Options{})
	f.s.FailFor(time.Minute, http.StatusServiceUnavailable)
	for range 3 {
		_, err := f.list()
		assert.Equal(t, statusOf(err), http.StatusServiceUnavailable)
	}
	f.clock.Advance(time.Minute)
	_, err := f.list()
	assert.NilError(t, err)
}

func TestExhaustRateLimit(t *testing.T) {
	f := newFaultFixture(t, Options{})
	reset := f.clock.Now().Add(10 * time.Minute).Truncate(time.Second)
	f.s.ExhaustRateLimit(f.s.InstallationID("acme"), reset)

	_, err := f.list()
	var rle *github.RateLimitError
	assert.Assert(t, errors.As(err, &rle), "got %v", err)
	assert.Equal(t, rle.Rate.Remaining, 0)
	assert.Assert(t, rle.Rate.Reset.Time.Equal(reset))
	assert.Equal(t, f.lastFault(), "primary_rate_limit")

	f.clock.Advance(10 * time.Minute)
	resp, err := f.list()
	assert.NilError(t, err)
	assert.Equal(t, resp.Rate.Remaining, resp.Rate.Limit-1, "a fresh window after the reset")
}

func TestBudgetRunsOut(t *testing.T) {
	f := newFaultFixture(t, Options{RateLimit: 2})
	for range 2 {
		_, err := f.list()
		assert.NilError(t, err)
	}
	_, err := f.list()
	var rle *github.RateLimitError
	assert.Assert(t, errors.As(err, &rle), "got %v", err)
}

func TestSecondaryRateLimit(t *testing.T) {
	tests := map[string]struct {
		status int
		check  func(t *testing.T, err error)
	}{
		"403 is go-github's AbuseRateLimitError": {
			status: http.StatusForbidden,
			check: func(t *testing.T, err error) {
				var are *github.AbuseRateLimitError
				assert.Assert(t, errors.As(err, &are), "got %v", err)
				assert.Equal(t, are.GetRetryAfter(), 45*time.Second)
			},
		},
		"429 carries Retry-After": {
			status: http.StatusTooManyRequests,
			check: func(t *testing.T, err error) {
				var er *github.ErrorResponse
				assert.Assert(t, errors.As(err, &er), "got %v", err)
				assert.Equal(t, er.Response.StatusCode, http.StatusTooManyRequests)
				assert.Equal(t, er.Response.Header.Get("Retry-After"), "45")
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFaultFixture(t, Options{})
			f.s.SecondaryRateLimit(tc.status, 45*time.Second)
			_, err := f.list()
			tc.check(t, err)
			assert.Equal(t, f.lastFault(), "secondary_rate_limit")

			f.clock.Advance(45 * time.Second)
			_, err = f.list()
			assert.NilError(t, err)
		})
	}
}

func TestLatency(t *testing.T) {
	f := newFaultFixture(t, Options{})
	const d = time.Second
	f.s.SetLatency(d)
	start := time.Now()
	_, err := f.list()
	assert.NilError(t, err)
	assert.Assert(t, time.Since(start) >= d, "answered after %s", time.Since(start))
	f.s.ClearFaults()
	start = time.Now()
	_, err = f.list()
	assert.NilError(t, err)
	assert.Assert(t, time.Since(start) < d, "latency cleared")
}

// The latency is each request's own, as GitHub's is: concurrent requests wait side by side, not
// one after another behind the simulator's lock (which would make concurrency look slow in the
// bench). Serialised, five requests would take at least 10 s.
func TestLatencyIsPerRequest(t *testing.T) {
	f := newFaultFixture(t, Options{})
	const d, n = 2 * time.Second, 5
	f.s.SetLatency(d)
	start := time.Now()
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := f.list()
			errs <- err
		}()
	}
	for range n {
		assert.NilError(t, <-errs)
	}
	elapsed := time.Since(start)
	assert.Assert(t, elapsed >= d, "answered after %s", elapsed)
	assert.Assert(t, elapsed < (n-1)*d, "%d concurrent requests took %s: the latency is serialised", n, elapsed)
}

// An observer sees every answered call once, with its route and status, after it was recorded.
func TestObserve(t *testing.T) {
	f := newFaultFixture(t, Options{})
	seen := make(chan Call, 10)
	f.s.Observe(func(c Call) { seen <- c })
	f.s.FailNext(1, http.StatusBadGateway)
	_, err := f.list()
	assert.Equal(t, statusOf(err), http.StatusBadGateway)
	_, err = f.list()
	assert.NilError(t, err)
	for _, want := range []int{http.StatusBadGateway, http.StatusOK} {
		c := <-seen
		assert.Equal(t, c.Route, RoutePulls)
		assert.Equal(t, c.Status, want)
	}
	assert.Equal(t, len(seen), 0, "each call once")
	assert.Equal(t, len(f.s.Calls()), 2+1, "the token exchange and the two calls are recorded")
}

func TestDropWebhooks(t *testing.T) {
	s, rcv := newSim(t, Options{})
	s.DropWebhooks(1)
	dropped, err := openPR(t.Context(), s)
	assert.NilError(t, err)
	assert.Equal(t, dropped.State, DeliveryDropped)
	assert.Equal(t, len(rcv.received()), 0)
	pr, err := s.PullRequest(testRepo, 1)
	assert.NilError(t, err)
	assert.Equal(t, pr.GetState(), "open", "state changed without a webhook")

	_, err = s.Push(t.Context(), testRepo, 1)
	assert.NilError(t, err)
	assert.Equal(t, len(rcv.received()), 1, "only the next delivery is dropped")

	assert.NilError(t, s.Redeliver(t.Context(), dropped.ID))
	assert.Equal(t, rcv.last().ID, dropped.ID)
}

func TestClearFaults(t *testing.T) {
	f := newFaultFixture(t, Options{})
	f.s.FailNext(5, http.StatusInternalServerError)
	f.s.SecondaryRateLimit(http.StatusTooManyRequests, time.Hour)
	f.s.ClearFaults()
	_, err := f.list()
	assert.NilError(t, err)
}
