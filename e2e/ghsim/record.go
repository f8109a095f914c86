package ghsim

import (
	"net/http"
	"time"
)

// Call is one API request as the simulator answered it.
type Call struct {
	Time           time.Time // simulator clock
	Method         string
	Path           string
	Query          string
	Route          string // a Route* template; "" for unknown paths
	Status         int
	InstallationID int64  // 0 for App JWT or unauthenticated calls
	Auth           string // "installation", "app", "user" or "none"
	Fault          string // "server_error", "secondary_rate_limit", "primary_rate_limit" or ""
}

// Write is true for calls that change GitHub state (not token exchanges).
func (c Call) Write() bool {
	return c.Method != http.MethodGet && c.Method != http.MethodHead && c.Route != RouteAccessTokens
}

func (s *Sim) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

// Calls returns every recorded call, oldest first.
func (s *Sim) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CountCalls counts calls by method ("" for any) and route template or
// literal path ("" for any).
func (s *Sim) CountCalls(method, route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if (method == "" || c.Method == method) && (route == "" || c.Route == route || c.Path == route) {
			n++
		}
	}
	return n
}

// WriteCalls counts calls that change state (POST/PATCH/PUT/DELETE other
// than token exchanges), answered or not.
func (s *Sim) WriteCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Write() {
			n++
		}
	}
	return n
}

// ResetCalls forgets the recorded calls, e.g. between test phases.
func (s *Sim) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}
