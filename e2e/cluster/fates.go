package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Annotations that decide what KWOK does with a Tekton TaskRun pod (a pod owned by a TaskRun).
// Put them on the PipelineRun (or a standalone TaskRun): Tekton copies PipelineRun annotations to
// its TaskRuns and TaskRun annotations to their pods, where the KWOK stages in stages/pod.yaml
// read them. Each key applies to every task of the run; the same key with the suffix
// ".<pipeline task name>" (see [ForTask]) applies to that task only and wins over the plain key.
// Values must be non-empty. Without any of them a pod succeeds at once: every step exits 0.
const (
	// AnnotationDelay delays the pod's fate (success, failure, eviction) by a Go duration
	// ("1.5s", "2m") counted from the moment the pod is Running and not held.
	AnnotationDelay = "e2e.catalyst.dev/delay"
	// AnnotationFail makes every step exit with this code (an integer, e.g. "1"): pod phase
	// Failed, TaskRun reason StepFailed, PipelineRun reason Failed, TaskRun message `"step-<name>" exited with code <code>: <reason>`.
	AnnotationFail = "e2e.catalyst.dev/fail"
	// AnnotationFailReason is the steps' termination reason with AnnotationFail ("Error" if unset).
	// Tekton shows it at the end of the TaskRun's failure message.
	AnnotationFailReason = "e2e.catalyst.dev/fail-reason"
	// AnnotationResults is every step's termination message when it ends, which is how Tekton
	// reads results: use [ResultsMessage] to build it, e.g.
	// `[{"key":"url","value":"https://pr-1.example.test","type":1}]`.
	AnnotationResults = "e2e.catalyst.dev/results"
	// AnnotationHold keeps the pod Running (or Pending, with AnnotationImagePullFailure),
	// whatever its other annotations, until the annotation is removed from the pod (not the
	// PipelineRun: Tekton copies annotations only when it creates objects): see [Release]. A
	// test can also decide the fate then, patching the pod's annotations in the same update.
	AnnotationHold = "e2e.catalyst.dev/hold"
	// AnnotationEvict makes the kubelet evict the running pod: phase Failed, reason Evicted,
	// the value as message ("true" gives "The node was low on resource: memory."). Tekton fails
	// the TaskRun with reason PodEvicted.
	AnnotationEvict = "e2e.catalyst.dev/evict"
	// AnnotationImagePullFailure leaves the pod Pending with its containers waiting in
	// ImagePullBackOff, the value as message ("true" gives `Back-off pulling image "<image>"`).
	// Tekton fails the TaskRun with reason TaskRunImagePullFailed. It applies to any pod (a
	// Deployment's too), and also to a held Running pod once released (it goes back to Pending).
	AnnotationImagePullFailure = "e2e.catalyst.dev/image-pull-failure"
)

// ForTask returns the annotation key that applies to one pipeline task only, e.g.
// ForTask(AnnotationFail, "deploy") == "e2e.catalyst.dev/fail.deploy".
func ForTask(key, pipelineTask string) string {
	return key + "." + pipelineTask
}

// ResultsMessage renders Tekton results as a termination message for AnnotationResults:
// ResultsMessage(map[string]string{"url": "https://x"}) == `[{"key":"url","value":"https://x","type":1}]`.
func ResultsMessage(results map[string]string) string {
	type runResult struct {
		Key   string `json:"key"`
		Value string `json:"value"`
		Type  int    `json:"type"`
	}
	out := make([]runResult, 0, len(results))
	for _, k := range sortedKeys(results) {
		out = append(out, runResult{Key: k, Value: results[k], Type: 1}) // 1: TaskRunResultType
	}
	data, _ := json.Marshal(out) // cannot fail: strings only
	return string(data)
}

// Release removes AnnotationHold (plain and for this task) from the pods of one pipeline task of
// a PipelineRun, so that they meet their fate. It returns an error if no pod matched, so wait
// until the TaskRun is running (or poll Release) first.
func Release(ctx context.Context, kube kubernetes.Interface, namespace, pipelineRun, pipelineTask string) error {
	selector := fmt.Sprintf("tekton.dev/pipelineRun=%s,tekton.dev/pipelineTask=%s", pipelineRun, pipelineTask)
	pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return fmt.Errorf("release %s/%s task %s: %w", namespace, pipelineRun, pipelineTask, err)
	}
	if len(pods.Items) == 0 {
		return fmt.Errorf("release %s/%s task %s: no pod yet", namespace, pipelineRun, pipelineTask)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{
		AnnotationHold:                        nil,
		ForTask(AnnotationHold, pipelineTask): nil,
	}}})
	for _, p := range pods.Items {
		if _, err := kube.CoreV1().Pods(namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("release pod %s/%s: %w", namespace, p.Name, err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
