package githubapp

import "time"

// breakerState values are also the values of the breaker gauge.
type breakerState int

const (
	breakerClosed   breakerState = 0
	breakerHalfOpen breakerState = 1
	breakerOpen     breakerState = 2
)

func (s breakerState) String() string {
	switch s {
	case breakerHalfOpen:
		return "half-open"
	case breakerOpen:
		return "open"
	default:
		return "closed"
	}
}

// halfOpenWait is how long callers are told to wait while the single
// half-open probe is in flight: short, since the probe settles it soon.
const halfOpenWait = time.Second

// breaker is a consecutive-failure circuit breaker. It is not safe for
// concurrent use; the guard holds the lock.
type breaker struct {
	threshold int
	cooldown  time.Duration

	state    breakerState
	failures int
	until    time.Time // end of the open period
	probing  bool      // a half-open probe is in flight
}

// allow reports whether a call may go out now. When the open period is over
// it lets exactly one probe through (probe true); other callers wait.
func (b *breaker) allow(now time.Time) (probe bool, until time.Time, ok bool) {
	switch b.state {
	case breakerOpen:
		if now.Before(b.until) {
			return false, b.until, false
		}
		b.state, b.probing = breakerHalfOpen, true
		return true, time.Time{}, true
	case breakerHalfOpen:
		if b.probing {
			return false, now.Add(halfOpenWait), false
		}
		b.probing = true
		return true, time.Time{}, true
	default:
		return false, time.Time{}, true
	}
}

// success closes the breaker: GitHub answered (even a 4xx is an answer).
func (b *breaker) success() {
	b.state, b.failures, b.probing = breakerClosed, 0, false
}

// failure counts a 5xx/network failure and reports whether it opened the
// breaker. A failed probe reopens it at once.
func (b *breaker) failure(now time.Time) (opened bool) {
	b.failures++
	if b.state == breakerHalfOpen || b.failures >= b.threshold {
		b.state, b.until, b.probing = breakerOpen, now.Add(b.cooldown), false
		return true
	}
	return false
}

// abandon frees the probe slot when the probe ended without a verdict
// (caller cancelled), so the next caller probes instead.
func (b *breaker) abandon(probe bool) {
	if probe && b.state == breakerHalfOpen {
		b.probing = false
	}
}
