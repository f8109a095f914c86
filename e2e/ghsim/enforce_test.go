package ghsim

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// GitHub refuses comment bodies over 65,536 characters and check run summaries or texts over
// 65,535 bytes with 422; the limits are GitHub's, at the boundary.
func TestBodyLimits(t *testing.T) {
	s, _ := newSim(t, Options{})
	ctx := t.Context()
	d, err := s.OpenPR(ctx, testRepo, PROptions{Author: "alice"})
	assert.NilError(t, err)
	gh := installationClient(t, s, s.InstallationID("acme"))
	emoji := strings.Repeat("🚀", MaxCommentLength) // 4 bytes each: characters count, not bytes

	cases := map[string]struct {
		body    string
		summary string
		text    string
		wantErr string
	}{
		"comment at the limit":                  {body: strings.Repeat("a", MaxCommentLength)},
		"comment of multi-byte runes":           {body: emoji},
		"comment one over":                      {body: strings.Repeat("a", MaxCommentLength+1), wantErr: "Body is too long (maximum is 65536 characters)"},
		"summary at the limit":                  {summary: strings.Repeat("a", MaxCheckRunOutput)},
		"summary one byte over":                 {summary: strings.Repeat("a", MaxCheckRunOutput+1), wantErr: "summary exceeds a maximum bytesize of 65535"},
		"summary short in runes, over in bytes": {summary: strings.Repeat("é", MaxCheckRunOutput/2+1), wantErr: "summary exceeds a maximum bytesize"},
		"text one byte over":                    {summary: "s", text: strings.Repeat("a", MaxCheckRunOutput+1), wantErr: "text exceeds a maximum bytesize of 65535"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var err error
			if tc.body != "" {
				_, _, err = gh.Issues.CreateComment(ctx, "acme", "shop", d.Number, &github.IssueComment{Body: &tc.body})
			} else {
				_, _, err = gh.Checks.CreateCheckRun(ctx, "acme", "shop", github.CreateCheckRunOptions{
					Name: "preview", HeadSHA: d.HeadSHA,
					Output: &github.CheckRunOutput{Title: github.String("t"), Summary: &tc.summary, Text: github.String(tc.text)},
				})
			}
			if tc.wantErr == "" {
				assert.NilError(t, err)
				return
			}
			assert.Check(t, is.Equal(statusOf(err), http.StatusUnprocessableEntity))
			var er *github.ErrorResponse
			assert.Assert(t, errors.As(err, &er))
			assert.Assert(t, is.Len(er.Errors, 1))
			assert.Check(t, is.Contains(er.Errors[0].Message, tc.wantErr))
		})
	}
	// an oversized edit leaves the comment as it was
	c, _, err := gh.Issues.CreateComment(ctx, "acme", "shop", d.Number, &github.IssueComment{Body: github.String("short")})
	assert.NilError(t, err)
	_, _, err = gh.Issues.EditComment(ctx, "acme", "shop", c.GetID(), &github.IssueComment{Body: github.String(strings.Repeat("a", MaxCommentLength+1))})
	assert.Check(t, is.Equal(statusOf(err), http.StatusUnprocessableEntity))
	got, _, err := gh.Issues.GetComment(ctx, "acme", "shop", c.GetID())
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.GetBody(), "short"))
}

// Only a GitHub App writes check runs: a personal access token gets GitHub's 403, while it
// reads, comments (as its user) and lists check runs like any user.
func TestCheckRunsNeedAnApp(t *testing.T) {
	s, _ := newSim(t, Options{})
	ctx := t.Context()
	d, err := s.OpenPR(ctx, testRepo, PROptions{Author: "alice"})
	assert.NilError(t, err)
	pat := github.NewClient(nil).WithAuthToken(s.PersonalToken("devbot"))
	pat.BaseURL = mustURL(s.URL() + "/")

	_, _, err = pat.Checks.CreateCheckRun(ctx, "acme", "shop", github.CreateCheckRunOptions{Name: "preview", HeadSHA: d.HeadSHA})
	assert.Check(t, is.Equal(statusOf(err), http.StatusForbidden))
	assert.Check(t, is.ErrorContains(err, "You must authenticate via a GitHub App"))

	app := installationClient(t, s, s.InstallationID("acme"))
	cr, _, err := app.Checks.CreateCheckRun(ctx, "acme", "shop", github.CreateCheckRunOptions{Name: "preview", HeadSHA: d.HeadSHA})
	assert.NilError(t, err)
	_, _, err = pat.Checks.UpdateCheckRun(ctx, "acme", "shop", cr.GetID(), github.UpdateCheckRunOptions{Name: "preview", Status: github.String("in_progress")})
	assert.Check(t, is.Equal(statusOf(err), http.StatusForbidden))

	list, _, err := pat.Checks.ListCheckRunsForRef(ctx, "acme", "shop", d.HeadSHA, nil)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(list.GetTotal(), 1))
	assert.Check(t, is.Equal(list.CheckRuns[0].GetStatus(), "queued"), "the refused update changed nothing")
	c, _, err := pat.Issues.CreateComment(ctx, "acme", "shop", d.Number, &github.IssueComment{Body: github.String("hi")})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(c.GetUser().GetLogin(), "devbot"))
}

// Bad credentials get 401 even during an outage: faults come after authentication.
func TestFaultsAfterAuthentication(t *testing.T) {
	f := newFaultFixture(t, Options{})
	f.s.FailFor(time.Minute, http.StatusServiceUnavailable)
	bad := github.NewClient(nil).WithAuthToken("ghs_not-a-token")
	bad.BaseURL = mustURL(f.s.URL() + "/")
	_, _, err := bad.PullRequests.List(t.Context(), "acme", "shop", nil)
	assert.Check(t, is.Equal(statusOf(err), http.StatusUnauthorized))
	_, err = f.list()
	assert.Check(t, is.Equal(statusOf(err), http.StatusServiceUnavailable), "a valid token meets the outage")
}

// A receiver slower than the webhook timeout (GitHub's is 10 s) fails the delivery, which can
// be redelivered.
func TestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := newReceiver(t, "")
	var first atomic.Bool
	inner := slow.srv.Config.Handler
	slow.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			<-release // answers after the simulator has given up
		}
		inner.ServeHTTP(w, r)
	})
	defer close(release)
	s, err := New(Options{WebhookURL: slow.srv.URL, WebhookTimeout: 200 * time.Millisecond})
	assert.NilError(t, err)
	defer s.Close()
	slow.secret = s.WebhookSecret()
	_, err = s.AddRepo(testRepo)
	assert.NilError(t, err)

	d, err := s.OpenPR(t.Context(), testRepo, PROptions{Author: "alice"})
	var de *DeliveryError
	assert.Assert(t, errors.As(err, &de), "want a delivery error, got %v", err)
	assert.Check(t, is.ErrorContains(de, "Timeout"))
	assert.Check(t, is.Equal(deliveryState(s, d.ID), DeliveryFailed))
	assert.NilError(t, s.Redeliver(t.Context(), d.ID))
	assert.Check(t, is.Equal(deliveryState(s, d.ID), DeliveryDelivered))

	def, err := New(Options{})
	assert.NilError(t, err)
	defer def.Close()
	assert.Check(t, is.Equal(def.hook.Timeout, 10*time.Second), "GitHub's timeout by default")
}

func deliveryState(s *Sim, id string) string {
	for _, d := range s.Deliveries() {
		if d.ID == id {
			return d.State
		}
	}
	return ""
}
