package trigger

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/trigger/record"
)

// reconcileNamespace converges one PR namespace: its contents, its runs, its teardown.
func (c *Controller) reconcileNamespace(ctx context.Context, name string) (time.Duration, error) {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get namespace %s from cache: %w", name, err)
	}
	if ns.DeletionTimestamp != nil {
		return 0, nil
	}
	rec := record.Of(ns.Name, ns.Labels, ns.Annotations)
	log := c.Log.With(zap.String("namespace", ns.Name), zap.String("repo", rec.Repo), zap.Int("pr", rec.Number), zap.String("sha", rec.Ann[preview.AnnotationHeadSHA]))
	repoCfg, configured := c.Config.Repository(rec.Repo)

	if rec.Ann[preview.AnnotationApprovalRequestBy] != "" {
		return 0, c.verifyApproval(ctx, rec, c.patchNamespaceAnnotations)
	}

	gate := record.Gate(c.Config.Preview, configured, rec.Ann)
	// A removal request (previewctl delete, gc, the TTL) tears down like a close, even for a
	// repository that left the configuration (an orphan).
	removal := preview.RemovalRequested(rec.Ann)
	teardown := gate == preview.GateClosed || gate == preview.GateLabel || removal
	meta := map[string]*string{}
	if rec.Ann[preview.AnnotationGate] != gate {
		meta[preview.AnnotationGate] = &gate
	}

	if !teardown && configured {
		if err := c.provision(ctx, rec, repoCfg, meta, log); err != nil {
			return 0, err
		}
	}

	runs, err := c.runs.PipelineRuns(ns.Name).List(labels.Everything())
	if err != nil {
		return 0, fmt.Errorf("list pipelineruns of %s: %w", ns.Name, err)
	}
	trs, err := c.taskRuns.TaskRuns(ns.Name).List(labels.Everything())
	if err != nil {
		return 0, fmt.Errorf("list taskruns of %s: %w", ns.Name, err)
	}
	byName := make(map[string]*pipelinev1.TaskRun, len(trs))
	for _, tr := range trs {
		byName[tr.Name] = tr
	}
	crs, err := c.customRuns.CustomRuns(ns.Name).List(labels.Everything())
	if err != nil {
		return 0, fmt.Errorf("list customruns of %s: %w", ns.Name, err)
	}
	customByName := make(map[string]*v1beta1.CustomRun, len(crs))
	for _, cr := range crs {
		customByName[cr.Name] = cr
	}
	obs := observedPR{
		Now:            c.Now(),
		Head:           rec.Ann[preview.AnnotationHeadSHA],
		State:          rec.Ann[preview.AnnotationPRState],
		Gate:           gate,
		Teardown:       teardown,
		RetestSHA:      rec.Ann[preview.AnnotationRetestSHA],
		RetestNonce:    rec.Ann[preview.AnnotationRetestNonce],
		CancelSHA:      rec.Ann[preview.AnnotationCancelSHA],
		MaxAttempts:    c.Config.Preview.Retry.MaxAttempts,
		RetryBaseDelay: c.Config.Preview.Retry.BaseDelay.Duration,
	}
	if cp := c.Config.Preview.CleanupPipeline; cp != nil {
		obs.CleanupPipeline = *cp
	}
	byRun := map[string]*pipelinev1.PipelineRun{}
	for _, pr := range runs {
		info := runInfoOf(pr, byName, customByName, c.Config.Preview.GracefulTasks)
		obs.Runs = append(obs.Runs, info)
		byRun[pr.Name] = pr
		if err := c.classify(ctx, pr, info); err != nil {
			return 0, err
		}
	}
	plan := planRuns(obs)

	for _, s := range plan.Stop {
		if err := c.stop(ctx, byRun[s.Name], s); err != nil {
			return 0, err
		}
		log.Info("stopped pipelinerun", zap.String("pipelinerun", s.Name), zap.Bool("graceful", s.Graceful), zap.String("reason", s.Reason))
	}
	if m := plan.MarkRetry; m != nil {
		if err := c.markRetry(ctx, byRun[m.Name], m.At); err != nil {
			return 0, err
		}
	}
	if plan.Create != nil && configured {
		if err := c.ensureGitToken(ctx, rec, meta, log); err != nil {
			return 0, err
		}
		if err := c.create(ctx, rec, *plan.Create, repoCfg, log); err != nil {
			return 0, err
		}
	}
	if plan.CreateCleanup {
		run := cleanupRun(rec, c.Config.Preview)
		if c.DecorateRun != nil {
			c.DecorateRun(run)
		}
		if _, err := c.Tekton.TektonV1().PipelineRuns(ns.Name).Create(ctx, run, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return 0, fmt.Errorf("create cleanup run %s: %w", run.Name, err)
		}
		log.Info("created cleanup pipelinerun", zap.String("pipelinerun", run.Name))
	}
	if plan.DeleteNamespace {
		if removal && configured && gate != preview.GateClosed {
			if err := c.keepRecord(ctx, ns, rec); err != nil {
				return 0, err
			}
		}
		err := c.Kube.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &ns.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("delete namespace %s: %w", ns.Name, err)
		}
		log.Info("deleted preview namespace")
		return 0, nil
	}

	if gate == preview.GateApproval && !teardown {
		if n, ok := approvalNoticeFor(rec.Ann, c.Config.Preview.ApprovalSticky); ok {
			if err := c.postNotice(ctx, rec, n, meta); err != nil {
				return 0, err
			}
		}
	}
	var ttlAfter time.Duration
	var ttlErr error
	if !teardown && configured {
		ttlAfter, ttlErr = c.reconcileTTL(ctx, ns, rec, meta, log)
	}
	if len(meta) > 0 {
		if err := c.patchNamespaceAnnotations(ctx, ns.Name, meta); err != nil {
			return 0, err
		}
	}
	if ttlErr != nil {
		return 0, ttlErr
	}
	return minPositive(plan.RequeueAfter, ttlAfter), nil
}

// create makes the PipelineRun for a new attempt, started at once when a concurrency slot is
// free and queued as PipelineRunPending otherwise.
func (c *Controller) create(ctx context.Context, rec prRecord, n newRun, repoCfg config.Repository, log *zap.Logger) error {
	name := preview.PipelineRunName(preview.KindDeploy, n.SHA, n.Attempt)
	k := rec.Name + "/" + name
	cached, err := c.queuedRuns()
	if err != nil {
		return err
	}
	started := c.slots.admit(cached, c.limits(), k, preview.RepoLabelValue(rec.Repo), c.Now())
	run := deployRun(rec, n, c.Config.Preview, repoCfg, !started, c.Now())
	if c.DecorateRun != nil {
		c.DecorateRun(run)
	}
	_, err = c.Tekton.TektonV1().PipelineRuns(rec.Name).Create(ctx, run, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		c.slots.forget(k)
		return nil
	case err != nil:
		c.slots.forget(k)
		return fmt.Errorf("create pipelinerun %s/%s: %w", rec.Name, name, err)
	}
	c.Metrics.pipelineRun(rec.Repo, "created")
	if !started {
		c.queue.Add(key{Kind: keyQueue})
	}
	log.Info("created pipelinerun", zap.String("pipelinerun", name), zap.Int("attempt", n.Attempt), zap.String("cause", n.Cause), zap.Bool("queued", !started))
	return nil
}

// stop cancels a run, or stops it gracefully when a helm upgrade may be under way.
func (c *Controller) stop(ctx context.Context, pr *pipelinev1.PipelineRun, s stopRun) error {
	status := pipelinev1.PipelineRunSpecStatusCancelled
	op := "cancelled"
	if s.Graceful {
		status, op = pipelinev1.PipelineRunSpecStatusStoppedRunFinally, "stopped"
	}
	ann := map[string]any{preview.AnnotationStopReason: s.Reason}
	if s.SupersededBy != "" {
		ann[preview.AnnotationSupersededBy] = s.SupersededBy
	}
	patch := map[string]any{
		"metadata": map[string]any{"annotations": ann, "resourceVersion": pr.ResourceVersion},
		"spec":     map[string]any{"status": status},
	}
	if err := c.patchRun(ctx, pr.Namespace, pr.Name, patch); err != nil {
		return fmt.Errorf("stop pipelinerun %s/%s: %w", pr.Namespace, pr.Name, err)
	}
	c.Metrics.pipelineRun(pr.Annotations[preview.AnnotationRepo], op)
	return nil
}

// classify records on a failed run whether it failed for an infrastructure reason, once, so the
// reporter can say so and the decision survives the TaskRuns being garbage-collected.
func (c *Controller) classify(ctx context.Context, pr *pipelinev1.PipelineRun, info runInfo) error {
	if !info.Done || info.Succeeded || info.Kind != preview.KindDeploy || pr.Annotations[preview.AnnotationFailureClass] != "" || info.stopping() || info.Unsettled {
		return nil
	}
	class := "application"
	if info.Infrastructure {
		class = "infrastructure"
	}
	return c.patchRun(ctx, pr.Namespace, pr.Name, map[string]any{"metadata": map[string]any{"annotations": map[string]any{preview.AnnotationFailureClass: class}}})
}

func (c *Controller) markRetry(ctx context.Context, pr *pipelinev1.PipelineRun, at time.Time) error {
	v := at.UTC().Format(time.RFC3339)
	if pr == nil || pr.Annotations[preview.AnnotationRetryAfter] == v {
		return nil
	}
	return c.patchRun(ctx, pr.Namespace, pr.Name, map[string]any{"metadata": map[string]any{"annotations": map[string]any{preview.AnnotationRetryAfter: v}}})
}

func (c *Controller) patchRun(ctx context.Context, namespace, name string, patch map[string]any) error {
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = c.Tekton.TektonV1().PipelineRuns(namespace).Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// patchNamespaceAnnotations sets (or, for nil values, removes) annotations with a merge patch,
// which does not conflict with the webhook's concurrent updates of other keys.
func (c *Controller) patchNamespaceAnnotations(ctx context.Context, name string, ann map[string]*string) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if err != nil {
		return err
	}
	if _, err := c.Kube.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("annotate namespace %s: %w", name, err)
	}
	return nil
}

func (c *Controller) patchPendingAnnotations(ctx context.Context, name string, ann map[string]*string) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if err != nil {
		return err
	}
	if _, err := c.Kube.CoreV1().ConfigMaps(c.SystemNamespace).Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("annotate pending record %s: %w", name, err)
	}
	return nil
}

// verifyApproval checks an /ok-to-test against the commenter's permission on GitHub and records
// the approval for the SHA it was given for, or a refusal notice.
func (c *Controller) verifyApproval(ctx context.Context, rec prRecord, patch func(context.Context, string, map[string]*string) error) error {
	by := rec.Ann[preview.AnnotationApprovalRequestBy]
	sha := rec.Ann[preview.AnnotationApprovalRequestAt]
	gh, err := c.githubFor(rec)
	if err != nil {
		return err
	}
	owner, repo := splitOwnerRepo(rec.Repo)
	perm, err := gh.CollaboratorPermission(ctx, owner, repo, by)
	if err != nil {
		return fmt.Errorf("check permission of %s on %s: %w", by, rec.Repo, err)
	}
	meta := map[string]*string{preview.AnnotationApprovalRequestBy: nil, preview.AnnotationApprovalRequestAt: nil}
	if writePermissions[perm] {
		meta[preview.AnnotationApprovedSHA] = &sha
		meta[preview.AnnotationApprovedBy] = &by
		c.Log.Info("approved untrusted pull request", zap.String("repo", rec.Repo), zap.Int("pr", rec.Number), zap.String("sha", sha), zap.String("by", by))
		if err := c.postNotice(ctx, rec, approvedNotice(by, sha), meta); err != nil {
			return err
		}
	} else {
		c.Log.Warn("approval refused: no write permission", zap.String("repo", rec.Repo), zap.Int("pr", rec.Number), zap.String("by", by), zap.String("permission", perm))
		if err := c.postNotice(ctx, rec, deniedNotice(by, sha), meta); err != nil {
			return err
		}
	}
	return patch(ctx, rec.Name, meta)
}

// postNotice upserts the trigger's comment when the notice differs from the one recorded.
func (c *Controller) postNotice(ctx context.Context, rec prRecord, n notice, meta map[string]*string) error {
	if rec.Ann[preview.AnnotationNotice] == n.Key {
		return nil
	}
	gh, err := c.githubFor(rec)
	if err != nil {
		return err
	}
	known, _ := strconv.ParseInt(rec.Ann[preview.AnnotationNoticeCommentID], 10, 64)
	owner, repo := splitOwnerRepo(rec.Repo)
	id, err := gh.UpsertComment(ctx, owner, repo, rec.Number, NoticeMarker, n.Body, known)
	if err != nil {
		return fmt.Errorf("post %s notice on %s#%d: %w", n.Key, rec.Repo, rec.Number, err)
	}
	key, idStr := n.Key, strconv.FormatInt(id, 10)
	meta[preview.AnnotationNotice] = &key
	meta[preview.AnnotationNoticeCommentID] = &idStr
	return nil
}

// ensureGitToken keeps a fresh installation token in the namespace for the pipeline's fetch:
// it can only read the repository's contents (githubapp.PipelineTokenPermissions). In token
// mode the only token is the operator's own, with all its rights: it is copied only when
// github.copyTokenToPreviews says so, and a copy made before is removed otherwise.
func (c *Controller) ensureGitToken(ctx context.Context, rec prRecord, meta map[string]*string, log *zap.Logger) error {
	if gh := c.Config.GitHub; gh.TokenFile != "" && !gh.CopyTokenToPreviews {
		if rec.Ann[preview.AnnotationTokenExpiresAt] == "" {
			return nil
		}
		err := c.Kube.CoreV1().Secrets(rec.Name).Delete(ctx, preview.GitTokenSecret, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("remove the operator's token from %s: %w", rec.Name, err)
		}
		meta[preview.AnnotationTokenExpiresAt] = nil
		log.Info("removed the git token copy: token mode copies the operator's token only with github.copyTokenToPreviews")
		return nil
	}
	if exp, err := time.Parse(time.RFC3339, rec.Ann[preview.AnnotationTokenExpiresAt]); err == nil && exp.Sub(c.Now()) > tokenMinValidity {
		return nil
	}
	tok, err := c.token(ctx, rec)
	if err != nil {
		var retry time.Duration
		if d, ok := c.RetryAfter(err); ok {
			retry = d
		}
		// A public repository fetches without a token: do not hold the run back for GitHub.
		log.Warn("no installation token for the pipeline's git fetch", zap.Error(err), zap.Duration("retry", retry))
		return nil
	}
	if err := c.applySecret(ctx, rec.Name, preview.GitTokenSecret, map[string][]byte{"token": []byte(tok.value)}); err != nil {
		return err
	}
	v := tok.expires.UTC().Format(time.RFC3339)
	meta[preview.AnnotationTokenExpiresAt] = &v
	return nil
}

// tokenMinValidity: a run may wait in the queue and fetch late; installation tokens last 1 h.
const tokenMinValidity = 40 * time.Minute

// githubFor returns the client of the record's installation.
func (c *Controller) githubFor(rec prRecord) (GitHub, error) {
	inst, _ := strconv.ParseInt(rec.Ann[preview.AnnotationInstallationID], 10, 64)
	gh, err := c.GitHub.For(inst)
	if err != nil {
		return nil, fmt.Errorf("github client for %s: %w", rec.Repo, err)
	}
	return gh, nil
}
