package githubapp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
)

type kind int

const (
	kindOK          kind = iota
	kindTerminal         // GitHub answered; retrying the same request cannot help
	kindRetryable        // 5xx or network: retry with backoff, count for the breaker
	kindRateLimited      // stop calling this installation until verdict.until
	kindCanceled         // the caller's context ended
)

type verdict struct {
	kind      kind
	until     time.Time // for kindRateLimited
	secondary bool
}

// classify sorts an error from a go-github call by its type, never by its
// text. now anchors relative waits (Retry-After) on the injected clock.
func classify(err error, now time.Time, p Policy) verdict {
	if err == nil {
		return verdict{kind: kindOK}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// A per-request timeout surfaces as a *url.Error that also matches
		// DeadlineExceeded; the caller tells them apart by its own ctx.
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return verdict{kind: kindRetryable}
		}
		return verdict{kind: kindCanceled}
	}

	var rle *github.RateLimitError
	if errors.As(err, &rle) {
		until := rle.Rate.Reset.Time
		if min := now.Add(time.Second); until.Before(min) {
			// Reset already passed by our clock (skew): wait a moment
			// rather than hammering.
			until = min
		}
		return verdict{kind: kindRateLimited, until: until}
	}
	var are *github.AbuseRateLimitError
	if errors.As(err, &are) {
		wait := p.SecondaryWait
		if are.RetryAfter != nil && *are.RetryAfter > 0 {
			wait = *are.RetryAfter
		}
		return verdict{kind: kindRateLimited, until: now.Add(wait), secondary: true}
	}
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return classifyStatus(er.Response, now, p)
	}
	// ghinstallation reports a failed token exchange with the response.
	var he *ghinstallation.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		return classifyStatus(he.Response, now, p)
	}
	var ue *url.Error
	var ne net.Error
	// A connection cut mid-body surfaces from the JSON decoder, not as a
	// *url.Error.
	if errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) {
		return verdict{kind: kindRetryable}
	}
	return verdict{kind: kindTerminal}
}

// classifyStatus handles answers go-github does not type: go-github v62
// turns only 403s into rate-limit errors, so a 429 arrives as a plain
// *ErrorResponse.
func classifyStatus(r *http.Response, now time.Time, p Policy) verdict {
	switch {
	case r.StatusCode == http.StatusTooManyRequests:
		return verdict{kind: kindRateLimited, until: retryAt(r.Header, now, p), secondary: true}
	case r.StatusCode == http.StatusForbidden && r.Header.Get("X-RateLimit-Remaining") == "0":
		return verdict{kind: kindRateLimited, until: retryAt(r.Header, now, p)}
	case r.StatusCode >= 500:
		return verdict{kind: kindRetryable}
	default:
		return verdict{kind: kindTerminal}
	}
}

// retryAt follows GitHub's advice: Retry-After (seconds) if present, else
// X-RateLimit-Reset when the budget is spent, else at least a minute.
func retryAt(h http.Header, now time.Time, p Policy) time.Time {
	if s, err := strconv.ParseInt(h.Get("Retry-After"), 10, 64); err == nil && s > 0 {
		return now.Add(time.Duration(s) * time.Second)
	}
	if s, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && s > 0 && h.Get("X-RateLimit-Remaining") == "0" {
		if t := time.Unix(s, 0); t.After(now) {
			return t
		}
	}
	return now.Add(p.SecondaryWait)
}
