package cluster_test

import (
	"encoding/json"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

func TestInfrastructureFailures(t *testing.T) {
	tests := map[string]struct {
		annotation string
		value      string
		reason     string
		message    string
	}{
		"evicted": {
			annotation: cluster.AnnotationEvict, value: "The node was low on resource: ephemeral-storage.",
			reason: "PodEvicted", message: "The node was low on resource: ephemeral-storage.",
		},
		"image pull": {
			annotation: cluster.AnnotationImagePullFailure, value: "true",
			reason: "TaskRunImagePullFailed", message: `Back-off pulling image "example.invalid/go"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			pr := e.createPipelineRun(t, inline, map[string]string{cluster.ForTask(tc.annotation, "build"): tc.value})
			pr = e.waitPipelineRun(t, pr.Name, corev1.ConditionFalse, "Failed")
			build := e.waitTaskRun(t, pr.Name, "build", finished, "finished")
			cond := build.Status.GetCondition(apis.ConditionSucceeded)
			assert.Equal(t, cond.Reason, tc.reason)
			assert.Check(t, is.Contains(cond.Message, tc.message))
		})
	}
}

func TestPlainAnnotationAppliesToEveryTask(t *testing.T) {
	e := newEnv(t)
	pr := e.createPipelineRun(t, inline, map[string]string{cluster.AnnotationFail: "2"})
	pr = e.waitPipelineRun(t, pr.Name, corev1.ConditionFalse, "Failed")
	for _, task := range []string{"build", "report"} { // deploy never starts
		tr := e.waitTaskRun(t, pr.Name, task, finished, "finished")
		cond := tr.Status.GetCondition(apis.ConditionSucceeded)
		assert.Check(t, is.Equal(cond.Reason, "StepFailed"), task)
		assert.Check(t, is.Contains(cond.Message, "exited with code 2: Error"), task)
	}
}

// A test (or a driver such as e2e/podfate) may hold a pod and decide its fate later, in the
// same patch that removes the hold.
func TestFateDecidedAfterHold(t *testing.T) {
	tests := map[string]struct {
		annotations map[string]string
		reason      string
	}{
		"succeed":    {annotations: map[string]string{}, reason: "Succeeded"},
		"fail":       {annotations: map[string]string{cluster.AnnotationFail: "1"}, reason: "StepFailed"},
		"evict":      {annotations: map[string]string{cluster.AnnotationEvict: "true"}, reason: "PodEvicted"},
		"image pull": {annotations: map[string]string{cluster.AnnotationImagePullFailure: "true"}, reason: "TaskRunImagePullFailed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			pr := e.createPipelineRun(t, inline, map[string]string{cluster.ForTask(cluster.AnnotationHold, "build"): "true"})
			build := e.waitTaskRun(t, pr.Name, "build", running, "running")

			ann := map[string]any{cluster.ForTask(cluster.AnnotationHold, "build"): nil}
			for k, v := range tc.annotations {
				ann[k] = v
			}
			patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
			assert.NilError(t, err)
			_, err = e.c.Kube().CoreV1().Pods(e.ns).Patch(t.Context(), build.Status.PodName, types.MergePatchType, patch, metav1.PatchOptions{})
			assert.NilError(t, err)

			build = e.waitTaskRun(t, pr.Name, "build", finished, "finished")
			assert.Equal(t, build.Status.GetCondition(apis.ConditionSucceeded).Reason, tc.reason)
		})
	}
}
