package githubapp

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-github/v62/github"
)

// ErrCircuitOpen is matched (errors.Is) by every *CircuitOpenError.
var ErrCircuitOpen = errors.New("github circuit breaker open")

// RateLimitedError says GitHub rate-limited this installation; no call for
// it is made before Until. Requeue the work after Wait.
type RateLimitedError struct {
	InstallationID int64
	Until          time.Time
	Wait           time.Duration // Until minus the time the error was made
	Secondary      bool          // secondary (abuse) limit rather than the hourly budget
	Err            error         // the GitHub error that set the limit, nil if refused locally
}

func (e *RateLimitedError) Error() string {
	kind := "primary"
	if e.Secondary {
		kind = "secondary"
	}
	msg := fmt.Sprintf("github %s rate limit for installation %d until %s (retry in %s)",
		kind, e.InstallationID, e.Until.UTC().Format(time.RFC3339), e.Wait.Round(time.Second))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *RateLimitedError) Unwrap() error { return e.Err }

// CircuitOpenError says the breaker of this installation is open after
// consecutive failures; no call is made before Until.
type CircuitOpenError struct {
	InstallationID int64
	Until          time.Time
	Wait           time.Duration
	Err            error // the failure that opened the breaker, nil if refused locally
}

func (e *CircuitOpenError) Error() string {
	msg := fmt.Sprintf("github circuit breaker open for installation %d until %s (retry in %s)",
		e.InstallationID, e.Until.UTC().Format(time.RFC3339), e.Wait.Round(time.Second))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *CircuitOpenError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCircuitOpen) true.
func (e *CircuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }

// RetryAfter tells a controller when to requeue: it is true for rate-limit
// and open-breaker errors, with the time left until calls are allowed again.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *RateLimitedError
	if errors.As(err, &rl) {
		return rl.Wait, true
	}
	var co *CircuitOpenError
	if errors.As(err, &co) {
		return co.Wait, true
	}
	var pe *PacedError
	if errors.As(err, &pe) {
		return pe.Wait, true
	}
	return 0, false
}

// IsRetryable is true when trying again later may succeed: rate limits, an
// open breaker, 5xx answers and network errors (after the adapter's own
// retries ran out). Everything else (4xx, decoding) is terminal.
func IsRetryable(err error) bool {
	if _, ok := RetryAfter(err); ok {
		return true
	}
	v := classify(err, time.Time{}, Policy{}.withDefaults())
	return v.kind == kindRetryable || v.kind == kindRateLimited
}

// IsNotFound is true when GitHub answered 404 (deleted comment, unknown PR).
func IsNotFound(err error) bool {
	return statusOf(err) == http.StatusNotFound
}

// StatusCode is the HTTP status GitHub answered a failed call with, 0 when it did not answer.
func StatusCode(err error) int { return statusOf(err) }

// statusOf returns the HTTP status of a go-github error response, or 0.
func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}
