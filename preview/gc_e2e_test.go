package preview_test

import (
	"testing"

	"gotest.tools/v3/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/preview"
)

// gc against the apiserver, as an operator whose RBAC names their own namespaces only (so the
// test does not meet other tests' environments): --dry-run writes nothing; gc records a
// removal request (reason gc, the caller's identity) on the closed pull request's namespace,
// kept or not, and leaves the open one alone. The trigger carries the request out as it does
// delete's (TestRetryAndDeleteThroughTheTrigger).
func TestGCRequestsRemovalOfClosed(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	open := w.env(1, nil)
	closed := w.env(2, map[string]string{preview.AnnotationPRState: preview.PRStateClosed})
	keptClosed := w.env(3, map[string]string{preview.AnnotationPRState: preview.PRStateMerged})
	_, err := w.kube.CoreV1().Namespaces().Patch(ctx, keptClosed, "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"`+preview.LabelKeep+`":"true"}}}`), metav1.PatchOptions{})
	assert.NilError(t, err)
	mine := []string{open, closed, keptClosed}
	for _, ns := range mine {
		w.grant("carol", ns, preview.OperatorRules())
	}
	carol := w.as("carol")
	removal := func(ns string) map[string]string {
		t.Helper()
		got, err := w.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		assert.NilError(t, err)
		return map[string]string{"by": got.Annotations[preview.AnnotationRemoveBy], "reason": got.Annotations[preview.AnnotationRemoveReason],
			"sha": got.Annotations[preview.AnnotationRemoveSHA]}
	}
	none := map[string]string{"by": "", "reason": "", "sha": ""}

	dry, err := carol.GC(ctx, preview.GCOptions{Closed: true, DryRun: true, Namespaces: mine})
	assert.NilError(t, err)
	assert.DeepEqual(t, gcActions(dry), map[string]string{closed: preview.GCWouldRemove, keptClosed: preview.GCWouldRemove})
	for _, ns := range mine {
		assert.DeepEqual(t, removal(ns), none)
	}

	res, err := carol.GC(ctx, preview.GCOptions{Closed: true, Namespaces: mine})
	assert.NilError(t, err)
	assert.DeepEqual(t, gcActions(res), map[string]string{closed: preview.GCRequested, keptClosed: preview.GCRequested})
	assert.DeepEqual(t, removal(closed), map[string]string{"by": "carol", "reason": preview.RemoveReasonGC, "sha": sha(2)})
	assert.DeepEqual(t, removal(keptClosed), map[string]string{"by": "carol", "reason": preview.RemoveReasonGC, "sha": sha(3)})
	assert.DeepEqual(t, removal(open), none)

	// Asked again, it says the removal is under way and requests nothing new.
	again, err := carol.GC(ctx, preview.GCOptions{Closed: true, Namespaces: mine})
	assert.NilError(t, err)
	assert.DeepEqual(t, gcActions(again), map[string]string{closed: preview.GCUnderway, keptClosed: preview.GCUnderway})
}

func gcActions(r *preview.GCResult) map[string]string {
	out := map[string]string{}
	for _, it := range r.Items {
		out[it.Environment.Namespace] = it.Action + it.Error
	}
	return out
}
