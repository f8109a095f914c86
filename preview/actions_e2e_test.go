package preview_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/e2e/podfate"
	"github.com/catalyst-preview/catalyst/e2e/system"
	"github.com/catalyst-preview/catalyst/preview"
)

// Retry and delete against the whole product (trigger and reporter as real processes, GitHub
// simulated): retry is answered by a new attempt, as /retest is; delete stops the running
// attempt, runs the cleanup, waits until the namespace is gone, and leaves the record so that
// explain says what happened.
func TestRetryAndDeleteThroughTheTrigger(t *testing.T) {
	w := newWorld(t)
	// Start builds the binaries (with -race), which on a loaded machine takes minutes: the
	// test's own bound starts after it.
	sys, err := system.Start(t.Context(), system.Options{Cluster: w.c, Repositories: []string{w.repo}})
	assert.NilError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			sys.MarkFailed()
		}
		assert.Check(t, sys.Stop(), "the trigger and the reporter stop without a data race")
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	d, err := sys.Sim.OpenPR(ctx, w.repo, ghsim.PROptions{Author: "octocat", AuthorAssociation: "OWNER"})
	assert.NilError(t, err)
	ref := preview.Ref{Repo: w.repo, Number: d.Number}
	admin := w.as("")
	waitState := func(want preview.State) *preview.Detail {
		t.Helper()
		var got *preview.Detail
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			e, err := admin.Get(ctx, ref, preview.GetOptions{})
			if err != nil {
				return poll.Continue("%v", err)
			}
			if e.State != want {
				return poll.Continue("state %s (%s), want %s", e.State, e.Reason, want)
			}
			got = e
			return poll.Success()
		}, poll.WithTimeout(2*time.Minute), poll.WithDelay(200*time.Millisecond))
		return got
	}
	first := waitState(preview.StateReady)

	r, err := admin.Retry(ctx, ref)
	assert.NilError(t, err)
	assert.Equal(t, r.SHA, d.HeadSHA)
	retried := preview.PipelineRunName(preview.KindDeploy, d.HeadSHA, 2)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		run, err := w.tekton.TektonV1().PipelineRuns(first.Namespace).Get(ctx, retried, metav1.GetOptions{})
		if err != nil {
			return poll.Continue("%v", err)
		}
		if run.Annotations[preview.AnnotationCause] != preview.CauseRetest || run.Annotations[preview.AnnotationRetestNonceOf] != r.Nonce {
			return poll.Error(errors.New("attempt 2 does not answer the retry: " + run.Annotations[preview.AnnotationCause]))
		}
		return poll.Success()
	}, poll.WithTimeout(time.Minute), poll.WithDelay(200*time.Millisecond))
	waitState(preview.StateReady)

	// A push whose build is running when the delete comes: the delete has a run to stop.
	sys.Driver.SetPolicy(func(t podfate.Task) podfate.Fate {
		if t.Task == "cleanup" {
			return podfate.Fate{}
		}
		return podfate.Fate{Hold: true}
	})
	_, err = sys.Sim.Push(ctx, w.repo, d.Number)
	assert.NilError(t, err)
	waitState(preview.StateBuilding)

	var stages []preview.DeleteStage
	res, err := admin.Delete(ctx, ref, preview.DeleteOptions{Wait: true, Progress: func(p preview.DeleteProgress) {
		t.Logf("%s %s", p.Stage, p.Message)
		stages = append(stages, p.Stage)
	}})
	assert.NilError(t, err)
	assert.Equal(t, res.Stage, preview.DeleteGone)
	order := []preview.DeleteStage{preview.DeleteRequested, preview.DeleteStopping, preview.DeleteCleanup, preview.DeleteDeleting, preview.DeleteGone}
	assert.Assert(t, slices.IsSortedFunc(stages, func(a, b preview.DeleteStage) int { return slices.Index(order, a) - slices.Index(order, b) }), "stages out of order: %v", stages)
	assert.Check(t, slices.Contains(stages, preview.DeleteDeleting), "stages: %v", stages)
	_, err = w.kube.CoreV1().Namespaces().Get(ctx, first.Namespace, metav1.GetOptions{})
	assert.Assert(t, apierrors.IsNotFound(err), "the namespace is gone when Delete returns: %v", err)

	conv, err := sys.Sim.Conversation(w.repo, d.Number)
	assert.NilError(t, err)
	assert.Check(t, is.Contains(conv.String(), "was removed"), "the reporter's comment says the environment went")

	e, err := w.as("").Explain(ctx, ref)
	assert.NilError(t, err)
	assert.Equal(t, e.Stop, preview.LinkNotRemoved)
	assert.Check(t, is.Contains(e.Links[len(e.Links)-1].Detail, "removed (delete) by "))

	_, err = admin.Delete(ctx, ref, preview.DeleteOptions{})
	assert.Assert(t, errors.Is(err, preview.ErrNotFound), "got %v", err)
	l, err := admin.List(ctx, preview.ListOptions{Repo: w.repo})
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(strings.Join(names(l.Items), " "), first.Namespace))
}
