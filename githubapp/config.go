package githubapp

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is the REST root of github.com.
const DefaultBaseURL = "https://api.github.com/"

// AppConfig configures App authentication.
type AppConfig struct {
	AppID         int64
	PrivateKeyPEM []byte
	// BaseURL is the REST root, exactly as requests are prefixed:
	// "https://api.github.com/", "https://ghe.example.com/api/v3/" or the
	// simulator's "http://127.0.0.1:PORT/". Empty means github.com.
	BaseURL string
	// Transport is the base transport shared by all installations so they
	// reuse connections. Nil means a clone of http.DefaultTransport.
	Transport http.RoundTripper
	Clock     Clock  // nil means RealClock
	Policy    Policy // zero fields take defaults
}

// TokenConfig configures the development mode: one static token, one
// pseudo-installation (ID 0) shared by every ForInstallation call.
type TokenConfig struct {
	Token     string
	BaseURL   string
	Transport http.RoundTripper
	Clock     Clock
	Policy    Policy
}

// Policy bounds retries and sets the breaker. Zero fields take defaults.
type Policy struct {
	MaxAttempts int           // attempts per call for 5xx/network errors; default 4
	BaseBackoff time.Duration // first backoff; default 500ms
	MaxBackoff  time.Duration // backoff cap; default 10s
	// BreakerThreshold consecutive failures (5xx/network, counted per
	// attempt) open the breaker; default 5.
	BreakerThreshold int
	BreakerCooldown  time.Duration // how long the breaker stays open; default 30s
	// SecondaryWait is the wait for a secondary rate limit that names no
	// Retry-After; GitHub documents "at least one minute". Default 60s.
	SecondaryWait  time.Duration
	RequestTimeout time.Duration // per HTTP request; default 30s
	// Writes are paced per installation under GitHub's secondary limits: comment writes at
	// most ContentPerMinute (default 80) and ContentPerHour (default 500), check run writes
	// at most WritesPerMinute (default 180: 900 points a minute, 5 per write). Negative: no
	// pacing of that kind.
	ContentPerMinute, ContentPerHour, WritesPerMinute int
}

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.BaseBackoff <= 0 {
		p.BaseBackoff = 500 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 10 * time.Second
	}
	if p.BreakerThreshold <= 0 {
		p.BreakerThreshold = 5
	}
	if p.BreakerCooldown <= 0 {
		p.BreakerCooldown = 30 * time.Second
	}
	if p.SecondaryWait <= 0 {
		p.SecondaryWait = time.Minute
	}
	if p.RequestTimeout <= 0 {
		p.RequestTimeout = 30 * time.Second
	}
	p.ContentPerMinute = orDefault(p.ContentPerMinute, 80)
	p.ContentPerHour = orDefault(p.ContentPerHour, 500)
	p.WritesPerMinute = orDefault(p.WritesPerMinute, 180)
	return p
}

// parseBaseURL accepts the REST root and normalises it to end in "/", the
// form go-github requires.
func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse base URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: want http(s)://host/[path/]", raw)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

func (c AppConfig) validate() error {
	var errs []error
	if c.AppID <= 0 {
		errs = append(errs, errors.New("AppID must be positive"))
	}
	if len(c.PrivateKeyPEM) == 0 {
		errs = append(errs, errors.New("PrivateKeyPEM is empty"))
	}
	return errors.Join(errs...)
}

func baseTransport(tr http.RoundTripper) http.RoundTripper {
	if tr != nil {
		return tr
	}
	return http.DefaultTransport.(*http.Transport).Clone()
}

func clockOrReal(c Clock) Clock {
	if c == nil {
		return RealClock{}
	}
	return c
}

// orDefault: 0 takes the default, a negative value lifts the limit.
func orDefault(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return int(^uint(0) >> 1)
	}
	return n
}
