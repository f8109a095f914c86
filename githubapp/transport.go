package githubapp

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// countingTransport counts every request that leaves the process, including
// ghinstallation's token exchanges, by route template and status.
type countingTransport struct {
	next     http.RoundTripper
	basePath string // REST root path ("/" or "/api/v3/"), stripped before templating
	metrics  *Metrics
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	endpoint := endpointOf(strings.TrimPrefix(req.URL.Path, strings.TrimSuffix(t.basePath, "/")))
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.metrics.duration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.metrics.requests.WithLabelValues(endpoint, req.Method, code).Inc()
	return resp, err
}

// endpoints are the routes this package calls, named as in GitHub's docs.
// Anything else is counted as "other" to keep the label set bounded.
var endpoints = splitTemplates(
	"/app",
	"/user",
	"/rate_limit",
	"/app/installations/{installation_id}/access_tokens",
	"/repos/{owner}/{repo}/installation",
	"/repos/{owner}/{repo}/pulls",
	"/repos/{owner}/{repo}/pulls/{pull_number}",
	"/repos/{owner}/{repo}/collaborators/{username}/permission",
	"/repos/{owner}/{repo}/check-runs",
	"/repos/{owner}/{repo}/check-runs/{check_run_id}",
	"/repos/{owner}/{repo}/commits/{ref}/check-runs",
	"/repos/{owner}/{repo}/issues/{issue_number}/comments",
	"/repos/{owner}/{repo}/issues/comments/{comment_id}",
)

type template struct {
	name     string
	segments []string
	literals int
}

func splitTemplates(names ...string) []template {
	out := make([]template, 0, len(names))
	for _, n := range names {
		segs := strings.Split(strings.Trim(n, "/"), "/")
		lit := 0
		for _, s := range segs {
			if !strings.HasPrefix(s, "{") {
				lit++
			}
		}
		out = append(out, template{name: n, segments: segs, literals: lit})
	}
	return out
}

// endpointOf returns the most specific template matching path, so that
// /issues/comments/{id} wins over /issues/{number}/comments.
func endpointOf(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	best, bestLit := "other", -1
	for _, t := range endpoints {
		if len(t.segments) != len(segs) || t.literals <= bestLit {
			continue
		}
		if matches(t.segments, segs) {
			best, bestLit = t.name, t.literals
		}
	}
	return best
}

func matches(tmpl, segs []string) bool {
	for i, s := range tmpl {
		if !strings.HasPrefix(s, "{") && s != segs[i] {
			return false
		}
	}
	return true
}
