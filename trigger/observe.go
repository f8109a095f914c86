package trigger

import (
	"slices"
	"strconv"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"

	"github.com/catalyst-preview/catalyst/preview"
)

// infrastructureReasons are TaskRun failure reasons that say nothing about the user's code.
var infrastructureReasons = map[string]bool{
	string(pipelinev1.TaskRunReasonImagePullFailed):   true,
	string(pipelinev1.TaskRunReasonPodEvicted):        true,
	string(pipelinev1.TaskRunReasonPodCreationFailed): true,
	"ExceededResourceQuota":                           true, // tekton pod.ReasonExceededResourceQuota
	"ExceededNodeResources":                           true, // tekton pod.ReasonExceededNodeResources
}

// runInfoOf reads a PipelineRun (and the TaskRuns and CustomRuns it owns, by name) into what
// planning needs.
func runInfoOf(pr *pipelinev1.PipelineRun, taskRuns map[string]*pipelinev1.TaskRun, customRuns map[string]*v1beta1.CustomRun, graceful []string) runInfo {
	r := runInfo{
		Name:       pr.Name,
		Kind:       pr.Labels[preview.LabelKind],
		SHA:        pr.Labels[preview.LabelSHA],
		Cause:      pr.Annotations[preview.AnnotationCause],
		Nonce:      pr.Annotations[preview.AnnotationRetestNonceOf],
		Created:    pr.CreationTimestamp.Time,
		SpecStatus: string(pr.Spec.Status),
	}
	if r.Kind == "" {
		r.Kind = preview.KindDeploy
	}
	r.Attempt, _ = strconv.Atoi(pr.Annotations[preview.AnnotationAttempt])
	if r.Attempt == 0 {
		r.Attempt = 1
	}
	cond := pr.Status.GetCondition(apis.ConditionSucceeded)
	if cond != nil && cond.Status != corev1.ConditionUnknown {
		r.Done = true
		r.Succeeded = cond.Status == corev1.ConditionTrue
		if pr.Status.CompletionTime != nil {
			r.Finished = pr.Status.CompletionTime.Time
		} else {
			r.Finished = cond.LastTransitionTime.Inner.Time
		}
	}
	for _, child := range pr.Status.ChildReferences {
		if slices.Contains(graceful, child.PipelineTaskName) {
			r.InGraceful = true
		}
		if tr := taskRuns[child.Name]; tr != nil && !tr.IsDone() {
			r.Unsettled = true
		}
		if cr := customRuns[child.Name]; cr != nil && !cr.IsDone() {
			r.Unsettled = true
		}
	}
	if r.Done && !r.Succeeded {
		r.Infrastructure = infrastructureFailure(pr, taskRuns, customRuns)
	}
	return r
}

// infrastructureFailure: some TaskRun of the run failed for a reason outside the user's code,
// or a TaskRun timed out without ever getting a pod (quota refusal, nothing schedulable).
// The build is a CustomRun whose failure reason is its build TaskRun's (trigger/buildrun).
func infrastructureFailure(pr *pipelinev1.PipelineRun, taskRuns map[string]*pipelinev1.TaskRun, customRuns map[string]*v1beta1.CustomRun) bool {
	if pr.Annotations[preview.AnnotationFailureClass] == "infrastructure" {
		return true
	}
	if pr.IsCancelled() || pr.IsGracefullyCancelled() || pr.IsGracefullyStopped() {
		return false
	}
	for _, child := range pr.Status.ChildReferences {
		if cr := customRuns[child.Name]; cr != nil {
			if cond := cr.Status.GetCondition(apis.ConditionSucceeded); cond != nil && cond.IsFalse() && infrastructureReasons[cond.Reason] {
				return true
			}
			continue
		}
		tr := taskRuns[child.Name]
		if tr == nil {
			continue
		}
		cond := tr.Status.GetCondition(apis.ConditionSucceeded)
		if cond == nil || cond.Status != corev1.ConditionFalse {
			continue
		}
		if infrastructureReasons[cond.Reason] {
			return true
		}
		if cond.Reason == string(pipelinev1.TaskRunReasonTimedOut) && tr.Status.PodName == "" {
			return true
		}
	}
	return false
}

// queuedRunOf reads a deploy PipelineRun for the global queue.
func queuedRunOf(pr *pipelinev1.PipelineRun) queuedRun {
	q := queuedRun{
		Namespace: pr.Namespace,
		Name:      pr.Name,
		Repo:      pr.Labels[preview.LabelRepo],
		Queued:    pr.CreationTimestamp.Time,
	}
	if t, err := time.Parse(time.RFC3339Nano, pr.Annotations[preview.AnnotationQueuedAt]); err == nil {
		q.Queued = t
	}
	q.Position, _ = strconv.Atoi(pr.Annotations[preview.AnnotationQueuePosition])
	if pr.IsDone() {
		return q
	}
	switch {
	case pr.IsPending():
		q.Pending = true
	case pr.IsCancelled():
		// A cancelled run frees its slot at once: Tekton deletes its pods.
	default:
		q.Running = true
	}
	return q
}
