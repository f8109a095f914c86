package githubapp

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"gotest.tools/v3/assert"
)

func TestEndpointOf(t *testing.T) {
	tests := map[string]string{
		"/repos/o/r/pulls/7":                    "/repos/{owner}/{repo}/pulls/{pull_number}",
		"/repos/o/r/pulls":                      "/repos/{owner}/{repo}/pulls",
		"/repos/o/r/issues/7/comments":          "/repos/{owner}/{repo}/issues/{issue_number}/comments",
		"/repos/o/r/issues/comments/12":         "/repos/{owner}/{repo}/issues/comments/{comment_id}",
		"/repos/o/r/check-runs":                 "/repos/{owner}/{repo}/check-runs",
		"/repos/o/r/check-runs/5":               "/repos/{owner}/{repo}/check-runs/{check_run_id}",
		"/repos/o/r/commits/abc/check-runs":     "/repos/{owner}/{repo}/commits/{ref}/check-runs",
		"/repos/o/r/collaborators/u/permission": "/repos/{owner}/{repo}/collaborators/{username}/permission",
		"/app/installations/3/access_tokens":    "/app/installations/{installation_id}/access_tokens",
		"/app":                                  "/app",
		"/repos/o/r/installation":               "/repos/{owner}/{repo}/installation",
		"/repos/o/r/hooks":                      "other",
		"/":                                     "other",
	}
	for path, want := range tests {
		t.Run(path, func(t *testing.T) {
			assert.Equal(t, endpointOf(path), want)
		})
	}
}

func TestRequestMetrics(t *testing.T) {
	f := setup(t)
	f.mux.HandleFunc("GET "+prPath, okPR(t))
	assert.NilError(t, f.getPR())

	want := `
# HELP catalyst_github_requests_total HTTP requests to the GitHub API by route template, method and status code ("error" when no answer).
# TYPE catalyst_github_requests_total counter
catalyst_github_requests_total{code="200",endpoint="/repos/{owner}/{repo}/pulls/{pull_number}",method="GET"} 1
catalyst_github_requests_total{code="201",endpoint="/app/installations/{installation_id}/access_tokens",method="POST"} 1
`
	assert.NilError(t, testutil.GatherAndCompare(f.reg, strings.NewReader(want), "catalyst_github_requests_total"))
	assert.Equal(t, testutil.CollectAndCount(f.clients.metrics.duration), 2)
}
