package githubapp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
	"go.uber.org/zap"
)

// guard owns the resilience state of one installation: the time before
// which GitHub told us to stop (rate limit) and the circuit breaker. Every
// Adapter call for the installation goes through do.
type guard struct {
	installationID int64
	label          string // installation label for metrics
	clock          Clock
	policy         Policy
	log            *zap.Logger
	metrics        *Metrics

	mu           sync.Mutex
	limitedUntil time.Time
	secondary    bool
	br           breaker
	pace         *pacer
}

func newGuard(id int64, clock Clock, p Policy, log *zap.Logger, m *Metrics) *guard {
	g := &guard{
		installationID: id,
		label:          strconv.FormatInt(id, 10),
		clock:          clock,
		policy:         p,
		log:            log.With(zap.Int64("installation", id)),
		metrics:        m,
		br:             breaker{threshold: p.BreakerThreshold, cooldown: p.BreakerCooldown},
		pace:           newPacer(p),
	}
	m.setBreaker(g.label, breakerClosed)
	return g
}

// do runs one GitHub operation with admission checks, retries and
// classification. fn must issue exactly one request per invocation.
func (g *guard) do(ctx context.Context, op string, fn func(context.Context) (*github.Response, error)) error {
	return g.write(ctx, op, classRead, fn)
}

// write is do for a request that counts against a write class (see pacer): every attempt is
// paced.
func (g *guard) write(ctx context.Context, op string, class writeClass, fn func(context.Context) (*github.Response, error)) error {
	for attempt := 1; ; attempt++ {
		probe, err := g.admit(class, isBestEffort(ctx))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		resp, err := fn(ctx)
		closeTokenResponse(err)
		g.observeRate(resp)
		now := g.clock.Now()
		v := classify(err, now, g.policy)
		if ctx.Err() != nil && v.kind != kindOK {
			v.kind = kindCanceled // our caller gave up; not GitHub's fault
		}
		switch v.kind {
		case kindOK, kindTerminal:
			g.settle(func() { g.br.success() })
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			return nil
		case kindCanceled:
			g.settle(func() { g.br.abandon(probe) })
			if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
				// The answer raced the cancellation; say both.
				return fmt.Errorf("%s: %w: %w", op, cerr, err)
			}
			return fmt.Errorf("%s: %w", op, err)
		case kindRateLimited:
			// GitHub is healthy, only throttling us: a success for the breaker.
			g.settle(func() { g.br.success() })
			return fmt.Errorf("%s: %w", op, g.limit(v, now, err))
		}

		// kindRetryable
		g.metrics.retries.WithLabelValues(op).Inc()
		if co := g.fail(now, err); co != nil {
			return fmt.Errorf("%s: %w", op, co)
		}
		if attempt >= g.policy.MaxAttempts {
			return fmt.Errorf("%s: giving up after %d attempts: %w", op, attempt, err)
		}
		d := backoff(g.policy, attempt)
		g.log.Debug("retrying github call", zap.String("op", op), zap.Int("attempt", attempt),
			zap.Duration("backoff", d), zap.Error(err))
		if err := g.clock.Sleep(ctx, d); err != nil {
			return fmt.Errorf("%s: waiting to retry: %w", op, err)
		}
	}
}

// admit refuses a call locally while rate-limited or while the breaker is
// open; no HTTP request is made then.
func (g *guard) admit(class writeClass, bestEffort bool) (probe bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	if now.Before(g.limitedUntil) {
		g.metrics.refused.WithLabelValues("rate_limited").Inc()
		return false, &RateLimitedError{InstallationID: g.installationID, Until: g.limitedUntil,
			Wait: g.limitedUntil.Sub(now), Secondary: g.secondary}
	}
	if g.br.state == breakerOpen && now.Before(g.br.until) {
		g.metrics.refused.WithLabelValues("circuit_open").Inc()
		return false, &CircuitOpenError{InstallationID: g.installationID, Until: g.br.until, Wait: g.br.until.Sub(now)}
	}
	if wait, ok := g.pace.admit(class, now, bestEffort); !ok {
		reason := "paced"
		if bestEffort {
			reason = "deferred"
		}
		g.metrics.refused.WithLabelValues(reason).Inc()
		return false, &PacedError{InstallationID: g.installationID, Wait: wait, BestEffort: bestEffort}
	}
	probe, until, ok := g.br.allow(now)
	g.metrics.setBreaker(g.label, g.br.state)
	if !ok {
		g.metrics.refused.WithLabelValues("circuit_open").Inc()
		return false, &CircuitOpenError{InstallationID: g.installationID, Until: until, Wait: until.Sub(now)}
	}
	return probe, nil
}

func (g *guard) settle(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	before := g.br.state
	f()
	g.metrics.setBreaker(g.label, g.br.state)
	if before != g.br.state {
		g.log.Info("github circuit breaker changed", zap.Stringer("from", before), zap.Stringer("to", g.br.state))
	}
}

// fail records a retryable failure; it returns the error to give the
// caller when this failure opened the breaker.
func (g *guard) fail(now time.Time, err error) *CircuitOpenError {
	g.mu.Lock()
	defer g.mu.Unlock()
	opened := g.br.failure(now)
	g.metrics.setBreaker(g.label, g.br.state)
	if !opened {
		return nil
	}
	g.log.Warn("github circuit breaker opened", zap.Time("until", g.br.until),
		zap.Int("failures", g.br.failures), zap.Error(err))
	return &CircuitOpenError{InstallationID: g.installationID, Until: g.br.until, Wait: g.br.until.Sub(now), Err: err}
}

// limit remembers a rate limit so that later calls are refused locally.
func (g *guard) limit(v verdict, now time.Time, err error) *RateLimitedError {
	g.mu.Lock()
	defer g.mu.Unlock()
	if v.until.After(g.limitedUntil) {
		g.limitedUntil, g.secondary = v.until, v.secondary
	}
	g.log.Warn("github rate limited", zap.Bool("secondary", v.secondary), zap.Time("until", v.until))
	return &RateLimitedError{InstallationID: g.installationID, Until: v.until, Wait: v.until.Sub(now),
		Secondary: v.secondary, Err: err}
}

// observeRate exports the remaining budget and, when a successful answer
// says the budget is spent, refuses further calls until the reset instead
// of spending one more call to learn it.
func (g *guard) observeRate(resp *github.Response) {
	if resp == nil || resp.Rate.Limit == 0 {
		return
	}
	g.metrics.rateRemaining.WithLabelValues(g.label).Set(float64(resp.Rate.Remaining))
	if resp.Rate.Remaining > 0 || resp.Rate.Reset.IsZero() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if reset := resp.Rate.Reset.Time; reset.After(g.limitedUntil) {
		g.limitedUntil, g.secondary = reset, false
	}
}

// backoff is exponential with "equal jitter": half fixed, half random, so
// concurrent callers spread out but never retry at once.
func backoff(p Policy, attempt int) time.Duration {
	d := p.BaseBackoff << (attempt - 1)
	if d <= 0 || d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	half := d / 2
	return half + rand.N(half+1)
}

// closeTokenResponse closes the body of a failed token exchange, which
// ghinstallation hands back unread and open; left open it pins a
// connection.
func closeTokenResponse(err error) {
	var he *ghinstallation.HTTPError
	if errors.As(err, &he) && he.Response != nil && he.Response.Body != nil {
		_ = he.Response.Body.Close() // nothing to do about a failed close
	}
}
