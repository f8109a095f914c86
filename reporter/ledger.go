package reporter

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/preview"
)

// GitHub is what the reporter asks of one installation. githubapp.Adapter implements it.
type GitHub interface {
	CreateCheckRun(ctx context.Context, owner, repo string, opts github.CreateCheckRunOptions) (*github.CheckRun, error)
	UpdateCheckRun(ctx context.Context, owner, repo string, id int64, opts github.UpdateCheckRunOptions) (*github.CheckRun, error)
	ListCheckRunsForRef(ctx context.Context, owner, repo, ref string, f githubapp.CheckRunFilter) ([]*github.CheckRun, error)
	UpsertKnownComment(ctx context.Context, owner, repo string, number int, marker, body string, knownID int64) (int64, error)
}

var _ GitHub = (*githubapp.Adapter)(nil)

// GitHubClients hands out per-installation clients.
type GitHubClients interface {
	For(installationID int64) (GitHub, error)
}

// ClientsFrom adapts githubapp's client cache to what the reporter needs.
func ClientsFrom(c *githubapp.Clients) GitHubClients { return appClients{c} }

type appClients struct{ *githubapp.Clients }

func (a appClients) For(installationID int64) (GitHub, error) {
	return a.ForInstallation(installationID)
}

// Surfaces of the ledger.
const (
	surfaceCheckRun = "check_run"
	surfaceComment  = "comment"
)

// fingerprint is the ledger entry of a report on one surface, "<phase>/<state>/<progress>".
// state covers what changes the verdict or what a reader must act on (phase, commit, attempt,
// check run name, failed task and class, retry time, stop reason, preview URL, gate, removal
// time, details link): a change there is always sent. progress covers what only shows the
// report moving (the current task, the elapsed time in steps of interval, the queue position
// in coarse buckets): a change there is sent at most once per interval per surface, and only
// while the installation's write budget has room. The rendering itself is not hashed: a
// reporter upgrade that changes wording re-renders nothing until the state moves.
func fingerprint(r Report, surface string, interval time.Duration) string {
	key := []string{surface, string(r.Phase), r.SHA, strconv.Itoa(r.Attempt), r.PipelineRun, r.DetailsURL}
	var progress []string
	switch r.Phase {
	case PhaseSucceeded:
		key = append(key, r.PreviewURL)
	case PhaseFailed:
		key = append(key, r.FailedTask, r.FailureClass, r.RetryAt.Format(time.RFC3339))
	case PhaseSuperseded, PhaseCancelled:
		key = append(key, r.StopReason, r.SupersededBy)
	case PhaseWaiting:
		key = append(key, r.Gate)
	case PhaseQueued:
		if surface == surfaceComment {
			// Learning the position is news (the first one is shown at once); moving up in
			// the queue is progress.
			key = append(key, strconv.FormatBool(r.QueuePosition > 0))
			progress = append(progress, strconv.Itoa(queueBucket(r.QueuePosition)))
		}
	case PhaseRunning:
		progress = append(progress, r.CurrentTask)
		if interval > 0 && !r.Started.IsZero() {
			progress = append(progress, strconv.FormatInt(int64(r.At.Sub(r.Started)/interval), 10))
		}
	case PhaseRemoved:
		key = append(key, r.StopReason, r.RemovedAt.Format(time.RFC3339))
	}
	if surface == surfaceCheckRun {
		key = append(key, r.CheckRunName)
	}
	return string(r.Phase) + "/" + digest(key) + "/" + digest(progress)
}

func digest(parts []string) string {
	if len(parts) == 0 {
		return "-"
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:6])
}

// queueBucket coarsens a queue position so that draining a queue of n costs O(n) comment edits
// in all: a waiting pull request's comment changes when it gets within 5 of the front and when
// it is next, not at every move (which would cost about n²/2). The comment shows the exact
// position at the time it was written, and when that was.
func queueBucket(position int) int {
	switch {
	case position <= 0:
		return 0 // unknown
	case position == 1:
		return 1
	case position <= 5:
		return 2
	}
	return 3
}

func phaseOfEntry(entry string) Phase {
	p, _, _ := strings.Cut(entry, "/")
	return Phase(p)
}

// stateOfEntry is the entry without its progress part.
func stateOfEntry(entry string) string {
	if i := strings.LastIndexByte(entry, '/'); i > strings.IndexByte(entry, '/') {
		return entry[:i]
	}
	return entry
}

// writeKind is what a surface needs.
type writeKind int

const (
	writeNone     writeKind = iota
	writeProgress           // optional: shows movement; paced and dropped when the budget is short
	writeState              // required: the state changed
)

// due compares what GitHub shows (recorded, written at lastAt) with the current entry. A
// progress change waits until interval has passed since the last write; wait says when to
// look again for one.
func due(recorded, entry string, lastAt, now time.Time, interval time.Duration) (writeKind, time.Duration) {
	switch {
	case recorded == entry:
		return writeNone, 0
	case stateOfEntry(recorded) != stateOfEntry(entry):
		return writeState, 0
	case interval <= 0:
		return writeNone, 0
	case now.Sub(lastAt) < interval:
		return writeNone, lastAt.Add(interval).Sub(now)
	}
	return writeProgress, 0
}

// classifyWait holds back a failure until the trigger has classified it (and, for an
// infrastructure failure, decided on a retry), for at most window: reporting "failed", then
// "failed (infrastructure)", then "retrying" would cost three writes per surface for one state
// no one reads. It only ever delays a verdict; first feedback (queued, deploying) is never held.
func classifyWait(r Report, window time.Duration, now time.Time) time.Duration {
	if r.Phase != PhaseFailed || r.Finished.IsZero() {
		return 0
	}
	if r.FailureClass != "" && (r.FailureClass != "infrastructure" || !r.RetryAt.IsZero()) {
		return 0
	}
	return max(0, r.Finished.Add(window).Sub(now))
}

// neverReported is true when no attempt at a commit has been reported on its check run, nor
// is about to be: no ID, no intent, no fingerprint.
func neverReported(attempts []*pipelinev1.PipelineRun) bool {
	for _, a := range attempts {
		for k := range a.Annotations {
			if k == preview.AnnotationCheckRunID || k == preview.AnnotationCheckRunIntent || k == preview.AnnotationReportHash ||
				strings.HasPrefix(k, preview.AnnotationReportedPhase) {
				return false
			}
		}
	}
	return true
}

// checkRunSync is what syncing a commit's check run leaves: its ID (0: none), whether it is
// still open (not completed), and when progress is due again.
type checkRunSync struct {
	id   int64
	open bool
	next time.Duration
}

// syncCheckRun sends the report of a commit's latest attempt to the commit's check run when its
// fingerprint differs from the attempt's ledger annotation. attempts are the commit's runs,
// oldest first; a new attempt reuses the check run a sibling recorded.
func (c *Controller) syncCheckRun(ctx context.Context, gh GitHub, attempts []*pipelinev1.PipelineRun, r *Report) (checkRunSync, error) {
	latest := attempts[len(attempts)-1]
	entry := fingerprint(*r, surfaceCheckRun, c.ProgressInterval)
	res := checkRunSync{id: checkRunIDOf(attempts), open: r.Phase == PhaseQueued || r.Phase == PhaseRunning || r.Phase == PhaseFailed && !r.RetryAt.IsZero()}
	res.open = res.open && res.id != 0
	kind, wait := due(latest.Annotations[preview.AnnotationReportHash], entry, parseTime(latest.Annotations[preview.AnnotationReportedAt]), r.At, c.ProgressInterval)
	res.next = c.progressNext(*r, wait)
	if kind == writeNone || latest.Annotations[preview.AnnotationReportRefused] == stateOfEntry(entry) {
		return res, nil
	}
	// The cache may not show our last write yet: confirm with the apiserver before paying GitHub.
	live, err := c.Tekton.TektonV1().PipelineRuns(latest.Namespace).Get(ctx, latest.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("read pipelinerun %s: %w", r.PipelineRun, err)
	}
	latest = live
	attempts = append(attempts[:len(attempts)-1:len(attempts)-1], latest)
	res.id = checkRunIDOf(attempts)
	_, hash, _ := strings.Cut(entry, "/")
	phaseKey := preview.AnnotationReportedPhase + string(r.Phase)
	previous := latest.Annotations[preview.AnnotationReportHash]
	kind, wait = due(previous, entry, parseTime(latest.Annotations[preview.AnnotationReportedAt]), r.At, c.ProgressInterval)
	res.next = c.progressNext(*r, wait)
	switch {
	case kind == writeNone || latest.Annotations[preview.AnnotationReportRefused] == stateOfEntry(entry):
		return res, nil
	case latest.Annotations[phaseKey] == hash:
		// Sent, but Tekton's controller put back the report-hash it had read before our patch:
		// it updates annotations with its own stale copy winning (pipelinerun.go
		// updateLabelsAndAnnotations). The per-phase key, written once, keeps its value;
		// repair the record without calling GitHub.
		c.Log.Info("repaired reverted report-hash", zap.String("namespace", r.Namespace), zap.String("pipelinerun", r.PipelineRun))
		return res, c.annotateRun(ctx, latest, map[string]string{preview.AnnotationReportHash: entry})
	}
	owner, repo := preview.SplitRepo(r.Repo)
	if res.id == 0 && !neverReported(attempts) {
		// A create may have reached GitHub without its ID being recorded (the patch after it
		// failed, or the reporter stopped): look once; the ID is then recorded. A commit never
		// reported costs no lookup.
		found, err := gh.ListCheckRunsForRef(ctx, owner, repo, r.SHA, githubapp.CheckRunFilter{ExternalID: externalID(r.Namespace, r.SHA)})
		if err != nil {
			return res, c.sendFailed(ctx, surfaceCheckRun, r, latest, nil, entry, fmt.Errorf("find check run of %s: %w", r.SHA, err))
		}
		if len(found) > 0 {
			res.id = found[len(found)-1].GetID()
		}
	}
	c.attachExcerpt(ctx, r)
	o := renderCheckRun(*r)
	wctx := ctx
	if kind == writeProgress {
		wctx = githubapp.BestEffort(ctx)
	}
	if res.id == 0 {
		if err := c.annotateRun(ctx, latest, map[string]string{preview.AnnotationCheckRunIntent: r.At.UTC().Format(time.RFC3339)}); err != nil {
			return res, err
		}
		var run *github.CheckRun
		run, err = gh.CreateCheckRun(wctx, owner, repo, o.create(r.SHA))
		res.id = run.GetID()
	} else {
		_, err = gh.UpdateCheckRun(wctx, owner, repo, res.id, o.update())
	}
	if githubapp.IsDeferred(err) {
		res.next = c.ProgressInterval
		return res, nil
	}
	c.Metrics.reported(surfaceCheckRun, err)
	if err != nil {
		return res, c.sendFailed(ctx, surfaceCheckRun, r, latest, nil, entry, fmt.Errorf("send check run of %s: %w", r.SHA, err))
	}
	res.open = o.Status != "completed"
	c.Log.Info("reported check run", zap.String("namespace", r.Namespace), zap.String("pipelinerun", r.PipelineRun),
		zap.String("sha", r.SHA), zap.String("phase", string(r.Phase)), zap.Int64("check_run", res.id))
	firstVerdict := r.Phase.terminal() && latest.Annotations[phaseKey] == ""
	ann := map[string]string{preview.AnnotationCheckRunID: strconv.FormatInt(res.id, 10), preview.AnnotationReportHash: entry,
		phaseKey: hash, preview.AnnotationReportedAt: r.At.UTC().Format(time.RFC3339Nano)}
	if err := c.annotateRun(ctx, latest, ann); err != nil {
		return res, err
	}
	if firstVerdict {
		// Counted once the verdict is recorded: a failed patch means the report is sent again
		// and counted then, and the per-phase key, written once, keeps a repair from counting.
		c.Metrics.deployment(*r)
	}
	return res, nil
}

// progressNext is when a report that shows movement should be looked at again.
func (c *Controller) progressNext(r Report, wait time.Duration) time.Duration {
	if r.Phase != PhaseRunning || c.ProgressInterval <= 0 {
		return 0
	}
	return cmp.Or(wait, c.ProgressInterval)
}

// sendFailed classifies a GitHub error. Rate limits and an open breaker are returned (the
// work is requeued when calls are allowed again); other retryable errors are returned too. An
// answer that says GitHub refused the report for good (422, 404, 410, a 403 that is not a rate
// limit) is recorded on the ledger object, reported as an Event on the namespace and a metric,
// and not retried until the report changes.
func (c *Controller) sendFailed(ctx context.Context, surface string, r *Report, run *pipelinev1.PipelineRun, ns *corev1.Namespace, entry string, err error) error {
	if _, ok := githubapp.RetryAfter(err); ok || githubapp.IsRetryable(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	code := githubapp.StatusCode(err)
	c.Metrics.refused(surface, code)
	c.Log.Error("github refused the report, not retrying until it changes", zap.String("namespace", r.Namespace),
		zap.String("surface", surface), zap.String("sha", r.SHA), zap.Int("status", code), zap.Error(err))
	c.eventf(r.Namespace, corev1.EventTypeWarning, "GitHubRefused", "GitHub refused the %s for commit %s (HTTP %d); not retried until the report changes: %v",
		strings.ReplaceAll(surface, "_", " "), short(r.SHA), code, err)
	if run != nil {
		return c.annotateRun(ctx, run, map[string]string{preview.AnnotationReportRefused: stateOfEntry(entry)})
	}
	return nil // the comment's refusal is recorded with the namespace's ledger
}

// eventf records an Event on the PR namespace.
func (c *Controller) eventf(namespace, kind, reason, format string, args ...any) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if live, err := c.namespaces.Get(namespace); err == nil {
		ns = live
	}
	c.Recorder.Eventf(ns, kind, reason, format, args...)
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func (c *Controller) annotateRun(ctx context.Context, run *pipelinev1.PipelineRun, ann map[string]string) error {
	body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}}) // strings only: cannot fail
	_, err := c.Tekton.TektonV1().PipelineRuns(run.Namespace).Patch(ctx, run.Name, types.MergePatchType, body, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("record check run on %s/%s: %w", run.Namespace, run.Name, err)
	}
	return nil
}

func checkRunIDOf(attempts []*pipelinev1.PipelineRun) int64 {
	for i := len(attempts) - 1; i >= 0; i-- {
		if id, err := strconv.ParseInt(attempts[i].Annotations[preview.AnnotationCheckRunID], 10, 64); err == nil && id > 0 {
			return id
		}
	}
	return 0
}

// completeCheckRun closes a check run whose run or namespace went away before it finished, so
// that no commit shows a deployment in progress forever. It reports whether the check run is
// settled (completed, or refused for good).
func (c *Controller) completeCheckRun(ctx context.Context, gh GitHub, r Report, id int64) (bool, error) {
	owner, repo := preview.SplitRepo(r.Repo)
	_, err := gh.UpdateCheckRun(ctx, owner, repo, id, renderCheckRun(r).update())
	c.Metrics.reported(surfaceCheckRun, err)
	if err == nil {
		c.Log.Info("completed orphaned check run", zap.String("namespace", r.Namespace), zap.String("sha", r.SHA), zap.Int64("check_run", id))
		return true, nil
	}
	if err := c.sendFailed(ctx, surfaceCheckRun, &r, nil, nil, "", fmt.Errorf("complete check run of %s: %w", r.SHA, err)); err != nil {
		return false, err
	}
	return true, nil
}

// nsLedger collects what one reconcile records on the namespace, written in one patch.
type nsLedger struct {
	ann        map[string]any
	finalizers []string // add
	release    bool     // remove the reporter's finalizer
}

func (l *nsLedger) set(k string, v any) {
	if l.ann == nil {
		l.ann = map[string]any{}
	}
	l.ann[k] = v
}

// commentSync is what syncing the comment needs to record; done is false when the comment does
// not show the report yet.
type commentSync struct{ next time.Duration }

// syncComment upserts the PR comment when its fingerprint differs from the namespace's ledger,
// recording the result in l.
func (c *Controller) syncComment(ctx context.Context, gh GitHub, rec prRecord, r *Report, l *nsLedger) (commentSync, error) {
	entry := fingerprint(*r, surfaceComment, c.ProgressInterval)
	var res commentSync
	kind, wait := due(rec.CommentHash, entry, rec.CommentAt, r.At, c.ProgressInterval)
	res.next = c.progressNext(*r, wait)
	if kind != writeNone && rec.CommentRefused != stateOfEntry(entry) { // confirm with the apiserver, as for check runs
		live, err := c.Kube.CoreV1().Namespaces().Get(ctx, rec.Namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("read namespace %s: %w", rec.Namespace, err)
		}
		rec, _ = recordOf(live)
		kind, wait = due(rec.CommentHash, entry, rec.CommentAt, r.At, c.ProgressInterval)
		res.next = c.progressNext(*r, wait)
	}
	if kind == writeNone || rec.CommentRefused == stateOfEntry(entry) {
		return res, nil
	}
	c.attachExcerpt(ctx, r)
	owner, repo := preview.SplitRepo(rec.Repo)
	wctx := ctx
	if kind == writeProgress {
		wctx = githubapp.BestEffort(ctx)
	}
	id, err := gh.UpsertKnownComment(wctx, owner, repo, rec.Number, commentMarker, renderComment(*r), rec.CommentID)
	if githubapp.IsDeferred(err) {
		res.next = c.ProgressInterval
		return res, nil
	}
	c.Metrics.reported(surfaceComment, err)
	switch {
	case err == nil:
		l.set(preview.AnnotationCommentID, strconv.FormatInt(id, 10))
		l.set(preview.AnnotationCommentHash, entry)
		l.set(preview.AnnotationCommentAt, r.At.UTC().Format(time.RFC3339Nano))
		l.set(preview.AnnotationCommentRefused, nil)
		if r.Phase.terminal() {
			v, _ := json.Marshal(Verdict{Phase: r.Phase, SHA: r.SHA, Title: title(*r), PreviewURL: when(r.Phase == PhaseSucceeded, r.PreviewURL), At: cmp.Or(r.Finished, r.At)})
			l.set(preview.AnnotationLastVerdict, string(v))
		}
		c.Log.Info("reported comment", zap.String("namespace", rec.Namespace), zap.String("sha", r.SHA),
			zap.String("phase", string(r.Phase)), zap.Int64("comment", id))
		return res, nil
	case r.Phase == PhaseRemoved && !githubapp.IsRetryable(err):
		// GitHub refused for good (PR or repository gone, App uninstalled): waiting cannot
		// help, so let the namespace go and tell the operators.
		c.eventf(rec.Namespace, corev1.EventTypeWarning, "FinalReportFailed", "final PR comment not written, releasing the namespace: %v", err)
		c.Log.Error("final comment failed, releasing namespace", zap.String("namespace", rec.Namespace), zap.Error(err))
		c.Metrics.refused(surfaceComment, githubapp.StatusCode(err))
		return res, nil
	}
	err = fmt.Errorf("upsert comment on %s#%d: %w", rec.Repo, rec.Number, err)
	if ferr := c.sendFailed(ctx, surfaceComment, r, nil, nil, entry, err); ferr != nil {
		return res, ferr
	}
	l.set(preview.AnnotationCommentRefused, stateOfEntry(entry))
	return res, nil
}

// patchNamespace writes the reconcile's namespace ledger in one strategic merge patch, which
// adds to or removes from the finalizer list without replacing it and without a
// resourceVersion, so it never conflicts with the trigger's writes.
func (c *Controller) patchNamespace(ctx context.Context, name string, l nsLedger) error {
	meta := map[string]any{}
	if len(l.ann) > 0 {
		meta["annotations"] = l.ann
	}
	if len(l.finalizers) > 0 {
		meta["finalizers"] = l.finalizers
	}
	if l.release {
		meta["$deleteFromPrimitiveList/finalizers"] = []string{preview.FinalizerReport}
	}
	if len(meta) == 0 {
		return nil
	}
	body, _ := json.Marshal(map[string]any{"metadata": meta})
	_, err := c.Kube.CoreV1().Namespaces().Patch(ctx, name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("record reports on namespace %s: %w", name, err)
	}
	return nil
}
