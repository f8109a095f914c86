package buildrun

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	runv1beta1 "github.com/tektoncd/pipeline/pkg/apis/run/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	"github.com/catalyst-preview/catalyst/preview"
)

// Reasons of a CustomRun's Succeeded condition besides Tekton's (CustomRunCancelled,
// CustomRunTimedOut) and the build TaskRun's, which are mirrored as they are (StepFailed,
// PodEvicted, TaskRunImagePullFailed, ...) so that the trigger can tell infrastructure failures.
const (
	ReasonRefused = "BuildRefused" // the CustomRun is not one the trigger builds (see refusal)
	ReasonRunning = "Running"
)

// TaskRunName is the build TaskRun of a CustomRun in the shared builds namespace: the PR
// namespace and the CustomRun's name, cut with a hash to the 63 characters of a label value.
func TaskRunName(namespace, customRun string) string {
	name := namespace + "-" + customRun
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(namespace + "/" + customRun))
	return strings.TrimRight(name[:63-9], "-") + "-" + hex.EncodeToString(sum[:4])
}

// SecretName is the build's credentials Secret (git token, registry push credential), deleted
// as soon as the build ends.
func SecretName(taskRun string) string { return taskRun + "-credentials" }

// Ours: the CustomRun references the build custom task.
func Ours(cr *v1beta1.CustomRun) bool {
	ref := cr.Spec.CustomRef
	return ref != nil && ref.APIVersion == preview.BuildAPIVersion && string(ref.Kind) == preview.BuildKind
}

// observed is what one reconcile of a CustomRun knows.
type observed struct {
	Now     time.Time
	Run     *v1beta1.CustomRun
	TaskRun *pipelinev1.TaskRun // the build TaskRun, nil when there is none
	// Refusal, when not empty, says why this CustomRun is not built. Only computed before the
	// TaskRun exists: it is what the controller checks before handing out credentials.
	Refusal string
}

// plan is the writes that converge one CustomRun and its build.
type plan struct {
	// CreateTaskRun: create the build TaskRun, and its credentials Secret first. The Secret
	// lives as long as the TaskRun (collect deletes it after), so that the reporter can still
	// read what the build's pod mounted to mask it in the build's log.
	CreateTaskRun bool
	CancelTaskRun bool
	// DeleteTaskRun: the TaskRun of that name belongs to an earlier CustomRun of the same name.
	DeleteTaskRun bool
	// Annotate: set preview.AnnotationBuildTaskRun on the CustomRun to this "namespace/name"
	// (the reporter reads the build's log from that TaskRun's pod). Empty when already set.
	Annotate string
	// Status is the CustomRun's new status; nil when it is already right.
	Status       *runv1beta1.CustomRunStatus
	RequeueAfter time.Duration
}

// extraFields go into the CustomRun's status: where the build runs, for the reporter's logs
// and for people reading `kubectl get customrun -o yaml`.
type extraFields struct {
	TaskRun *TaskRunRef `json:"taskRun,omitempty"`
}

// TaskRunRef locates a build TaskRun and its pod.
type TaskRunRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	PodName   string `json:"podName,omitempty"`
}

// planFor is the pure decision of a reconcile: from the CustomRun and its build, what to write.
func planFor(o observed, buildNamespace string) plan {
	var p plan
	cr := o.Run
	tr := o.TaskRun
	if tr != nil && tr.Labels[preview.LabelCustomRunUID] != string(cr.UID) {
		// Left by an earlier CustomRun of the same name: not this run's build.
		return plan{DeleteTaskRun: true, RequeueAfter: time.Second}
	}
	trDone := tr != nil && tr.IsDone()
	status := cr.Status.DeepCopy()
	if status.StartTime == nil {
		status.StartTime = nowPtr(o.Now)
	}
	if tr != nil {
		ref := &TaskRunRef{Namespace: buildNamespace, Name: tr.Name, PodName: tr.Status.PodName}
		_ = status.EncodeExtraFields(extraFields{TaskRun: ref})
	}
	timeout := cr.GetTimeout()
	deadline := status.StartTime.Add(timeout)
	cond := status.GetCondition(apis.ConditionSucceeded)

	switch {
	case cond != nil && !cond.IsUnknown():
		// Finished: only make sure the build is finished too and its credentials gone.
		p.CancelTaskRun = tr != nil && !trDone
	case cr.IsCancelled():
		msg := string(cr.Spec.StatusMessage)
		if msg == "" {
			msg = "the build was cancelled"
		}
		status.MarkCustomRunFailed(string(v1beta1.CustomRunReasonCancelled), "%s", msg)
		p.CancelTaskRun = tr != nil && !trDone
	case tr == nil && o.Refusal != "":
		status.MarkCustomRunFailed(ReasonRefused, "%s", o.Refusal)
	case !trDone && timeout > 0 && !o.Now.Before(deadline):
		status.MarkCustomRunFailed(string(v1beta1.CustomRunReasonTimedOut), "the build did not finish within %s", timeout)
		p.CancelTaskRun = tr != nil
	case tr == nil:
		p.CreateTaskRun = true
		status.MarkCustomRunRunning(ReasonRunning, "build TaskRun %s/%s created", buildNamespace, TaskRunName(cr.Namespace, cr.Name))
		_ = status.EncodeExtraFields(extraFields{TaskRun: &TaskRunRef{Namespace: buildNamespace, Name: TaskRunName(cr.Namespace, cr.Name)}})
	default:
		mirror(status, tr, buildNamespace)
	}
	if final := status.GetCondition(apis.ConditionSucceeded); (final == nil || final.IsUnknown()) && timeout > 0 {
		p.RequeueAfter = deadline.Sub(o.Now)
	}
	if p.CreateTaskRun || tr != nil {
		if want := buildNamespace + "/" + TaskRunName(cr.Namespace, cr.Name); cr.Annotations[preview.AnnotationBuildTaskRun] != want {
			p.Annotate = want
		}
	}
	if !sameStatus(&cr.Status, status) {
		p.Status = status
	}
	return p
}

// mirror copies the build TaskRun's state onto the CustomRun's status.
func mirror(status *runv1beta1.CustomRunStatus, tr *pipelinev1.TaskRun, buildNamespace string) {
	c := tr.Status.GetCondition(apis.ConditionSucceeded)
	where := fmt.Sprintf("build TaskRun %s/%s", buildNamespace, tr.Name)
	switch {
	case c == nil:
		status.MarkCustomRunRunning(ReasonRunning, "%s: waiting for Tekton", where)
	case c.IsUnknown():
		reason := c.Reason
		if reason == "" {
			reason = ReasonRunning
		}
		status.MarkCustomRunRunning(reason, "%s: %s", where, c.Message)
	case c.IsTrue():
		status.Results = nil
		for _, r := range tr.Status.Results {
			status.Results = append(status.Results, runv1beta1.CustomRunResult{Name: r.Name, Value: resultString(r.Value)})
		}
		status.MarkCustomRunSucceeded(string(v1beta1.CustomRunReasonSuccessful), "%s succeeded", where)
		if tr.Status.CompletionTime != nil {
			status.CompletionTime = tr.Status.CompletionTime.DeepCopy()
		}
	default:
		reason := c.Reason
		switch reason {
		case string(pipelinev1.TaskRunReasonTimedOut):
			reason = string(v1beta1.CustomRunReasonTimedOut)
		case string(pipelinev1.TaskRunReasonCancelled):
			reason = string(v1beta1.CustomRunReasonCancelled)
		case "":
			reason = string(v1beta1.CustomRunReasonFailed)
		}
		status.MarkCustomRunFailed(reason, "%s: %s", where, c.Message)
		if tr.Status.CompletionTime != nil {
			status.CompletionTime = tr.Status.CompletionTime.DeepCopy()
		}
	}
}

func resultString(v pipelinev1.ResultValue) string {
	if v.Type == pipelinev1.ParamTypeString || v.Type == "" {
		return v.StringVal
	}
	b, err := v.MarshalJSON()
	if err != nil {
		return ""
	}
	return string(b)
}

// sameStatus compares what the controller sets, ignoring transition times (which the
// condition manager stamps with the wall clock).
func sameStatus(a, b *runv1beta1.CustomRunStatus) bool {
	ca, cb := a.GetCondition(apis.ConditionSucceeded), b.GetCondition(apis.ConditionSucceeded)
	if (ca == nil) != (cb == nil) || (ca != nil && (ca.Status != cb.Status || ca.Reason != cb.Reason || ca.Message != cb.Message)) {
		return false
	}
	if (a.StartTime == nil) != (b.StartTime == nil) || (a.CompletionTime == nil) != (b.CompletionTime == nil) {
		return false
	}
	if string(a.ExtraFields.Raw) != string(b.ExtraFields.Raw) || len(a.Results) != len(b.Results) {
		return false
	}
	for i := range a.Results {
		if a.Results[i] != b.Results[i] {
			return false
		}
	}
	return true
}

func nowPtr(t time.Time) *metav1.Time { v := metav1.NewTime(t); return &v }
