package preview

import (
	"encoding/json"
	"errors"
	"testing"

	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func prNamespace(ann map[string]string) *corev1.Namespace {
	base := map[string]string{AnnotationRepo: "acme/shop", AnnotationHeadSHA: "aaa", AnnotationPRState: PRStateOpen}
	for k, v := range ann {
		base[k] = v
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pr-shop-42", ResourceVersion: "7",
		Labels: map[string]string{LabelManaged: ManagedTrue, LabelPR: "42"}, Annotations: base}}
}

// Requests are written against the resourceVersion they were checked on: a conflict (the
// trigger or a webhook wrote meanwhile) re-reads and re-checks, a few times, then says so.
func TestRequestConflicts(t *testing.T) {
	tests := map[string]struct {
		conflicts int
		wantKind  Kind
		patches   int
	}{
		"no conflict":            {conflicts: 0, patches: 1},
		"one conflict, re-read":  {conflicts: 1, patches: 2},
		"conflicting every time": {conflicts: 100, wantKind: KindConflict, patches: maxRequestAttempts},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kube := fake.NewClientset(prNamespace(nil))
			patches := 0
			var body map[string]any
			kube.PrependReactor("patch", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
				patches++
				_ = json.Unmarshal(a.(k8stesting.PatchAction).GetPatch(), &body)
				if patches <= tc.conflicts {
					return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "namespaces"}, "pr-shop-42", errors.New("changed"))
				}
				return false, nil, nil
			})
			c := New(Clients{Kube: kube, Tekton: tektonfake.NewSimpleClientset()}, Options{Actor: "alice"})
			res, err := c.Retry(t.Context(), Ref{Repo: "acme/shop", Number: 42})
			assert.Equal(t, patches, tc.patches)
			if tc.wantKind != "" {
				assert.Equal(t, KindOf(err), tc.wantKind)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, res.SHA, "aaa")
			meta := body["metadata"].(map[string]any)
			assert.Equal(t, meta["resourceVersion"], "7", "written against the version checked")
			assert.Equal(t, meta["annotations"].(map[string]any)[AnnotationRetestBy], "alice")
		})
	}
}

func TestRetryRefusals(t *testing.T) {
	tests := map[string]struct {
		ann  map[string]string
		kind Kind
		msg  string
	}{
		"closed":           {ann: map[string]string{AnnotationPRState: PRStateMerged}, kind: KindInvalid, msg: "is merged: nothing to retry"},
		"waiting approval": {ann: map[string]string{AnnotationGate: GateApproval}, kind: KindInvalid, msg: "/ok-to-test"},
		"draft":            {ann: map[string]string{AnnotationGate: GateDraft}, kind: KindInvalid, msg: "draft"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kube := fake.NewClientset(prNamespace(tc.ann))
			c := New(Clients{Kube: kube, Tekton: tektonfake.NewSimpleClientset()}, Options{Actor: "alice"})
			_, err := c.Retry(t.Context(), Ref{Namespace: "pr-shop-42"})
			assert.Equal(t, KindOf(err), tc.kind)
			assert.Check(t, is.ErrorContains(err, tc.msg))
			for _, a := range kube.Actions() {
				assert.Check(t, a.GetVerb() != "patch", "a refused request writes nothing")
			}
		})
	}
}
