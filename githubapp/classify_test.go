package githubapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"
)

func TestClassify(t *testing.T) {
	now := epoch
	p := Policy{}.withDefaults()
	resp := func(code int, h ...string) *http.Response {
		r := &http.Response{StatusCode: code, Header: http.Header{}}
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	sec := func(d time.Duration) *time.Duration { return &d }
	tests := map[string]struct {
		err       error
		want      kind
		wantUntil time.Time
	}{
		"nil":      {err: nil, want: kindOK},
		"canceled": {err: fmt.Errorf("x: %w", context.Canceled), want: kindCanceled},
		"primary": {
			err:  &github.RateLimitError{Rate: github.Rate{Reset: github.Timestamp{Time: now.Add(time.Hour)}}},
			want: kindRateLimited, wantUntil: now.Add(time.Hour),
		},
		"primary reset in the past waits a moment": {
			err:  &github.RateLimitError{Rate: github.Rate{Reset: github.Timestamp{Time: now.Add(-time.Hour)}}},
			want: kindRateLimited, wantUntil: now.Add(time.Second),
		},
		"abuse with retry-after": {
			err:  fmt.Errorf("wrapped: %w", &github.AbuseRateLimitError{RetryAfter: sec(42 * time.Second)}),
			want: kindRateLimited, wantUntil: now.Add(42 * time.Second),
		},
		"abuse without retry-after": {
			err: &github.AbuseRateLimitError{}, want: kindRateLimited, wantUntil: now.Add(time.Minute),
		},
		"429 retry-after": {
			err:  &github.ErrorResponse{Response: resp(429, "Retry-After", "7")},
			want: kindRateLimited, wantUntil: now.Add(7 * time.Second),
		},
		"429 spent budget uses reset": {
			err: &github.ErrorResponse{Response: resp(429, "X-RateLimit-Remaining", "0",
				"X-RateLimit-Reset", fmt.Sprint(now.Add(5*time.Minute).Unix()))},
			want: kindRateLimited, wantUntil: now.Add(5 * time.Minute),
		},
		"500":           {err: &github.ErrorResponse{Response: resp(500)}, want: kindRetryable},
		"404":           {err: &github.ErrorResponse{Response: resp(404)}, want: kindTerminal},
		"422":           {err: &github.ErrorResponse{Response: resp(422)}, want: kindTerminal},
		"network":       {err: &url.Error{Op: "Get", URL: "x", Err: errors.New("connection refused")}, want: kindRetryable},
		"cut mid-body":  {err: io.ErrUnexpectedEOF, want: kindRetryable},
		"token 502":     {err: &url.Error{Err: fmt.Errorf("refresh: %w", &ghinstallation.HTTPError{Response: resp(502)})}, want: kindRetryable},
		"token 401":     {err: &url.Error{Err: fmt.Errorf("refresh: %w", &ghinstallation.HTTPError{Response: resp(401)})}, want: kindTerminal},
		"decode failed": {err: errors.New("invalid character"), want: kindTerminal},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := classify(tc.err, now, p)
			assert.Equal(t, v.kind, tc.want)
			if !tc.wantUntil.IsZero() {
				assert.Assert(t, v.until.Equal(tc.wantUntil), "until %s, want %s", v.until, tc.wantUntil)
			}
		})
	}
}

func TestRetryAfterAndIs(t *testing.T) {
	rl := fmt.Errorf("op: %w", &RateLimitedError{Wait: time.Minute})
	d, ok := RetryAfter(rl)
	assert.Assert(t, ok)
	assert.Equal(t, d, time.Minute)

	co := fmt.Errorf("op: %w", &CircuitOpenError{Wait: 5 * time.Second})
	assert.Assert(t, errors.Is(co, ErrCircuitOpen))
	d, ok = RetryAfter(co)
	assert.Assert(t, ok)
	assert.Equal(t, d, 5*time.Second)

	_, ok = RetryAfter(errors.New("boom"))
	assert.Assert(t, !ok)
	assert.Assert(t, IsNotFound(fmt.Errorf("x: %w", &github.ErrorResponse{Response: &http.Response{StatusCode: 404}})))
}
