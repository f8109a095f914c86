package ghsim

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/githubapp/fakeclock"
)

// These tests run the product adapter against the simulator: the pair must
// agree on every shape, and the faults must drive the adapter's resilience.

func adapterFor(t *testing.T, s *Sim, clock githubapp.Clock, p githubapp.Policy) *githubapp.Adapter {
	t.Helper()
	c, err := githubapp.NewApp(githubapp.AppConfig{
		AppID: s.AppID(), PrivateKeyPEM: s.PrivateKeyPEM(), BaseURL: s.URL() + "/", Clock: clock, Policy: p,
	}, nil, nil)
	assert.NilError(t, err)
	a, err := c.ForInstallation(s.InstallationID("acme"))
	assert.NilError(t, err)
	return a
}

func TestAdapterUpsertCommentAgainstSim(t *testing.T) {
	s, _ := newSim(t, Options{})
	ctx := t.Context()
	_, err := openPR(ctx, s)
	assert.NilError(t, err)
	a := adapterFor(t, s, nil, githubapp.Policy{})
	marker := githubapp.Marker("report")
	bots := func() []string {
		var out []string
		for _, c := range s.Comments(testRepo, 1) {
			if c.GetUser().GetLogin() == s.BotLogin() {
				out = append(out, c.GetBody())
			}
		}
		return out
	}

	id, err := a.UpsertComment(ctx, "acme", "shop", 1, marker, "building", 0)
	assert.NilError(t, err)
	assert.DeepEqual(t, bots(), []string{marker + "\nbuilding"})

	writes := s.WriteCalls()
	again, err := a.UpsertComment(ctx, "acme", "shop", 1, marker, "building", id)
	assert.NilError(t, err)
	assert.Equal(t, again, id)
	assert.Equal(t, s.WriteCalls(), writes, "unchanged body costs no write")

	_, err = s.DeleteComment(ctx, testRepo, id, "alice")
	assert.NilError(t, err)
	_, err = s.Comment(ctx, testRepo, 1, "mallory", marker+"\nfake report")
	assert.NilError(t, err)
	recreated, err := a.UpsertComment(ctx, "acme", "shop", 1, marker, "ready", id)
	assert.NilError(t, err)
	assert.Assert(t, recreated != id)
	assert.DeepEqual(t, bots(), []string{marker + "\nready"})

	// Duplicates (a lost ID, a retried create) collapse to the newest.
	for i := range 40 {
		_, err := s.Comment(ctx, testRepo, 1, "alice", fmt.Sprint("chatter ", i))
		assert.NilError(t, err)
	}
	gh := installationClient(t, s, s.InstallationID("acme"))
	dup, _, err := gh.Issues.CreateComment(ctx, "acme", "shop", 1, &github.IssueComment{Body: github.String(marker + "\nold")})
	assert.NilError(t, err)
	final, err := a.UpsertComment(ctx, "acme", "shop", 1, marker, "ready", 0)
	assert.NilError(t, err)
	assert.Equal(t, final, dup.GetID())
	assert.DeepEqual(t, bots(), []string{marker + "\nready"})
	assert.Equal(t, len(s.Comments(testRepo, 1)), 42, "mallory's and alice's comments stay")
}

func TestAdapterCallsAgainstSim(t *testing.T) {
	s, _ := newSim(t, Options{})
	ctx := t.Context()
	s.HoldWebhooks(true)
	for range 130 {
		_, err := openPR(ctx, s)
		assert.NilError(t, err)
	}
	assert.NilError(t, s.SetCollaborator(testRepo, "bob", "write"))
	a := adapterFor(t, s, nil, githubapp.Policy{})

	prs, err := a.ListOpenPullRequests(ctx, "acme", "shop")
	assert.NilError(t, err)
	assert.Equal(t, len(prs), 130)
	assert.Equal(t, s.CountCalls("GET", RoutePulls), 2)

	perm, err := a.CollaboratorPermission(ctx, "acme", "shop", "bob")
	assert.NilError(t, err)
	assert.Equal(t, perm, "write")

	login, err := a.BotLogin(ctx)
	assert.NilError(t, err)
	assert.Equal(t, login, s.BotLogin())

	tok, err := a.InstallationToken(ctx, s.InstallationID("acme"), []string{"shop"})
	assert.NilError(t, err)
	assert.Assert(t, strings.HasPrefix(tok.GetToken(), "ghs_"))

	sha := prs[0].GetHead().GetSHA()
	run, err := a.CreateCheckRun(ctx, "acme", "shop", github.CreateCheckRunOptions{
		Name: "preview", HeadSHA: sha, ExternalID: github.String("pr-130"), Status: github.String("in_progress"),
	})
	assert.NilError(t, err)
	_, err = a.UpdateCheckRun(ctx, "acme", "shop", run.GetID(), github.UpdateCheckRunOptions{
		Conclusion: github.String("success"),
		Output:     &github.CheckRunOutput{Title: github.String("Preview ready"), Summary: github.String("ok")},
	})
	assert.NilError(t, err)
	found, err := a.ListCheckRunsForRef(ctx, "acme", "shop", sha, githubapp.CheckRunFilter{Name: "preview", ExternalID: "pr-130"})
	assert.NilError(t, err)
	assert.Equal(t, len(found), 1)
	assert.Equal(t, found[0].GetConclusion(), "success")
}

func TestAdapterBreakerAgainstSim(t *testing.T) {
	clock := fakeclock.New(time.Now())
	s, _ := newSim(t, Options{Clock: clock})
	_, err := openPR(t.Context(), s)
	assert.NilError(t, err)
	a := adapterFor(t, s, clock, githubapp.Policy{MaxAttempts: 3, BreakerThreshold: 5, BreakerCooldown: time.Minute})

	s.FailNext(100, http.StatusBadGateway)
	_, err = a.GetPullRequest(t.Context(), "acme", "shop", 1)
	assert.Assert(t, !errors.Is(err, githubapp.ErrCircuitOpen), "3 failures: still closed")
	_, err = a.GetPullRequest(t.Context(), "acme", "shop", 1)
	assert.Assert(t, errors.Is(err, githubapp.ErrCircuitOpen), "got %v", err)
	calls := len(s.Calls())
	assert.Equal(t, calls, 5, "three retries, then two more until the threshold")

	_, err = a.GetPullRequest(t.Context(), "acme", "shop", 1)
	d, ok := githubapp.RetryAfter(err)
	assert.Assert(t, ok && d > 0 && d <= time.Minute, "got %v", err)
	assert.Equal(t, len(s.Calls()), calls, "open breaker: no call reaches GitHub")

	s.ClearFaults()
	clock.Advance(time.Minute)
	pr, err := a.GetPullRequest(t.Context(), "acme", "shop", 1)
	assert.NilError(t, err)
	assert.Equal(t, pr.GetNumber(), 1)
}

func TestAdapterRateLimitsAgainstSim(t *testing.T) {
	tests := map[string]struct {
		fault    func(s *Sim, now time.Time)
		wantWait time.Duration
	}{
		"primary: budget exhausted until reset": {
			fault:    func(s *Sim, now time.Time) { s.ExhaustRateLimit(s.InstallationID("acme"), now.Add(10*time.Minute)) },
			wantWait: 10 * time.Minute,
		},
		"secondary: 429 with Retry-After": {
			fault:    func(s *Sim, now time.Time) { s.SecondaryRateLimit(http.StatusTooManyRequests, 30*time.Second) },
			wantWait: 30 * time.Second,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// A past clock for both sides, so go-github's own wall-clock
			// memory of the reset never blocks; a long token life so
			// ghinstallation (also on the wall clock) keeps its token.
			clock := fakeclock.New(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
			s, _ := newSim(t, Options{Clock: clock, TokenTTL: 20 * 365 * 24 * time.Hour})
			_, err := openPR(t.Context(), s)
			assert.NilError(t, err)
			a := adapterFor(t, s, clock, githubapp.Policy{})
			_, err = a.GetPullRequest(t.Context(), "acme", "shop", 1) // fetch the token first
			assert.NilError(t, err)

			tc.fault(s, clock.Now())
			_, err = a.GetPullRequest(t.Context(), "acme", "shop", 1)
			var rl *githubapp.RateLimitedError
			assert.Assert(t, errors.As(err, &rl), "got %v", err)
			assert.Equal(t, rl.Wait, tc.wantWait)
			calls := len(s.Calls())

			clock.Advance(tc.wantWait - time.Second)
			_, err = a.GetPullRequest(t.Context(), "acme", "shop", 1)
			d, ok := githubapp.RetryAfter(err)
			assert.Assert(t, ok, "got %v", err)
			assert.Equal(t, d, time.Second)
			assert.Equal(t, len(s.Calls()), calls, "no call before the reset")

			clock.Advance(time.Second)
			_, err = a.GetPullRequest(t.Context(), "acme", "shop", 1)
			assert.NilError(t, err)
			assert.Check(t, is.Len(s.Calls(), calls+1))
		})
	}
}

// The token the trigger gives pipelines (githubapp's InstallationToken) can read the repository
// and nothing more: GitHub refuses it Check Runs and comments.
func TestAdapterPipelineTokenIsReadOnly(t *testing.T) {
	s, _ := newSim(t, Options{})
	ctx := t.Context()
	_, err := openPR(ctx, s)
	assert.NilError(t, err)
	a := adapterFor(t, s, nil, githubapp.Policy{})
	tok, err := a.InstallationToken(ctx, s.InstallationID("acme"), []string{"shop"})
	assert.NilError(t, err)
	assert.DeepEqual(t, tok.GetPermissions(), &github.InstallationPermissions{Contents: github.String("read"), Metadata: github.String("read")})
	gh := clientFor(t, s, http.DefaultTransport).WithAuthToken(tok.GetToken())
	_, resp, err := gh.Checks.CreateCheckRun(ctx, "acme", "shop", github.CreateCheckRunOptions{Name: "forged", HeadSHA: strings.Repeat("a", 40)})
	assert.Assert(t, err != nil)
	assert.Equal(t, resp.StatusCode, http.StatusForbidden)
	_, resp, err = gh.Issues.CreateComment(ctx, "acme", "shop", 1, &github.IssueComment{Body: github.String("forged")})
	assert.Assert(t, err != nil)
	assert.Equal(t, resp.StatusCode, http.StatusForbidden)
	_, err = s.AddRepo("acme/other")
	assert.NilError(t, err)
	_, resp, err = gh.PullRequests.List(ctx, "acme", "other", nil)
	assert.Assert(t, err != nil)
	assert.Equal(t, resp.StatusCode, http.StatusNotFound, "another repository of the installation is invisible")
}
