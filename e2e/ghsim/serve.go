package ghsim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// serve is the single entry point: latency, route, faults, auth, rate
// limit, handler, recording, in that order.
func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	call := Call{Time: s.now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	defer func() {
		call.Status = sw.status
		s.record(call)
	}()

	if d := s.latency(); d > 0 {
		// Real time, not the sim clock: latency is felt by the client.
		t := time.NewTimer(d)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}

	rt, params := s.match(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if rt == nil {
		// Unknown paths still carry the caller's rate-limit headers.
		id := s.identifyLocked(r, &route{auth: authInstallation})
		call.InstallationID, call.Auth = id.installationID(), id.kind
		b := s.bucketLocked(id)
		b.refresh(now, s.limitFor(id))
		setRateHeaders(sw, b)
		writeError(sw, http.StatusNotFound, "Not Found")
		return
	}
	call.Route = rt.template
	id := s.identifyLocked(r, rt)
	call.InstallationID, call.Auth = id.installationID(), id.kind
	b := s.bucketLocked(id)
	b.refresh(now, s.limitFor(id))

	// Bad credentials are refused before anything else, outages included, so
	// that a test of a fault never passes on a client that does not
	// authenticate.
	if id.err != "" {
		setRateHeaders(sw, b)
		writeError(sw, http.StatusUnauthorized, id.err)
		return
	}
	if f := s.faults.pick(now); f != nil {
		call.Fault = f.name
		b.spend()
		setRateHeaders(sw, b)
		s.log.Debug("injected fault", zap.String("fault", f.name), zap.String("path", r.URL.Path))
		f.respond(sw, now)
		return
	}
	if b.remaining <= 0 {
		call.Fault = "primary_rate_limit"
		setRateHeaders(sw, b)
		who := "installation ID " + itoa(id.installationID())
		if id.kind == "user" {
			who = "user " + id.tok.user
		}
		writeJSON(sw, http.StatusForbidden, errorBody{
			Message:          "API rate limit exceeded for " + who + ".",
			DocumentationURL: "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
		})
		return
	}
	b.spend()
	setRateHeaders(sw, b)

	c := &request{params: params, id: id}
	if rt.appOnly && id.kind != "installation" {
		// GitHub lets only GitHub Apps write check runs
		writeJSON(sw, http.StatusForbidden, errorBody{
			Message:          "You must authenticate via a GitHub App.",
			DocumentationURL: "https://docs.github.com/rest/checks/runs",
		})
		return
	}
	if owner, ok := params["owner"]; ok && rt.auth == authInstallation {
		repo := s.repos[owner+"/"+params["repo"]]
		if repo == nil || !id.tok.canAccess(repo) {
			writeError(sw, http.StatusNotFound, "Not Found")
			return
		}
		c.repo = repo
	}
	// A personal token (classic, repo scope) may do what its user may; an
	// installation token only what its permissions grant.
	if id.kind == "installation" && rt.auth == authInstallation && !id.tok.perms.allows(rt.perm) {
		forbiddenByPermissions(sw)
		return
	}
	rt.h(sw, r, c)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

type errorBody struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url,omitempty"`
}

type fieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client hung up; nothing to do
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Message: msg, DocumentationURL: "https://docs.github.com/rest"})
}

// invalid answers 422 like GitHub's validation errors.
func invalid(w http.ResponseWriter, resource, field, code string) {
	writeJSON(w, http.StatusUnprocessableEntity, errorBody{
		Message: "Validation Failed", Errors: []fieldError{{Resource: resource, Field: field, Code: code}},
		DocumentationURL: "https://docs.github.com/rest",
	})
}

// tooLong answers 422 with GitHub's message for an oversized field.
func tooLong(w http.ResponseWriter, resource, field, code, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, errorBody{
		Message: "Validation Failed", Errors: []fieldError{{Resource: resource, Field: field, Code: code, Message: msg}},
		DocumentationURL: "https://docs.github.com/rest",
	})
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

func pathInt(w http.ResponseWriter, c *request, name string) (int64, bool) {
	n, err := strconv.ParseInt(c.params[name], 10, 64)
	if err != nil || n <= 0 {
		writeError(w, http.StatusNotFound, "Not Found")
		return 0, false
	}
	return n, true
}
