package reporter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	UpsertComment(ctx context.Context, owner, repo string, number int, marker, body string, knownID int64) (int64, error)
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

// fingerprint is the ledger entry of a report on one surface, "<phase>/<hash>". It covers
// phase-level state only: what changes the verdict or what a reader must act on (phase,
// commit, attempt, failed task and class, retry time, stop reason, preview URL, gate, removal
// time, details link). Task-by-task progress and durations are rendered but not fingerprinted,
// so a successful deployment costs one write per phase per surface (queued, running,
// succeeded) instead of one per task transition. The queue position is fingerprinted for the
// comment only: the author waiting in the queue sees it move, the Checks tab does not churn. The rendering itself is not
// hashed either: a reporter upgrade that changes wording re-renders nothing until the state
// moves.
func fingerprint(r Report, surface string) string {
	key := []string{surface, string(r.Phase), r.SHA, strconv.Itoa(r.Attempt), r.PipelineRun, r.DetailsURL}
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
			key = append(key, strconv.Itoa(r.QueuePosition))
		}
	case PhaseRemoved:
		key = append(key, r.RemovedAt.Format(time.RFC3339))
	}
	sum := sha256.Sum256([]byte(strings.Join(key, "\x00")))
	return string(r.Phase) + "/" + hex.EncodeToString(sum[:8])
}

func phaseOfEntry(entry string) Phase {
	p, _, _ := strings.Cut(entry, "/")
	return Phase(p)
}

// settleWait holds back a transitional state that the trigger or Tekton resolves a moment
// later, for at most window: a failure not yet classified by the trigger (nor, for an
// infrastructure failure, given its retry time), and a queued run without its queue position or
// not yet started by Tekton. Reporting those would cost a write per surface for a state no one
// reads; a state that lasts is reported when the window ends.
func settleWait(r Report, window time.Duration, now time.Time) time.Duration {
	var since time.Time
	switch {
	case r.Phase == PhaseFailed && (r.FailureClass == "" || r.FailureClass == "infrastructure" && r.RetryAt.IsZero()):
		since = r.Finished
	case r.Phase == PhaseQueued && r.QueuePosition == 0:
		since = r.Queued
	}
	if since.IsZero() {
		return 0
	}
	return max(0, since.Add(window).Sub(now))
}

// syncCheckRun sends the report of a commit's latest attempt to the commit's check run when its
// fingerprint differs from the attempt's ledger annotation. attempts are the commit's runs,
// oldest first; a new attempt reuses the check run a sibling recorded.
func (c *Controller) syncCheckRun(ctx context.Context, gh GitHub, attempts []*pipelinev1.PipelineRun, r *Report) error {
	latest := attempts[len(attempts)-1]
	entry := fingerprint(*r, surfaceCheckRun)
	_, hash, _ := strings.Cut(entry, "/")
	phaseKey := preview.AnnotationReportedPhase + string(r.Phase)
	if latest.Annotations[preview.AnnotationReportHash] == entry {
		return nil
	}
	// The cache may not show our last write yet: confirm with the apiserver before paying GitHub.
	latest, err := c.Tekton.TektonV1().PipelineRuns(latest.Namespace).Get(ctx, latest.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read pipelinerun %s: %w", r.PipelineRun, err)
	}
	switch {
	case latest.Annotations[preview.AnnotationReportHash] == entry:
		return nil
	case latest.Annotations[phaseKey] == hash:
		// Sent, but Tekton's controller put back the report-hash it had read before our patch:
		// it updates annotations with its own stale copy winning (pipelinerun.go
		// updateLabelsAndAnnotations). The per-phase key, written once, keeps its value;
		// repair the record without calling GitHub.
		c.Log.Info("repaired reverted report-hash", zap.String("namespace", r.Namespace), zap.String("pipelinerun", r.PipelineRun))
		return c.annotateRun(ctx, latest, map[string]string{preview.AnnotationReportHash: entry})
	}
	previous := latest.Annotations[preview.AnnotationReportHash]
	attempts = append(attempts[:len(attempts)-1:len(attempts)-1], latest)
	owner, repo := preview.SplitRepo(r.Repo)
	id := checkRunIDOf(attempts)
	if id == 0 {
		// No attempt recorded an ID: either none was created, or its annotation was lost
		// (written to GitHub, then the patch failed). Look once; the ID is then recorded.
		found, err := gh.ListCheckRunsForRef(ctx, owner, repo, r.SHA, githubapp.CheckRunFilter{Name: CheckRunName, ExternalID: externalID(r.Namespace, r.SHA)})
		if err != nil {
			return fmt.Errorf("find check run of %s: %w", r.SHA, err)
		}
		if len(found) > 0 {
			id = found[0].GetID()
		}
	}
	c.attachExcerpt(ctx, r)
	o := renderCheckRun(*r)
	if id == 0 {
		var run *github.CheckRun
		run, err = gh.CreateCheckRun(ctx, owner, repo, o.create(r.SHA))
		id = run.GetID()
	} else {
		_, err = gh.UpdateCheckRun(ctx, owner, repo, id, o.update())
	}
	if c.Metrics.reported(surfaceCheckRun, err); err != nil {
		return fmt.Errorf("send check run of %s: %w", r.SHA, err)
	}
	if r.Phase.terminal() && !phaseOfEntry(previous).terminal() {
		c.Metrics.deployment(*r)
	}
	c.Log.Info("reported check run", zap.String("namespace", r.Namespace), zap.String("pipelinerun", r.PipelineRun),
		zap.String("sha", r.SHA), zap.String("phase", string(r.Phase)), zap.Int64("check_run", id))
	return c.annotateRun(ctx, latest, map[string]string{
		preview.AnnotationCheckRunID: strconv.FormatInt(id, 10), preview.AnnotationReportHash: entry, phaseKey: hash,
	})
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

// syncComment upserts the PR comment when its fingerprint differs from the namespace's ledger
// annotation, and holds the namespace's finalizer while a comment exists; for the removal
// report it lets the finalizer go instead.
func (c *Controller) syncComment(ctx context.Context, gh GitHub, ns *corev1.Namespace, rec prRecord, r *Report) error {
	entry := fingerprint(*r, surfaceComment)
	if rec.CommentHash != entry { // confirm with the apiserver, as for check runs
		live, err := c.Kube.CoreV1().Namespaces().Get(ctx, rec.Namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read namespace %s: %w", rec.Namespace, err)
		}
		rec, _ = recordOf(live)
	}
	removing := r.Phase == PhaseRemoved
	ann := map[string]string{}
	if rec.CommentHash != entry {
		c.attachExcerpt(ctx, r)
		owner, repo := preview.SplitRepo(rec.Repo)
		id, err := gh.UpsertComment(ctx, owner, repo, rec.Number, commentMarker, renderComment(*r), rec.CommentID)
		c.Metrics.reported(surfaceComment, err)
		switch {
		case err == nil:
			ann[preview.AnnotationCommentID], ann[preview.AnnotationCommentHash] = strconv.FormatInt(id, 10), entry
			c.Log.Info("reported comment", zap.String("namespace", rec.Namespace), zap.String("sha", r.SHA),
				zap.String("phase", string(r.Phase)), zap.Int64("comment", id))
		case removing && !githubapp.IsRetryable(err):
			// GitHub refused for good (PR or repository gone, App uninstalled): waiting
			// cannot help, so let the namespace go and tell the operators.
			c.Recorder.Eventf(ns, corev1.EventTypeWarning, "FinalReportFailed", "final PR comment not written, releasing the namespace: %v", err)
			c.Log.Error("final comment failed, releasing namespace", zap.String("namespace", rec.Namespace), zap.Error(err))
		default:
			return fmt.Errorf("upsert comment on %s#%d: %w", rec.Repo, rec.Number, err)
		}
	}
	meta := map[string]any{}
	switch {
	case removing && rec.HasFinalizer:
		ann[preview.AnnotationRemovalReported] = "true"
		meta["$deleteFromPrimitiveList/finalizers"] = []string{preview.FinalizerReport}
	case !removing && !rec.HasFinalizer && rec.Terminating == nil:
		meta["finalizers"] = []string{preview.FinalizerReport}
	}
	if len(ann) == 0 && len(meta) == 0 {
		return nil
	}
	meta["annotations"] = ann
	// A strategic merge patch adds to or removes from the finalizer list without replacing
	// it and without a resourceVersion, so it never conflicts with the trigger's writes.
	body, _ := json.Marshal(map[string]any{"metadata": meta})
	_, err := c.Kube.CoreV1().Namespaces().Patch(ctx, rec.Namespace, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("record comment on namespace %s: %w", rec.Namespace, err)
	}
	return nil
}
