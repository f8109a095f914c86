package reporter

import (
	"cmp"
	"context"
	"encoding/json"
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
	"k8s.io/apimachinery/pkg/labels"

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
	bySHA, children, err := c.runsOf(name)
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
	var l nsLedger
	reports := map[string]*Report{}
	open := map[string]int64{}
	for _, sha := range slices.Sorted(maps.Keys(bySHA)) {
		attempts := bySHA[sha]
		latest := attempts[len(attempts)-1]
		r := buildReport(rec, latest, children[latest.Name], c.Config.GitHub.DetailsURL, now)
		r.CheckRunName = c.checkRunName(rec, sha)
		if wait := classifyWait(r, c.ClassifyWait, now); wait > 0 {
			after = minPositive(after, wait)
			if id := checkRunIDOf(attempts); id != 0 {
				open[sha] = id
			}
			continue
		}
		if sha != rec.HeadSHA && neverReported(attempts) && r.Phase != PhaseSucceeded && r.Phase != PhaseFailed {
			// Superseded (or about to be) before anyone was told about it: nothing to say.
			continue
		}
		if rec.Terminating != nil && !r.Phase.terminal() {
			r = removedReport(rec, sha, "")
		}
		reports[sha] = &r
		if c.CommentOnly {
			continue
		}
		res, err := c.syncCheckRun(ctx, gh, attempts, &r)
		if res.open {
			open[sha] = res.id
		}
		after = minPositive(after, res.next)
		if err != nil {
			if _, ok := githubapp.RetryAfter(err); ok {
				return 0, err // no call would pass now; the requeue renders what is current then
			}
			errs = append(errs, err)
		}
	}
	// Check runs left open by runs that are gone (deleted, or with the namespace) are closed.
	for _, sha := range slices.Sorted(maps.Keys(rec.OpenCheckRuns)) {
		if len(bySHA[sha]) > 0 || c.CommentOnly {
			continue
		}
		why := stopRunRemoved
		if rec.Terminating != nil {
			why = ""
		}
		done, err := c.completeCheckRun(ctx, gh, removedReport(rec, sha, why), rec.OpenCheckRuns[sha])
		if err != nil {
			if _, ok := githubapp.RetryAfter(err); ok {
				return 0, err
			}
			errs = append(errs, err)
		}
		if !done {
			open[sha] = rec.OpenCheckRuns[sha]
		}
	}
	if !maps.Equal(open, rec.OpenCheckRuns) {
		if len(open) == 0 {
			l.set(preview.AnnotationOpenCheckRuns, nil)
		} else {
			raw, _ := json.Marshal(open)
			l.set(preview.AnnotationOpenCheckRuns, string(raw))
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
		res, err := c.syncComment(ctx, gh, rec, subject, &l)
		after = minPositive(after, res.next)
		if err != nil {
			if _, ok := githubapp.RetryAfter(err); ok {
				return 0, errors.Join(append(errs, err, c.patchNamespace(ctx, name, l))...)
			}
			errs = append(errs, err)
		}
		written := l.ann[preview.AnnotationCommentHash] != nil || rec.CommentHash != ""
		switch {
		case subject.Phase == PhaseRemoved && rec.HasFinalizer && err == nil && len(open) == 0:
			l.set(preview.AnnotationRemovalReported, "true")
			l.release = true
		case subject.Phase != PhaseRemoved && !rec.HasFinalizer && rec.Terminating == nil && written:
			l.finalizers = []string{preview.FinalizerReport}
		}
	}
	if err := c.patchNamespace(ctx, name, l); err != nil {
		errs = append(errs, err)
	}
	return after, errors.Join(errs...)
}

// removedReport closes a commit's check run whose run or namespace went away: "environment
// removed", or with why stopRunRemoved, "deployment removed".
func removedReport(rec prRecord, sha, why string) Report {
	r := prReport(rec, PhaseRemoved, time.Time{})
	r.SHA, r.StopReason, r.CheckRunName = sha, why, CheckRunName
	if rec.Terminating == nil {
		r.RemovedAt = time.Time{}
	}
	return r
}

// checkRunName is CheckRunName, unless another pull request of the repository with a lower
// number deploys the same commit: then its own number is added, so that the two check runs
// are told apart (GitHub shows one check run per name and commit). The first pull request
// keeps the plain name that branch protection may require.
func (c *Controller) checkRunName(rec prRecord, sha string) string {
	runs, err := c.runs.List(labels.SelectorFromSet(labels.Set{preview.LabelSHA: sha, preview.LabelKind: preview.KindDeploy}))
	if err != nil {
		return CheckRunName
	}
	for _, run := range runs {
		if run.Namespace == rec.Namespace || run.Labels[preview.LabelRepo] != preview.RepoLabelValue(rec.Repo) {
			continue
		}
		if n, err := strconv.Atoi(run.Labels[preview.LabelPR]); err == nil && n > 0 && n < rec.Number {
			return fmt.Sprintf("%s (#%d)", CheckRunName, rec.Number)
		}
	}
	return CheckRunName
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
