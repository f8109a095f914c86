package ghsim

import (
	"net/http"
	"slices"
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
	s.calls = append(s.calls, c)
	observers := s.observers
	s.mu.Unlock()
	for _, f := range observers {
		f(c)
	}
}

// Observe calls f with every call once it is answered and recorded, on the request's goroutine
// and outside the simulator's lock: a bench can stamp what changed the moment it changed without
// polling the simulator (which would contend with the requests it measures). f must be quick
// and safe for concurrent use; it may call the simulator.
func (s *Sim) Observe(f func(Call)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observers = append(slices.Clip(s.observers), f) // a copy when grown: record reads it unlocked
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
