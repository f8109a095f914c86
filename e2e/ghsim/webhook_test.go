package ghsim

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestScriptedActionsSendSignedWebhooks(t *testing.T) {
	type step func(ctx context.Context, s *Sim) (Delivery, error)
	tests := map[string]struct {
		setup []step // run first; their webhooks are not checked
		act   step
		check func(t *testing.T, s *Sim, body any)
	}{
		"open a fork PR": {
			act: func(ctx context.Context, s *Sim) (Delivery, error) {
				return s.OpenPR(ctx, testRepo, PROptions{Author: "eve", Fork: true, Draft: true, Labels: []string{"preview"}, Title: "Add cart"})
			},
			check: func(t *testing.T, s *Sim, body any) {
				ev := body.(*github.PullRequestEvent)
				pr := ev.GetPullRequest()
				assert.Equal(t, ev.GetAction(), "opened")
				assert.Equal(t, pr.GetUser().GetLogin(), "eve")
				assert.Equal(t, pr.GetAuthorAssociation(), "NONE")
				assert.Equal(t, pr.GetHead().GetRepo().GetFullName(), "eve/shop")
				assert.Assert(t, pr.GetHead().GetRepo().GetFork())
				assert.Equal(t, pr.GetBase().GetRepo().GetFullName(), testRepo)
				assert.Assert(t, pr.GetDraft())
				assert.Equal(t, pr.Labels[0].GetName(), "preview")
				assert.Equal(t, ev.GetInstallation().GetID(), s.InstallationID("acme"))
				assert.Equal(t, ev.GetRepo().GetFullName(), testRepo)
			},
		},
		"open as a collaborator": {
			setup: []step{func(ctx context.Context, s *Sim) (Delivery, error) {
				return Delivery{}, s.SetCollaborator(testRepo, "bob", "write")
			}},
			act: func(ctx context.Context, s *Sim) (Delivery, error) {
				return s.OpenPR(ctx, testRepo, PROptions{Author: "bob"})
			},
			check: func(t *testing.T, s *Sim, body any) {
				pr := body.(*github.PullRequestEvent).GetPullRequest()
				assert.Equal(t, pr.GetAuthorAssociation(), "COLLABORATOR")
				assert.Assert(t, !pr.GetHead().GetRepo().GetFork())
			},
		},
		"push": {
			setup: []step{openPR},
			act:   func(ctx context.Context, s *Sim) (Delivery, error) { return s.Push(ctx, testRepo, 1) },
			check: func(t *testing.T, s *Sim, body any) {
				ev := body.(*github.PullRequestEvent)
				assert.Equal(t, ev.GetAction(), "synchronize")
				assert.Assert(t, ev.GetBefore() != ev.GetAfter())
				assert.Equal(t, ev.GetAfter(), ev.GetPullRequest().GetHead().GetSHA())
				pr, err := s.PullRequest(testRepo, 1)
				assert.NilError(t, err)
				assert.Equal(t, pr.GetHead().GetSHA(), ev.GetAfter())
			},
		},
		"close": {
			setup: []step{openPR},
			act:   func(ctx context.Context, s *Sim) (Delivery, error) { return s.ClosePR(ctx, testRepo, 1) },
			check: func(t *testing.T, s *Sim, body any) {
				ev := body.(*github.PullRequestEvent)
				assert.Equal(t, ev.GetAction(), "closed")
				assert.Assert(t, !ev.GetPullRequest().GetMerged())
				assert.Equal(t, ev.GetPullRequest().GetState(), "closed")
			},
		},
		"merge": {
			setup: []step{openPR},
			act:   func(ctx context.Context, s *Sim) (Delivery, error) { return s.MergePR(ctx, testRepo, 1) },
			check: func(t *testing.T, s *Sim, body any) {
				ev := body.(*github.PullRequestEvent)
				assert.Equal(t, ev.GetAction(), "closed")
				assert.Assert(t, ev.GetPullRequest().GetMerged())
				assert.Assert(t, ev.GetPullRequest().GetMergeCommitSHA() != "")
			},
		},
		"reopen": {
			setup: []step{openPR, func(ctx context.Context, s *Sim) (Delivery, error) { return s.ClosePR(ctx, testRepo, 1) }},
			act:   func(ctx context.Context, s *Sim) (Delivery, error) { return s.ReopenPR(ctx, testRepo, 1) },
			check: func(t *testing.T, s *Sim, body any) {
				ev := body.(*github.PullRequestEvent)
				assert.Equal(t, ev.GetAction(), "reopened")
				assert.Equal(t, ev.GetPullRequest().GetState(), "open")
			},
		},
		"label": {
			setup: []step{openPR},
			act:   func(ctx context.Context, s *Sim) (Delivery, error) { return s.Label(ctx, testRepo, 1, "ok-to-preview") },
			check: func(t *testing.T, s *Sim, body any) {
				ev := body.(*github.PullRequestEvent)
				assert.Equal(t, ev.GetAction(), "labeled")
				assert.Equal(t, ev.GetLabel().GetName(), "ok-to-preview")
				assert.Equal(t, len(ev.GetPullRequest().Labels), 1)
			},
		},
		"unlabel": {
			setup: []step{openPR, func(ctx context.Context, s *Sim) (Delivery, error) { return s.Label(ctx, testRepo, 1, "x") }},
			act:   func(ctx context.Context, s *Sim) (Delivery, error) { return s.Unlabel(ctx, testRepo, 1, "x") },
			check: func(t *testing.T, s *Sim, body any) {
				ev := body.(*github.PullRequestEvent)
				assert.Equal(t, ev.GetAction(), "unlabeled")
				assert.Equal(t, ev.GetLabel().GetName(), "x")
				assert.Equal(t, len(ev.GetPullRequest().Labels), 0)
			},
		},
		"ready for review": {
			setup: []step{func(ctx context.Context, s *Sim) (Delivery, error) {
				return s.OpenPR(ctx, testRepo, PROptions{Draft: true})
			}},
			act: func(ctx context.Context, s *Sim) (Delivery, error) { return s.ReadyForReview(ctx, testRepo, 1) },
			check: func(t *testing.T, s *Sim, body any) {
				ev := body.(*github.PullRequestEvent)
				assert.Equal(t, ev.GetAction(), "ready_for_review")
				assert.Assert(t, !ev.GetPullRequest().GetDraft())
			},
		},
		"comment /ok-to-test": {
			setup: []step{openPR, func(ctx context.Context, s *Sim) (Delivery, error) {
				return Delivery{}, s.SetCollaborator(testRepo, "maintainer", "admin")
			}},
			act: func(ctx context.Context, s *Sim) (Delivery, error) {
				return s.Comment(ctx, testRepo, 1, "maintainer", "/ok-to-test")
			},
			check: func(t *testing.T, s *Sim, body any) {
				ev := body.(*github.IssueCommentEvent)
				assert.Equal(t, ev.GetAction(), "created")
				assert.Equal(t, ev.GetComment().GetBody(), "/ok-to-test")
				assert.Equal(t, ev.GetComment().GetUser().GetLogin(), "maintainer")
				assert.Equal(t, ev.GetComment().GetAuthorAssociation(), "COLLABORATOR")
				assert.Equal(t, ev.GetSender().GetLogin(), "maintainer")
				assert.Assert(t, ev.GetIssue().IsPullRequest())
				assert.Equal(t, ev.GetIssue().GetNumber(), 1)
				assert.Equal(t, len(s.Comments(testRepo, 1)), 1)
			},
		},
		"user deletes the bot's comment": {
			setup: []step{openPR, botComment},
			act: func(ctx context.Context, s *Sim) (Delivery, error) {
				return s.DeleteComment(ctx, testRepo, s.Comments(testRepo, 1)[0].GetID(), "alice")
			},
			check: func(t *testing.T, s *Sim, body any) {
				ev := body.(*github.IssueCommentEvent)
				assert.Equal(t, ev.GetAction(), "deleted")
				assert.Equal(t, ev.GetComment().GetUser().GetLogin(), s.BotLogin())
				assert.Check(t, is.Len(s.Comments(testRepo, 1), 0))
			},
		},
		"re-run a check run": {
			setup: []step{openPR, createCheckRun},
			act: func(ctx context.Context, s *Sim) (Delivery, error) {
				pr, _ := s.PullRequest(testRepo, 1)
				return s.RerunCheckRun(ctx, testRepo, s.CheckRuns(testRepo, pr.GetHead().GetSHA())[0].GetID(), "alice")
			},
			check: func(t *testing.T, s *Sim, body any) {
				ev := body.(*github.CheckRunEvent)
				assert.Equal(t, ev.GetAction(), "rerequested")
				assert.Equal(t, ev.GetCheckRun().GetExternalID(), "pr-1")
				assert.Equal(t, ev.GetCheckRun().GetCheckSuite().GetHeadBranch(), "feature-1")
				assert.Equal(t, ev.GetCheckRun().PullRequests[0].GetNumber(), 1)
				assert.Equal(t, ev.GetInstallation().GetID(), s.InstallationID("acme"))
			},
		},
		"re-run a check suite": {
			setup: []step{openPR, createCheckRun},
			act: func(ctx context.Context, s *Sim) (Delivery, error) {
				pr, _ := s.PullRequest(testRepo, 1)
				return s.RerunCheckSuite(ctx, testRepo, pr.GetHead().GetSHA(), "alice")
			},
			check: func(t *testing.T, s *Sim, body any) {
				ev := body.(*github.CheckSuiteEvent)
				assert.Equal(t, ev.GetAction(), "rerequested")
				assert.Equal(t, ev.GetCheckSuite().GetStatus(), "completed")
				assert.Equal(t, ev.GetCheckSuite().GetConclusion(), "failure")
				assert.Equal(t, ev.GetCheckSuite().PullRequests[0].GetNumber(), 1)
				assert.Equal(t, ev.GetCheckSuite().GetApp().GetID(), s.AppID())
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, rcv := newSim(t, Options{WebhookSecret: "s3cret"})
			for _, st := range tc.setup {
				_, err := st(t.Context(), s)
				assert.NilError(t, err)
			}
			before := len(rcv.received())
			d, err := tc.act(t.Context(), s)
			assert.NilError(t, err)
			got := rcv.received()
			assert.Equal(t, len(got), before+1, "one webhook per action")
			last := got[len(got)-1]
			assert.Equal(t, last.ID, d.ID)
			assert.Equal(t, last.Event, d.Event)
			assert.Equal(t, d.State, DeliveryDelivered)
			assert.Equal(t, d.Attempts[0].StatusCode, http.StatusAccepted)
			tc.check(t, s, last.Body)
		})
	}
}

func openPR(ctx context.Context, s *Sim) (Delivery, error) {
	return s.OpenPR(ctx, testRepo, PROptions{Author: "alice"})
}

// botComment writes a comment through the API as the App.
func botComment(ctx context.Context, s *Sim) (Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[testRepo]
	s.addCommentLocked(r, 1, s.BotLogin(), "<!-- catalyst-preview:report -->\nreport")
	return Delivery{}, nil
}

func createCheckRun(ctx context.Context, s *Sim) (Delivery, error) {
	pr, err := s.PullRequest(testRepo, 1)
	if err != nil {
		return Delivery{}, err
	}
	// Through the real API, so the suite exists as on GitHub.
	gh := github.NewClient(nil).WithAuthToken(apiToken(ctx, s))
	gh.BaseURL = mustURL(s.URL() + "/")
	_, _, err = gh.Checks.CreateCheckRun(ctx, "acme", "shop", github.CreateCheckRunOptions{
		Name: "preview", HeadSHA: pr.GetHead().GetSHA(), ExternalID: github.String("pr-1"),
		Conclusion: github.String("failure"),
		Output:     &github.CheckRunOutput{Title: github.String("Build failed"), Summary: github.String("see logs")},
	})
	return Delivery{}, err
}

func TestRedeliveryKeepsTheDeliveryID(t *testing.T) {
	s, rcv := newSim(t, Options{})
	d, err := openPR(t.Context(), s)
	assert.NilError(t, err)
	assert.NilError(t, s.Redeliver(t.Context(), d.ID))

	got := rcv.received()
	assert.Equal(t, len(got), 2)
	assert.Equal(t, got[0].ID, got[1].ID)
	all := s.Deliveries()
	assert.Equal(t, len(all), 1)
	assert.Equal(t, len(all[0].Attempts), 2)
	assert.Assert(t, all[0].Attempts[1].Redelivery)
	assert.ErrorContains(t, s.Redeliver(t.Context(), "nope"), "no delivery")
}

func TestOutOfOrderDelivery(t *testing.T) {
	s, rcv := newSim(t, Options{})
	s.HoldWebhooks(true)
	_, err := openPR(t.Context(), s)
	assert.NilError(t, err)
	push, err := s.Push(t.Context(), testRepo, 1)
	assert.NilError(t, err)
	assert.Equal(t, push.State, DeliveryPending)
	assert.Equal(t, len(rcv.received()), 0, "held")

	assert.NilError(t, s.DeliverPending(t.Context(), true))
	var actions []string
	for _, r := range rcv.received() {
		actions = append(actions, r.Body.(*github.PullRequestEvent).GetAction())
	}
	assert.DeepEqual(t, actions, []string{"synchronize", "opened"})
}

func TestDeliveryFailureIsReported(t *testing.T) {
	s, rcv := newSim(t, Options{})
	rcv.setAnswer(http.StatusServiceUnavailable)
	d, err := openPR(t.Context(), s)
	var de *DeliveryError
	assert.Assert(t, errors.As(err, &de), "got %v", err)
	assert.Equal(t, de.StatusCode, http.StatusServiceUnavailable)
	assert.Equal(t, d.State, DeliveryFailed)
	_, err = s.PullRequest(testRepo, 1)
	assert.NilError(t, err, "the PR exists even though the webhook failed")

	rcv.setAnswer(http.StatusAccepted)
	assert.NilError(t, s.Redeliver(t.Context(), d.ID))
	assert.Equal(t, s.Deliveries()[0].State, DeliveryDelivered)
}

func TestInvalidActions(t *testing.T) {
	s, _ := newSim(t, Options{})
	ctx := t.Context()
	_, err := openPR(ctx, s)
	assert.NilError(t, err)
	_, err = s.MergePR(ctx, testRepo, 1)
	assert.NilError(t, err)
	tests := map[string]func() (Delivery, error){
		"push to merged":     func() (Delivery, error) { return s.Push(ctx, testRepo, 1) },
		"reopen merged":      func() (Delivery, error) { return s.ReopenPR(ctx, testRepo, 1) },
		"close closed":       func() (Delivery, error) { return s.ClosePR(ctx, testRepo, 1) },
		"unknown PR":         func() (Delivery, error) { return s.Push(ctx, testRepo, 9) },
		"unknown repo":       func() (Delivery, error) { return s.OpenPR(ctx, "no/such", PROptions{}) },
		"unlabel missing":    func() (Delivery, error) { return s.Unlabel(ctx, testRepo, 1, "x") },
		"suite without runs": func() (Delivery, error) { return s.RerunCheckSuite(ctx, testRepo, "abc", "u") },
	}
	for name, act := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := act()
			assert.ErrorContains(t, err, "ghsim:")
		})
	}
	_, err = s.AddRepo("bad")
	assert.ErrorContains(t, err, "want owner/name")
}
