package trigger

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/trigger/record"
)

// pendingRecordTTL: a record that saw no event for this long (an abandoned fork PR of an
// unconfigured repository, say) is forgotten. An event recreates it.
const pendingRecordTTL = 30 * 24 * time.Hour

// reconcilePending handles a pull request that has no environment: checks /ok-to-test
// approvals, posts the notice that explains why nothing runs, and promotes the record to a
// namespace once the pull request may deploy.
func (c *Controller) reconcilePending(ctx context.Context, name string) (time.Duration, error) {
	cm, err := c.pendings.ConfigMaps(c.SystemNamespace).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get pending record %s from cache: %w", name, err)
	}
	rec := record.Of(cm.Name, cm.Labels, cm.Annotations)
	log := c.Log.With(zap.String("repo", rec.Repo), zap.Int("pr", rec.Number), zap.String("namespace", rec.Name))
	_, configured := c.Config.Repository(rec.Repo)

	if rec.Ann[preview.AnnotationApprovalRequestBy] != "" {
		return 0, c.verifyApproval(ctx, rec, c.patchPendingAnnotations)
	}
	gate := record.Gate(c.Config.Preview, configured, rec.Ann)
	last, _ := time.Parse(time.RFC3339, rec.Ann[preview.AnnotationLastEvent])
	if gate == preview.GateClosed || (!last.IsZero() && c.Now().Sub(last) > pendingRecordTTL) {
		return 0, c.deletePending(ctx, cm.Name, cm.ResourceVersion)
	}
	if gate == "" {
		return c.promote(ctx, rec, cm.ResourceVersion, log)
	}
	meta := map[string]*string{}
	if rec.Ann[preview.AnnotationGate] != gate {
		meta[preview.AnnotationGate] = &gate
	}
	switch gate {
	case preview.GateUnconfigured:
		if err := c.postNotice(ctx, rec, unconfiguredNotice(rec.Repo, c.Config.GitHub.SetupDocsURL), meta); err != nil {
			return 0, err
		}
	case preview.GateApproval:
		if n, ok := approvalNoticeFor(rec.Ann, c.Config.Preview.ApprovalSticky); ok {
			if err := c.postNotice(ctx, rec, n, meta); err != nil {
				return 0, err
			}
		}
	}
	if len(meta) > 0 {
		return 0, c.patchPendingAnnotations(ctx, cm.Name, meta)
	}
	return 0, nil
}

// promote turns a pending record into the PR namespace. A namespace of the same name that is
// still being deleted (a close just before a reopen) is waited for.
func (c *Controller) promote(ctx context.Context, rec prRecord, rv string, log *zap.Logger) (time.Duration, error) {
	existing, err := c.Kube.CoreV1().Namespaces().Get(ctx, rec.Name, metav1.GetOptions{})
	switch {
	case err == nil && existing.DeletionTimestamp != nil:
		return 5 * time.Second, nil
	case err == nil:
		meta := map[string]*string{}
		for k, v := range rec.Ann {
			if existing.Annotations[k] != v {
				meta[k] = &v
			}
		}
		if err := c.patchNamespaceAnnotations(ctx, rec.Name, meta); err != nil {
			return 0, err
		}
	case apierrors.IsNotFound(err):
		ann := record.Clone(rec.Ann)
		delete(ann, preview.AnnotationGate)
		ns := record.NewNamespace(rec.Name, rec.Repo, rec.Number, ann, c.Config.Preview)
		if _, err := c.Kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return 0, fmt.Errorf("create namespace %s: %w", rec.Name, err)
		}
		log.Info("promoted pending record to a preview namespace")
	default:
		return 0, fmt.Errorf("get namespace %s: %w", rec.Name, err)
	}
	return 0, c.deletePending(ctx, rec.Name, rv)
}

func (c *Controller) deletePending(ctx context.Context, name, rv string) error {
	err := c.Kube.CoreV1().ConfigMaps(c.SystemNamespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pending record %s: %w", name, err)
	}
	return nil
}
