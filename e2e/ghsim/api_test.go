package ghsim

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestPaginationOverSeveralPages(t *testing.T) {
	s, _ := newSim(t, Options{})
	s.HoldWebhooks(true) // no receiver needed for seeding
	for i := range 7 {
		_, err := s.OpenPR(t.Context(), testRepo, PROptions{Author: fmt.Sprint("dev", i)})
		assert.NilError(t, err)
	}
	for i := range 12 {
		_, err := s.Comment(t.Context(), testRepo, 3, "alice", fmt.Sprint("comment ", i))
		assert.NilError(t, err)
	}
	_, err := s.ClosePR(t.Context(), testRepo, 7)
	assert.NilError(t, err)
	gh := installationClient(t, s, s.InstallationID("acme"))

	tests := map[string]struct {
		list      func(page int) (items []string, resp *github.Response, err error)
		wantItems int
		wantPages int
		wantLast  int
	}{
		"open pull requests, 2 per page": {
			list: func(page int) ([]string, *github.Response, error) {
				prs, resp, err := gh.PullRequests.List(t.Context(), "acme", "shop",
					&github.PullRequestListOptions{State: "open", ListOptions: github.ListOptions{PerPage: 2, Page: page}})
				var out []string
				for _, pr := range prs {
					out = append(out, fmt.Sprint(pr.GetNumber()))
				}
				return out, resp, err
			},
			wantItems: 6, wantPages: 3, wantLast: 3,
		},
		"issue comments, 5 per page": {
			list: func(page int) ([]string, *github.Response, error) {
				cs, resp, err := gh.Issues.ListComments(t.Context(), "acme", "shop", 3,
					&github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 5, Page: page}})
				var out []string
				for _, c := range cs {
					out = append(out, c.GetBody())
				}
				return out, resp, err
			},
			wantItems: 12, wantPages: 3, wantLast: 3,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var all []string
			pages, page := 0, 0
			for {
				items, resp, err := tc.list(page)
				assert.NilError(t, err)
				pages++
				all = append(all, items...)
				if page == 0 {
					assert.Equal(t, resp.LastPage, tc.wantLast, "Link rel=last")
				}
				if resp.NextPage == 0 {
					break
				}
				page = resp.NextPage
			}
			assert.Equal(t, len(all), tc.wantItems)
			assert.Equal(t, pages, tc.wantPages)
		})
	}
}

func TestCommentsCRUD(t *testing.T) {
	s, _ := newSim(t, Options{})
	_, err := s.OpenPR(t.Context(), testRepo, PROptions{Author: "alice"})
	assert.NilError(t, err)
	gh := installationClient(t, s, s.InstallationID("acme"))
	ctx := t.Context()

	c, resp, err := gh.Issues.CreateComment(ctx, "acme", "shop", 1, &github.IssueComment{Body: github.String("hello")})
	assert.NilError(t, err)
	assert.Equal(t, resp.StatusCode, http.StatusCreated)
	assert.Equal(t, c.GetUser().GetLogin(), s.BotLogin())
	assert.Equal(t, c.GetUser().GetType(), "Bot")
	assert.Assert(t, strings.HasSuffix(c.GetIssueURL(), "/repos/acme/shop/issues/1"))

	_, _, err = gh.Issues.EditComment(ctx, "acme", "shop", c.GetID(), &github.IssueComment{Body: github.String("edited")})
	assert.NilError(t, err)
	got, _, err := gh.Issues.GetComment(ctx, "acme", "shop", c.GetID())
	assert.NilError(t, err)
	assert.Equal(t, got.GetBody(), "edited")

	_, err = gh.Issues.DeleteComment(ctx, "acme", "shop", c.GetID())
	assert.NilError(t, err)
	_, _, err = gh.Issues.GetComment(ctx, "acme", "shop", c.GetID())
	assert.Equal(t, statusOf(err), http.StatusNotFound)
	assert.Check(t, is.Len(s.Comments(testRepo, 1), 0))

	_, _, err = gh.Issues.CreateComment(ctx, "acme", "shop", 1, &github.IssueComment{Body: github.String("")})
	assert.Equal(t, statusOf(err), http.StatusUnprocessableEntity)
	_, _, err = gh.Issues.CreateComment(ctx, "acme", "shop", 99, &github.IssueComment{Body: github.String("x")})
	assert.Equal(t, statusOf(err), http.StatusNotFound)
	assert.Equal(t, s.WriteCalls(), 5)
}

func TestCheckRuns(t *testing.T) {
	s, _ := newSim(t, Options{})
	d, err := s.OpenPR(t.Context(), testRepo, PROptions{})
	assert.NilError(t, err)
	sha := d.HeadSHA
	gh := installationClient(t, s, s.InstallationID("acme"))
	ctx := t.Context()

	run, _, err := gh.Checks.CreateCheckRun(ctx, "acme", "shop", github.CreateCheckRunOptions{
		Name: "preview", HeadSHA: sha, ExternalID: github.String("pr-1"), Status: github.String("in_progress"),
		Output: &github.CheckRunOutput{Title: github.String("Building"), Summary: github.String("build running")},
	})
	assert.NilError(t, err)
	assert.Equal(t, run.GetStatus(), "in_progress")
	assert.Equal(t, run.GetApp().GetID(), s.AppID())
	assert.Equal(t, len(run.PullRequests), 1)
	assert.Equal(t, run.PullRequests[0].GetNumber(), 1)

	run, _, err = gh.Checks.UpdateCheckRun(ctx, "acme", "shop", run.GetID(), github.UpdateCheckRunOptions{
		Conclusion: github.String("success"),
		Output:     &github.CheckRunOutput{Title: github.String("Preview ready"), Summary: github.String("up")},
	})
	assert.NilError(t, err)
	assert.Equal(t, run.GetStatus(), "completed")
	assert.Equal(t, run.GetName(), "preview", "an empty name in an update leaves it")
	assert.Assert(t, run.CompletedAt != nil)

	got, _, err := gh.Checks.GetCheckRun(ctx, "acme", "shop", run.GetID())
	assert.NilError(t, err)
	assert.Equal(t, got.GetOutput().GetTitle(), "Preview ready")

	// A second run with the same name: "latest" shows one, "all" both.
	_, _, err = gh.Checks.CreateCheckRun(ctx, "acme", "shop", github.CreateCheckRunOptions{Name: "preview", HeadSHA: sha})
	assert.NilError(t, err)
	_, _, err = gh.Checks.CreateCheckRun(ctx, "acme", "shop", github.CreateCheckRunOptions{Name: "lint", HeadSHA: sha})
	assert.NilError(t, err)
	list := func(opts *github.ListCheckRunsOptions) int {
		res, _, err := gh.Checks.ListCheckRunsForRef(ctx, "acme", "shop", sha, opts)
		assert.NilError(t, err)
		return res.GetTotal()
	}
	assert.Equal(t, list(nil), 2)
	assert.Equal(t, list(&github.ListCheckRunsOptions{Filter: github.String("all")}), 3)
	assert.Equal(t, list(&github.ListCheckRunsOptions{CheckName: github.String("preview"), Filter: github.String("all")}), 2)
	assert.Equal(t, list(&github.ListCheckRunsOptions{Status: github.String("completed")}), 0, "latest preview is queued")
	res, _, err := gh.Checks.ListCheckRunsForRef(ctx, "acme", "shop", "feature-1", nil)
	assert.NilError(t, err)
	assert.Equal(t, res.GetTotal(), 2, "a branch name resolves to its head")

	tests := map[string]github.CreateCheckRunOptions{
		"no name":                      {HeadSHA: sha},
		"no sha":                       {Name: "x"},
		"completed without conclusion": {Name: "x", HeadSHA: sha, Status: github.String("completed")},
		"bad conclusion":               {Name: "x", HeadSHA: sha, Conclusion: github.String("great")},
		"output without summary":       {Name: "x", HeadSHA: sha, Output: &github.CheckRunOutput{Title: github.String("t")}},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := gh.Checks.CreateCheckRun(ctx, "acme", "shop", opts)
			assert.Equal(t, statusOf(err), http.StatusUnprocessableEntity)
		})
	}
	assert.Equal(t, len(s.CheckRuns(testRepo, sha)), 3)
}

func TestCollaboratorPermission(t *testing.T) {
	s, _ := newSim(t, Options{})
	assert.NilError(t, s.SetCollaborator(testRepo, "bob", "write"))
	gh := installationClient(t, s, s.InstallationID("acme"))
	for login, want := range map[string]string{"acme": "admin", "bob": "write", "mallory": "read"} {
		lvl, _, err := gh.Repositories.GetPermissionLevel(t.Context(), "acme", "shop", login)
		assert.NilError(t, err)
		assert.Equal(t, lvl.GetPermission(), want, login)
		assert.Equal(t, lvl.GetUser().GetLogin(), login)
	}
}

func TestRateLimitHeadersDecrement(t *testing.T) {
	s, _ := newSim(t, Options{RateLimit: 100})
	gh := installationClient(t, s, s.InstallationID("acme"))
	var remaining []int
	for range 3 {
		_, resp, err := gh.PullRequests.List(t.Context(), "acme", "shop", nil)
		assert.NilError(t, err)
		assert.Equal(t, resp.Rate.Limit, 100)
		assert.Equal(t, resp.Header.Get("X-RateLimit-Resource"), "core")
		assert.Equal(t, resp.Header.Get("X-RateLimit-Used"), fmt.Sprint(100-resp.Rate.Remaining))
		remaining = append(remaining, resp.Rate.Remaining)
	}
	assert.DeepEqual(t, remaining, []int{99, 98, 97})
	_, left, _ := s.RateLimit(s.InstallationID("acme"))
	assert.Equal(t, left, 97)
}

func TestUnknownPathIsRecorded(t *testing.T) {
	s, _ := newSim(t, Options{})
	resp, err := http.Get(s.URL() + "/repos/acme/shop/hooks")
	assert.NilError(t, err)
	resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusNotFound)
	assert.Equal(t, resp.Header.Get("X-RateLimit-Limit"), "60", "unauthenticated budget, even on a 404")
	calls := s.Calls()
	assert.Equal(t, len(calls), 1)
	assert.Equal(t, calls[0].Route, "")
	assert.Equal(t, calls[0].Status, http.StatusNotFound)
	assert.Equal(t, s.CountCalls("GET", "/repos/acme/shop/hooks"), 1)
	s.ResetCalls()
	assert.Equal(t, len(s.Calls()), 0)
}

func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		return er.Response.StatusCode
	}
	return 0
}
