package ghsim

import (
	"net/http"
	"net/url"
	"strings"
)

// Route templates, named as in GitHub's REST docs. Calls are recorded with
// these, so tests count calls by route: sim.CountCalls("PATCH", ghsim.RouteCheckRun).
const (
	RouteApp              = "/app"
	RouteAccessTokens     = "/app/installations/{installation_id}/access_tokens"
	RouteRepoInstallation = "/repos/{owner}/{repo}/installation"
	RoutePulls            = "/repos/{owner}/{repo}/pulls"
	RoutePull             = "/repos/{owner}/{repo}/pulls/{pull_number}"
	RouteIssueComments    = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
	RouteIssueComment     = "/repos/{owner}/{repo}/issues/comments/{comment_id}"
	RouteCheckRuns        = "/repos/{owner}/{repo}/check-runs"
	RouteCheckRun         = "/repos/{owner}/{repo}/check-runs/{check_run_id}"
	RouteRefCheckRuns     = "/repos/{owner}/{repo}/commits/{ref}/check-runs"
	RoutePermission       = "/repos/{owner}/{repo}/collaborators/{username}/permission"
)

type authKind int

const (
	authInstallation authKind = iota // installation token
	authApp                          // App JWT
)

// request is what a handler gets besides the HTTP request.
type request struct {
	params map[string]string
	repo   *repoRec // resolved for /repos/{owner}/{repo}/... routes
	id     identity // who is calling
}

type handler func(w http.ResponseWriter, r *http.Request, c *request)

type route struct {
	method   string
	template string
	auth     authKind
	perm     string // installation permission needed, "checks:write"; alternatives with "|"
	h        handler
	segs     []string
	literals int
	appOnly  bool // only an App installation token may call it (check run writes)
}

func (s *Sim) routeTable() []route {
	rs := []route{
		{method: "GET", template: RouteApp, auth: authApp, h: s.getApp},
		{method: "POST", template: RouteAccessTokens, auth: authApp, h: s.createAccessToken},
		{method: "GET", template: RouteRepoInstallation, auth: authApp, h: s.getRepoInstallation},
		{method: "GET", template: RoutePulls, perm: "pull_requests:read", h: s.listPulls},
		{method: "GET", template: RoutePull, perm: "pull_requests:read", h: s.getPull},
		{method: "GET", template: RouteIssueComments, perm: "issues:read|pull_requests:read", h: s.listComments},
		{method: "POST", template: RouteIssueComments, perm: "issues:write|pull_requests:write", h: s.createComment},
		{method: "GET", template: RouteIssueComment, perm: "issues:read|pull_requests:read", h: s.getComment},
		{method: "PATCH", template: RouteIssueComment, perm: "issues:write|pull_requests:write", h: s.editComment},
		{method: "DELETE", template: RouteIssueComment, perm: "issues:write|pull_requests:write", h: s.deleteComment},
		{method: "POST", template: RouteCheckRuns, perm: "checks:write", h: s.createCheckRun, appOnly: true},
		{method: "GET", template: RouteCheckRun, perm: "checks:read", h: s.getCheckRun},
		{method: "PATCH", template: RouteCheckRun, perm: "checks:write", h: s.updateCheckRun, appOnly: true},
		{method: "GET", template: RouteRefCheckRuns, perm: "checks:read", h: s.listCheckRunsForRef},
		{method: "GET", template: RoutePermission, perm: "metadata:read", h: s.getPermission},
	}
	for i := range rs {
		rs[i].segs = strings.Split(strings.Trim(rs[i].template, "/"), "/")
		for _, seg := range rs[i].segs {
			if !strings.HasPrefix(seg, "{") {
				rs[i].literals++
			}
		}
	}
	return rs
}

// match finds the most specific route for the request. A known path with
// another method is unknown too: GitHub answers 404 for both.
func (s *Sim) match(r *http.Request) (*route, map[string]string) {
	raw := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	segs := make([]string, len(raw))
	for i, seg := range raw {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return nil, nil
		}
		segs[i] = u
	}
	var best *route
	for i := range s.routes {
		rt := &s.routes[i]
		if rt.method != r.Method || len(rt.segs) != len(segs) || (best != nil && rt.literals <= best.literals) {
			continue
		}
		if matchSegs(rt.segs, segs) {
			best = rt
		}
	}
	if best == nil {
		return nil, nil
	}
	params := map[string]string{}
	for i, seg := range best.segs {
		if strings.HasPrefix(seg, "{") {
			params[strings.Trim(seg, "{}")] = segs[i]
		}
	}
	return best, params
}

func matchSegs(tmpl, segs []string) bool {
	for i, t := range tmpl {
		if !strings.HasPrefix(t, "{") && t != segs[i] {
			return false
		}
	}
	return true
}
