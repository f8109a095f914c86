package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/catalyst-preview/catalyst/preview"
)

var (
	//go:embed templates/*.html
	templateFS embed.FS
	//go:embed static
	staticFS embed.FS
)

// staticHandler serves the embedded CSS and JavaScript; their names never change within a
// build, so they may be cached briefly.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// pages holds the parsed templates: one per page, each with the layout.
type pages struct {
	t   map[string]*template.Template
	o   Options
	now func() time.Time
}

func newPages(o Options) (*pages, error) {
	p := &pages{t: map[string]*template.Template{}, o: o, now: o.Now}
	for _, name := range []string{"list", "environment", "logs", "delete", "problem", "signedout"} {
		t, err := template.New(name).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		p.t[name] = t
	}
	return p, nil
}

// layout is what every page shows around its content.
type layout struct {
	Title   string
	User    string
	Dev     bool
	CSRF    string
	Flash   string
	Content any
}

// render executes a page into a buffer first, so that a template error is a clean 500.
func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name, title string, content any) {
	l := layout{Title: title, Content: content, Flash: flashOf(r)}
	if c := callerOf(r); c != nil {
		l.User, l.CSRF, l.Dev = c.User, c.CSRF, c.Via == "development"
	}
	var buf bytes.Buffer
	if err := p.t[name].ExecuteTemplate(&buf, "layout", l); err != nil {
		http.Error(w, "console: render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// problemPages renders error pages outside a Server (sign-in errors).
var problemPages, _ = newPages(Options{Now: time.Now})

type problemView struct {
	Status  int
	Code    string
	Message string
	SignIn  string // a link to sign in again, when that is the way out
}

func renderProblem(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	problemPages.render(w, r, status, "problem", http.StatusText(status), problemView{Status: status, Code: code, Message: msg})
}

func renderSignIn(w http.ResponseWriter, r *http.Request, status int, msg, next string) {
	problemPages.render(w, r, status, "problem", "Sign-in failed", problemView{Status: status, Code: "Unauthenticated", Message: msg,
		SignIn: "/auth/login?next=" + url.QueryEscape(safeNext(next))})
}

func (p *pages) signedOut(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "signedout", "Signed out", nil)
}

// flashOf reads the one-line result of an action, carried in the redirect's query (?done=).
func flashOf(r *http.Request) string {
	switch r.URL.Query().Get("done") {
	case "retry":
		return "Retry requested: a new attempt starts shortly."
	case "keep":
		return "The environment is kept: the idle TTL will not remove it."
	case "unkeep":
		return "The environment is no longer kept: the idle TTL applies again."
	case "delete":
		return "Removal requested: the runs stop, the cleanup runs, then the namespace is deleted."
	}
	return ""
}

// ---- list ----

type listView struct {
	Repo, State, Sort string
	States            []option
	Sorts             []option
	Rows              []envRow
	Count             int
	Scope             string
	Warnings          []string
	RefreshSeconds    int
	Query             string // the filters as a query string, for the auto-refresh
}

type option struct {
	Value, Label string
	Selected     bool
}

type envRow struct {
	Namespace, Repo, PRURL, URL  string
	PR                           int
	State, Reason                string
	SHA, Age, AgeTitle           string
	CPU, Memory                  string
	CPUPercent, MemPercent       int
	OverQuota                    bool
	Exhausted, Kept, Terminating string
	HasUsage                     bool
}

func (s *Server) listPage(w http.ResponseWriter, r *http.Request) {
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
	q := r.URL.Query()
	v := listView{Repo: q.Get("repo"), State: q.Get("state"), Sort: q.Get("sort"), Count: len(list.Items),
		Warnings: list.Warnings, RefreshSeconds: int(s.o.ListRefresh.Seconds()), Query: r.URL.RawQuery}
	if list.Scope == preview.ScopeNamespaces {
		v.Scope = "You may not list every namespace: these are the environments your roles name."
	}
	v.States = append(v.States, option{Value: "", Label: "any state", Selected: v.State == ""})
	for _, st := range preview.States {
		v.States = append(v.States, option{Value: string(st), Label: string(st), Selected: v.State == string(st)})
	}
	for _, so := range []preview.SortBy{preview.SortByName, preview.SortByAge, preview.SortByActivity} {
		v.Sorts = append(v.Sorts, option{Value: string(so), Label: "by " + string(so), Selected: v.Sort == string(so) || (v.Sort == "" && so == preview.SortByName)})
	}
	now := s.o.Now()
	v.Rows = make([]envRow, len(list.Items))
	for i := range list.Items {
		v.Rows[i] = rowOf(&list.Items[i], now)
	}
	s.pages.render(w, r, http.StatusOK, "list", "Environments", v)
}

func rowOf(e *preview.Environment, now time.Time) envRow {
	row := envRow{Namespace: e.Namespace, Repo: e.Repo, PR: e.PR, PRURL: e.PRURL, URL: e.URL,
		State: string(e.State), Reason: e.Reason, SHA: short(e.HeadSHA),
		Age: age(now.Sub(e.Created)), AgeTitle: e.Created.UTC().Format(time.RFC3339)}
	if e.Kept {
		row.Kept = "kept"
	}
	if e.Terminating {
		row.Terminating = "terminating"
	}
	if u := e.Usage; u != nil {
		row.HasUsage = true
		row.CPU, row.CPUPercent = amountText(u.CPU)
		row.Memory, row.MemPercent = amountText(u.Memory)
		row.OverQuota = u.OverQuota
		row.Exhausted = strings.Join(u.Exhausted, ", ")
	}
	return row
}

// amountText renders "250m / 4" and the share used (0–100; 100 for over).
func amountText(a preview.Amount) (string, int) {
	if a.Hard == nil {
		return a.Used.String(), 0
	}
	pct := 0
	if h := a.Hard.MilliValue(); h > 0 {
		pct = int(a.Used.MilliValue() * 100 / h)
	}
	return a.Used.String() + " / " + a.Hard.String(), min(pct, 100)
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// age renders a duration the way kubectl does: 45s, 12m, 5h, 3d.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// ---- environment ----

type environmentView struct {
	Env      envRow
	PRState  string
	Author   string
	Gate     string
	Removal  string
	Expires  string
	Live     string
	Runs     []runView
	Commands []string
	Warnings []string
	Events   []eventView
	Actions  []actionView
	Keep     actionView
	Delete   actionView
}

type runView struct {
	Name, State, Reason, Message, SHA, Cause, Created, Duration, LogsURL string
	Attempt                                                              int
	Tasks                                                                []taskView
}

type taskView struct {
	Name, State, Duration, Reason, Message, LogsURL string
	Diagnostics                                     []string
}

type eventView struct {
	Type, Reason, Object, Message, Age string
	Count                              int32
}

// actionView is a button: enabled, or disabled with the reason.
type actionView struct {
	Label, Action, Value, Disabled string
	Danger                         bool
}

func (s *Server) environmentPage(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	d, err := p.Get(r.Context(), ref, preview.GetOptions{Runs: 5})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.o.Now()
	v := environmentView{Env: rowOf(&d.Environment, now), PRState: d.PRState, Author: d.Author, Gate: d.Gate,
		Commands: d.Commands, Warnings: d.Warnings}
	if d.Removal != nil {
		v.Removal = fmt.Sprintf("removal requested by %s (%s) %s ago", d.Removal.By, d.Removal.Reason, age(now.Sub(d.Removal.At)))
	}
	if d.ExpiresAt != nil {
		v.Expires = "removed for inactivity in " + age(d.ExpiresAt.Sub(now)) + " unless kept or pushed to"
	}
	if d.Usage != nil && d.Usage.Live != nil {
		v.Live = "now using " + d.Usage.Live.CPU.String() + " CPU, " + humanBytes(d.Usage.Live.Memory)
	}
	base := "/environments/" + url.PathEscape(d.Namespace)
	for _, run := range d.Runs {
		rv := runView{Name: run.Name, State: string(run.State), Reason: run.Reason, Message: run.Message, SHA: short(run.SHA),
			Cause: run.Cause, Attempt: run.Attempt, Created: age(now.Sub(run.Created)) + " ago",
			Duration: span(run.Started, run.Finished, now), LogsURL: base + "/logs?run=" + url.QueryEscape(run.Name)}
		for _, t := range run.Tasks {
			tv := taskView{Name: t.Name, State: t.State, Duration: span(t.Started, t.Finished, now), Reason: t.Reason, Message: t.Message,
				LogsURL: base + "/logs?run=" + url.QueryEscape(run.Name) + "&task=" + url.QueryEscape(t.Name)}
			for _, dg := range t.Diagnostics {
				tv.Diagnostics = append(tv.Diagnostics, preview.FormatDiagnostic(dg))
			}
			rv.Tasks = append(rv.Tasks, tv)
		}
		v.Runs = append(v.Runs, rv)
	}
	if events, err := p.Events(r.Context(), ref, 20); err != nil {
		v.Warnings = append(v.Warnings, "recent events: "+err.Error())
	} else {
		for _, e := range events {
			v.Events = append(v.Events, eventView{Type: e.Type, Reason: e.Reason, Object: e.Object, Message: e.Message, Count: e.Count, Age: age(now.Sub(e.Last))})
		}
	}
	perm := s.permissions(r, p, ref)
	v.Actions = []actionView{{Label: "Retry", Action: base + "/retry", Disabled: perm.Retry}}
	v.Keep = actionView{Label: "Keep", Action: base + "/keep", Value: "true", Disabled: perm.Keep}
	if d.Kept {
		v.Keep.Label, v.Keep.Value = "Stop keeping", "false"
	}
	v.Delete = actionView{Label: "Delete…", Action: base + "/delete", Disabled: perm.Delete, Danger: true}
	switch {
	case d.PRState != preview.PRStateOpen && v.Actions[0].Disabled == "":
		v.Actions[0].Disabled = "the pull request is " + d.PRState
	case d.Gate != "" && v.Actions[0].Disabled == "":
		v.Actions[0].Disabled = "the pull request may not deploy yet (" + d.Gate + ")"
	}
	if (d.Terminating || d.Removal != nil) && v.Delete.Disabled == "" {
		v.Delete.Disabled = "removal is already under way"
	}
	s.pages.render(w, r, http.StatusOK, "environment", d.Repo+"#"+fmt.Sprint(d.PR), v)
}

// permissions asks the apiserver what the caller may do here; a failure to ask disables
// nothing (the apiserver still decides when the button is used).
func (s *Server) permissions(r *http.Request, p *preview.Client, ref preview.Ref) denials {
	acc, err := p.Access(r.Context(), ref)
	if err != nil {
		return denials{}
	}
	var d denials
	for _, a := range acc {
		if a.Allowed {
			continue
		}
		why := "you may not " + a.Verb + " " + a.Resource + " here"
		if a.Reason != "" {
			why += " (" + a.Reason + ")"
		}
		switch a.Action {
		case preview.ActionRetry:
			d.Retry = why
		case preview.ActionKeep:
			d.Keep = why
		case preview.ActionDelete:
			d.Delete = why
		case preview.ActionLogs:
			d.Logs = why
		}
	}
	return d
}

// denials are the reasons buttons are disabled; empty: allowed.
type denials struct{ Retry, Keep, Delete, Logs string }

func span(start, end *time.Time, now time.Time) string {
	if start == nil {
		return ""
	}
	stop := now
	if end != nil {
		stop = *end
	}
	d := stop.Sub(*start).Round(time.Second)
	if end == nil {
		return d.String() + " so far"
	}
	return d.String()
}

func humanBytes(q resource.Quantity) string {
	b := q.Value()
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%d MiB", b>>20)
	}
	return q.String()
}

// ---- actions (forms; the answer is a redirect, so reloading repeats nothing) ----

func (s *Server) retryAction(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	if _, err := p.Retry(r.Context(), ref); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/environments/"+url.PathEscape(ref.Namespace)+"?done=retry", http.StatusSeeOther)
}

func (s *Server) keepAction(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	keep := r.PostFormValue("keep") == "true"
	if _, err := p.Keep(r.Context(), ref, keep); err != nil {
		s.fail(w, r, err)
		return
	}
	done := "keep"
	if !keep {
		done = "unkeep"
	}
	http.Redirect(w, r, "/environments/"+url.PathEscape(ref.Namespace)+"?done="+done, http.StatusSeeOther)
}

type deleteView struct {
	Env      envRow
	Action   string
	Disabled string
	Back     string
}

// deletePage asks for confirmation: the namespace must be typed, as with GitHub's own
// dangerous actions.
func (s *Server) deletePage(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	d, err := p.Get(r.Context(), ref, preview.GetOptions{Runs: 1})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := deleteView{Env: rowOf(&d.Environment, s.o.Now()), Action: "/environments/" + url.PathEscape(d.Namespace) + "/delete",
		Back: "/environments/" + url.PathEscape(d.Namespace), Disabled: s.permissions(r, p, ref).Delete}
	s.pages.render(w, r, http.StatusOK, "delete", "Delete "+d.Namespace, v)
}

func (s *Server) deleteAction(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != ref.Namespace {
		writeError(w, r, http.StatusBadRequest, string(preview.KindInvalid), "type the namespace name "+ref.Namespace+" to confirm the deletion")
		return
	}
	if _, err := p.Delete(r.Context(), ref, preview.DeleteOptions{}); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/environments/"+url.PathEscape(ref.Namespace)+"?done=delete", http.StatusSeeOther)
}
