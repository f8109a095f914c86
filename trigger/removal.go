package trigger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/trigger/record"
)

// A removal request (preview.RemovalRequest, written by previewctl delete and gc with the
// user's identity, or by the TTL below) makes gateFor answer GateRemoved and the namespace's
// reconcile tear the environment down like a close: stop its runs, run the cleanup pipeline,
// delete the namespace. The pull request stays open, so before the namespace goes its record
// moves to a pending record: resync and redelivered webhooks then find the removal there and
// change nothing, while a push (a new head SHA) or a /retest lifts it and deploys again.

// namespaceBound are annotations that describe the namespace's contents, not the pull request:
// a record promoted to a new namespace must provision and fetch a token afresh.
var namespaceBound = []string{
	preview.AnnotationProvisionedHash, preview.AnnotationProvisionedAt, preview.AnnotationTokenExpiresAt,
	preview.AnnotationRemovalReported, preview.AnnotationGate,
}

// keepRecord writes the namespace's record as a pending record (idempotent).
func (c *Controller) keepRecord(ctx context.Context, ns *corev1.Namespace, rec record.PR) error {
	ann := record.Clone(ns.Annotations)
	for _, k := range namespaceBound {
		delete(ann, k)
	}
	ann[preview.AnnotationGate] = preview.GateRemoved
	cm := record.PendingRecord(ns.Name, c.SystemNamespace, rec.Repo, rec.Number, ann)
	cms := c.Kube.CoreV1().ConfigMaps(c.SystemNamespace)
	_, err := cms.Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": cm.Labels, "annotations": ann}})
		_, err = cms.Patch(ctx, cm.Name, types.MergePatchType, body, metav1.PatchOptions{})
	}
	if err != nil {
		return fmt.Errorf("keep the record of %s as pending record: %w", ns.Name, err)
	}
	return nil
}

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}
