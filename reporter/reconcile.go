package reporter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/preview"
)

// Reconcile brings GitHub in step with one PR namespace: the check run of every commit that
// has runs, and the comment about the head commit (or the removal of the environment). It says
// when to look again (0: on the next event). Everything it knows is local to the call.
func (c *Controller) Reconcile(ctx context.Context, name string) (time.Duration, error) {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get namespace %s from cache: %w", name, err)
	}
	rec, ok := recordOf(ns)
	if !ok {
		return 0, nil // managed, but not a pull request's namespace
	}
	bySHA, taskRuns, err := c.runsOf(name)
	if err != nil {
		return 0, err
	}
	gh, err := c.GitHub.For(rec.Installation)
	if err != nil {
		return 0, fmt.Errorf("github client for %s: %w", rec.Repo, err)
	}
	now := c.Now()
	var after time.Duration
	var errs []error
	reports := map[string]*Report{}
	for _, sha := range slices.Sorted(maps.Keys(bySHA)) {
		attempts := bySHA[sha]
		latest := attempts[len(attempts)-1]
		r := buildReport(rec, latest, taskRuns[latest.Name], c.Config.GitHub.DetailsURL, now)
		if wait := settleWait(r, c.Settle, now); wait > 0 {
			after = minPositive(after, wait)
			continue
		}
		reports[sha] = &r
		if err := c.syncCheckRun(ctx, gh, attempts, &r); err != nil {
			if _, ok := githubapp.RetryAfter(err); ok {
				return 0, err // no call would pass now; the requeue renders what is current then
			}
			errs = append(errs, err)
		}
	}
	var subject *Report
	switch head := reports[rec.HeadSHA]; {
	case rec.Terminating != nil:
		if rec.HasFinalizer {
			r := prReport(rec, PhaseRemoved, now)
			subject = &r
		}
		after = minPositive(after, c.surfaceStuck(ns, rec, now))
	case head != nil:
		subject = head
	case len(bySHA[rec.HeadSHA]) == 0 && rec.Gate != "" && rec.CommentID != 0:
		// The comment describes the head commit even when a gate holds it; a gated pull
		// request that was never reported gets no comment (the trigger posts its notices).
		r := prReport(rec, PhaseWaiting, now)
		subject = &r
	}
	if subject != nil {
		if err := c.syncComment(ctx, gh, ns, rec, subject); err != nil {
			errs = append(errs, err)
		}
	}
	return after, errors.Join(errs...)
}

// surfaceStuck tells operators about a namespace that takes too long to delete, with an
// Event on it and an error log (the gauge is computed at scrape time), and says when to look
// again.
func (c *Controller) surfaceStuck(ns *corev1.Namespace, rec prRecord, now time.Time) time.Duration {
	age := now.Sub(*rec.Terminating)
	if age < c.StuckAfter {
		return c.StuckAfter - age
	}
	var why []string
	for _, cond := range ns.Status.Conditions {
		if cond.Status == corev1.ConditionTrue {
			why = append(why, string(cond.Type)+": "+cond.Message)
		}
	}
	if rec.HasFinalizer {
		why = append(why, preview.FinalizerReport+": the final PR comment is not written yet")
	}
	msg := fmt.Sprintf("namespace deleting for %s: %s", age.Round(time.Second), cmp.Or(strings.Join(why, "; "), "no condition reported"))
	c.Recorder.Event(ns, corev1.EventTypeWarning, "StuckTerminating", msg)
	c.Log.Error("namespace stuck terminating", zap.String("namespace", rec.Namespace), zap.Duration("for", age), zap.Strings("why", why))
	return c.StuckAfter
}

func sortAttempts(runs []*pipelinev1.PipelineRun) {
	attempt := func(r *pipelinev1.PipelineRun) int {
		n, _ := strconv.Atoi(r.Annotations[preview.AnnotationAttempt])
		return n
	}
	slices.SortFunc(runs, func(a, b *pipelinev1.PipelineRun) int {
		return cmp.Or(cmp.Compare(attempt(a), attempt(b)), a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})
}

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}
