package console

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/catalyst-preview/catalyst/preview"
)

// The JSON API answers the same operations as the pages and previewctl, with the query layer's
// results as they are. Errors always have the shape {"error": {"code", "message"}}; the codes
// are the query layer's kinds plus the API's own (README, "JSON API").

// Error codes of the API's own, beside preview's kinds.
const (
	CodeUnauthenticated = "Unauthenticated" // no session or bearer token, or one that does not verify
	CodeCSRF            = "CSRF"            // an action from a cookie session without its CSRF token
	CodeBadRequest      = "Invalid"         // malformed parameters: the same code as preview.KindInvalid
)

type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// statusOf maps the query layer's error kinds to HTTP statuses.
func statusOf(kind preview.Kind) int {
	switch kind {
	case preview.KindNotFound:
		return http.StatusNotFound
	case preview.KindForbidden:
		return http.StatusForbidden
	case preview.KindInvalid:
		return http.StatusBadRequest
	case preview.KindConflict:
		return http.StatusConflict
	case preview.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers with the error shape (JSON) or, for a browser's navigation, an error page.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if wantsHTML(r) {
		renderProblem(w, r, status, code, msg)
		return
	}
	writeJSON(w, status, apiError{Error: apiErrorBody{Code: code, Message: msg}})
}

// fail answers with a query-layer (or any) error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	kind := preview.KindOf(err)
	if kind == preview.KindInternal {
		s.log.Error("request failed", zap.String("path", r.URL.Path), zap.Error(err))
	}
	writeError(w, r, statusOf(kind), string(kind), err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) apiWhoami(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	writeJSON(w, http.StatusOK, struct {
		Identity
		Via string `json:"via"`
	}{c.Identity, c.Via})
}

// listOptions reads ?repo=&state=a,b&sort=&namespace= for the list page and the API alike.
func listOptions(r *http.Request) (preview.ListOptions, error) {
	q := r.URL.Query()
	o := preview.ListOptions{Repo: q.Get("repo"), Namespaces: q["namespace"]}
	var err error
	if v := q.Get("state"); v != "" {
		if o.States, err = preview.ParseStates(v); err != nil {
			return o, err
		}
	}
	if v := q.Get("sort"); v != "" {
		if o.SortBy, err = preview.ParseSortBy(v); err != nil {
			return o, err
		}
	}
	return o, nil
}

func (s *Server) apiList(w http.ResponseWriter, r *http.Request) {
	o, err := listOptions(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.Preview(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := p.List(r.Context(), o)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func refOf(r *http.Request) (preview.Ref, error) {
	ref, err := preview.ParseRef(r.PathValue("namespace"))
	if err == nil && ref.PR() {
		err = &preview.Error{Kind: preview.KindInvalid, Msg: "environments are named by namespace here"}
	}
	return ref, err
}

func (s *Server) apiGet(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	d, err := p.Get(r.Context(), ref, preview.GetOptions{Runs: intParam(r, "runs", 5)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// apiLogs streams the log as NDJSON (one preview.LogLine per line), following with ?follow=1.
func (s *Server) apiLogs(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	o, err := logOptions(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	started := false
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	err = p.Logs(r.Context(), ref, o, func(l preview.LogLine) error {
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Cache-Control", "no-store")
			started = true
		}
		if err := enc.Encode(l); err != nil {
			return err
		}
		if o.Follow && flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	switch {
	case err != nil && !started:
		s.fail(w, r, err)
	case err != nil:
		// The status is sent: the last line says what went wrong.
		_ = enc.Encode(apiError{Error: apiErrorBody{Code: string(preview.KindOf(err)), Message: err.Error()}})
	case !started:
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
	}
}

func (s *Server) apiRetry(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	res, err := p.Retry(r.Context(), ref)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}

func (s *Server) apiKeep(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	var body struct {
		Keep *bool `json:"keep"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil || body.Keep == nil {
		writeError(w, r, http.StatusBadRequest, CodeBadRequest, `the body must be {"keep": true} or {"keep": false}`)
		return
	}
	res, err := p.Keep(r.Context(), ref, *body.Keep)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) apiDelete(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	res, err := p.Delete(r.Context(), ref, preview.DeleteOptions{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}

// target is the query layer as the caller and the environment the path names.
func (s *Server) target(w http.ResponseWriter, r *http.Request) (*preview.Client, preview.Ref, bool) {
	ref, err := refOf(r)
	if err != nil {
		s.fail(w, r, err)
		return nil, ref, false
	}
	p, err := s.Preview(r)
	if err != nil {
		s.fail(w, r, err)
		return nil, ref, false
	}
	return p, ref, true
}

// logOptions reads ?run=&task=&follow=&app=&tail=&since=&previous=.
func logOptions(r *http.Request) (preview.LogOptions, error) {
	q := r.URL.Query()
	o := preview.LogOptions{Run: q.Get("run"), Task: q.Get("task"), Follow: boolParam(q.Get("follow")),
		App: boolParam(q.Get("app")), Previous: boolParam(q.Get("previous")), PreviousRun: boolParam(q.Get("previousRun"))}
	if v := q.Get("tail"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, &preview.Error{Kind: preview.KindInvalid, Msg: "tail must be a whole number of lines, got " + strconv.Quote(v)}
		}
		o.Tail = n
	}
	if v := q.Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return o, &preview.Error{Kind: preview.KindInvalid, Msg: "since must be a duration such as 10m, got " + strconv.Quote(v)}
		}
		o.Since = d
	}
	if (o.Tail > 0 || o.Since > 0 || o.Previous) && !o.App {
		return o, &preview.Error{Kind: preview.KindInvalid, Msg: "tail, since and previous apply to application logs (app=1)"}
	}
	return o, nil
}

func boolParam(v string) bool { return v == "1" || v == "true" || v == "on" }

func intParam(r *http.Request, name string, def int) int {
	n, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil || n <= 0 || n > 50 {
		return def
	}
	return n
}
