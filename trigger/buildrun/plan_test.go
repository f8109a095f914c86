package buildrun

import (
	"strings"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/catalyst-preview/catalyst/preview"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

const bns = "catalyst-builds"

func customRun(edits ...func(*v1beta1.CustomRun)) *v1beta1.CustomRun {
	cr := &v1beta1.CustomRun{
		ObjectMeta: metav1.ObjectMeta{Name: "deploy-4f1c2d3e5a6b-1-build", Namespace: "pr-shop-42", UID: "cr-1",
			Annotations: map[string]string{}},
		Spec: v1beta1.CustomRunSpec{
			CustomRef: &v1beta1.TaskRef{APIVersion: preview.BuildAPIVersion, Kind: preview.BuildKind},
			Timeout:   &metav1.Duration{Duration: 30 * time.Minute},
		},
	}
	for _, e := range edits {
		e(cr)
	}
	return cr
}

func started(at time.Time) func(*v1beta1.CustomRun) {
	return func(cr *v1beta1.CustomRun) {
		cr.Annotations[preview.AnnotationBuildTaskRun] = bns + "/" + TaskRunName(cr.Namespace, cr.Name)
		cr.Status.StartTime = &metav1.Time{Time: at}
		cr.Status.MarkCustomRunRunning(ReasonRunning, "build TaskRun %s/%s created", bns, TaskRunName(cr.Namespace, cr.Name))
	}
}

func taskRun(status corev1.ConditionStatus, reason, message string, edits ...func(*pipelinev1.TaskRun)) *pipelinev1.TaskRun {
	tr := &pipelinev1.TaskRun{
		ObjectMeta: metav1.ObjectMeta{Name: TaskRunName("pr-shop-42", "deploy-4f1c2d3e5a6b-1-build"), Namespace: bns,
			Labels: map[string]string{preview.LabelCustomRunUID: "cr-1"}},
	}
	if status != "" {
		tr.Status.Conditions = duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: status, Reason: reason, Message: message}}
	}
	tr.Status.PodName = tr.Name + "-pod"
	for _, e := range edits {
		e(tr)
	}
	return tr
}

func TestPlan(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := map[string]struct {
		in          observed
		want        plan // Status is compared by its condition below
		wantCond    *apis.Condition
		wantResults map[string]string
	}{
		"new CustomRun: create the build": {
			in:       observed{Now: t0, Run: customRun()},
			want:     plan{CreateTaskRun: true, Annotate: bns + "/pr-shop-42-deploy-4f1c2d3e5a6b-1-build", RequeueAfter: 30 * time.Minute},
			wantCond: &apis.Condition{Status: corev1.ConditionUnknown, Reason: ReasonRunning, Message: "build TaskRun catalyst-builds/pr-shop-42-deploy-4f1c2d3e5a6b-1-build created"},
		},
		"refused: no build, no credentials": {
			in:       observed{Now: t0, Run: customRun(), Refusal: "namespace x is not a Catalyst preview namespace"},
			want:     plan{},
			wantCond: &apis.Condition{Status: corev1.ConditionFalse, Reason: ReasonRefused, Message: "namespace x is not a Catalyst preview namespace"},
		},
		"building: mirror the TaskRun": {
			in:       observed{Now: t0.Add(time.Minute), Run: customRun(started(t0)), TaskRun: taskRun(corev1.ConditionUnknown, "Running", "Not all Steps in the Task have finished executing")},
			want:     plan{RequeueAfter: 29 * time.Minute},
			wantCond: &apis.Condition{Status: corev1.ConditionUnknown, Reason: "Running", Message: "build TaskRun catalyst-builds/pr-shop-42-deploy-4f1c2d3e5a6b-1-build: Not all Steps in the Task have finished executing"},
		},
		"build exists but the CustomRun lost its annotation: set it again": {
			in: observed{Now: t0.Add(time.Minute), Run: customRun(started(t0), func(cr *v1beta1.CustomRun) { delete(cr.Annotations, preview.AnnotationBuildTaskRun) }),
				TaskRun: taskRun(corev1.ConditionUnknown, "Running", "Not all Steps in the Task have finished executing")},
			want:     plan{Annotate: bns + "/pr-shop-42-deploy-4f1c2d3e5a6b-1-build", RequeueAfter: 29 * time.Minute},
			wantCond: &apis.Condition{Status: corev1.ConditionUnknown, Reason: "Running", Message: "build TaskRun catalyst-builds/pr-shop-42-deploy-4f1c2d3e5a6b-1-build: Not all Steps in the Task have finished executing"},
		},
		"built: results mirrored": {
			in: observed{Now: t0.Add(2 * time.Minute), Run: customRun(started(t0)),
				TaskRun: taskRun(corev1.ConditionTrue, "Succeeded", "All Steps have completed executing", func(tr *pipelinev1.TaskRun) {
					tr.Status.Results = []pipelinev1.TaskRunResult{{Name: "image-digest", Type: pipelinev1.ResultsTypeString, Value: *pipelinev1.NewStructuredValues(digest)}}
				})},
			want:        plan{},
			wantCond:    &apis.Condition{Status: corev1.ConditionTrue, Reason: "Succeeded", Message: "build TaskRun catalyst-builds/pr-shop-42-deploy-4f1c2d3e5a6b-1-build succeeded"},
			wantResults: map[string]string{"image-digest": digest},
		},
		"build failed: its reason and message reach the pipeline": {
			in:       observed{Now: t0.Add(2 * time.Minute), Run: customRun(started(t0)), TaskRun: taskRun(corev1.ConditionFalse, "StepFailed", `"step-build" exited with code 1`)},
			want:     plan{},
			wantCond: &apis.Condition{Status: corev1.ConditionFalse, Reason: "StepFailed", Message: `build TaskRun catalyst-builds/pr-shop-42-deploy-4f1c2d3e5a6b-1-build: "step-build" exited with code 1`},
		},
		"build evicted: the infrastructure reason is kept": {
			in:       observed{Now: t0.Add(2 * time.Minute), Run: customRun(started(t0)), TaskRun: taskRun(corev1.ConditionFalse, "PodEvicted", "The node was low on resource: memory.")},
			want:     plan{},
			wantCond: &apis.Condition{Status: corev1.ConditionFalse, Reason: "PodEvicted", Message: "build TaskRun catalyst-builds/pr-shop-42-deploy-4f1c2d3e5a6b-1-build: The node was low on resource: memory."},
		},
		"build TaskRun timed out": {
			in:       observed{Now: t0.Add(31 * time.Minute), Run: customRun(started(t0)), TaskRun: taskRun(corev1.ConditionFalse, "TaskRunTimeout", "TaskRun timed out after 30m0s")},
			want:     plan{},
			wantCond: &apis.Condition{Status: corev1.ConditionFalse, Reason: "CustomRunTimedOut", Message: "build TaskRun catalyst-builds/pr-shop-42-deploy-4f1c2d3e5a6b-1-build: TaskRun timed out after 30m0s"},
		},
		"CustomRun deadline passed while the build runs": {
			in:       observed{Now: t0.Add(30 * time.Minute), Run: customRun(started(t0)), TaskRun: taskRun(corev1.ConditionUnknown, "Running", "")},
			want:     plan{CancelTaskRun: true},
			wantCond: &apis.Condition{Status: corev1.ConditionFalse, Reason: "CustomRunTimedOut", Message: "the build did not finish within 30m0s"},
		},
		"cancelled by the PipelineRun": {
			in: observed{Now: t0.Add(time.Minute), Run: customRun(started(t0), func(cr *v1beta1.CustomRun) {
				cr.Spec.Status = v1beta1.CustomRunSpecStatusCancelled
				cr.Spec.StatusMessage = v1beta1.CustomRunCancelledByPipelineMsg
			}), TaskRun: taskRun(corev1.ConditionUnknown, "Running", "")},
			want:     plan{CancelTaskRun: true},
			wantCond: &apis.Condition{Status: corev1.ConditionFalse, Reason: "CustomRunCancelled", Message: string(v1beta1.CustomRunCancelledByPipelineMsg)},
		},
		"cancelled before the build was created": {
			in:       observed{Now: t0, Run: customRun(func(cr *v1beta1.CustomRun) { cr.Spec.Status = v1beta1.CustomRunSpecStatusCancelled })},
			want:     plan{},
			wantCond: &apis.Condition{Status: corev1.ConditionFalse, Reason: "CustomRunCancelled", Message: "the build was cancelled"},
		},
		"finished CustomRun, build still running: stop it": {
			in: observed{Now: t0.Add(time.Minute), Run: customRun(started(t0), func(cr *v1beta1.CustomRun) {
				cr.Status.MarkCustomRunFailed("CustomRunCancelled", "cancelled")
			}), TaskRun: taskRun(corev1.ConditionUnknown, "Running", "")},
			want:     plan{CancelTaskRun: true},
			wantCond: &apis.Condition{Status: corev1.ConditionFalse, Reason: "CustomRunCancelled", Message: "cancelled"},
		},
		"a TaskRun of an earlier CustomRun of the same name is not adopted": {
			in:   observed{Now: t0, Run: customRun(), TaskRun: taskRun(corev1.ConditionTrue, "Succeeded", "", func(tr *pipelinev1.TaskRun) { tr.Labels[preview.LabelCustomRunUID] = "cr-0" })},
			want: plan{DeleteTaskRun: true, RequeueAfter: time.Second},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := planFor(tc.in, bns)
			status := got.Status
			got.Status = nil
			assert.DeepEqual(t, got, tc.want)
			if tc.wantCond == nil {
				assert.Check(t, status == nil, "no status change")
				return
			}
			assert.Assert(t, status != nil, "a status change")
			cond := status.GetCondition(apis.ConditionSucceeded)
			assert.Assert(t, cond != nil)
			assert.Check(t, is.Equal(cond.Status, tc.wantCond.Status))
			assert.Check(t, is.Equal(cond.Reason, tc.wantCond.Reason))
			assert.Check(t, is.Equal(cond.Message, tc.wantCond.Message))
			assert.Check(t, status.StartTime != nil)
			assert.Check(t, is.Equal(status.CompletionTime != nil, cond.Status != corev1.ConditionUnknown), "completion time set when done")
			results := map[string]string{}
			for _, r := range status.Results {
				results[r.Name] = r.Value
			}
			if tc.wantResults == nil {
				tc.wantResults = map[string]string{}
			}
			assert.Check(t, is.DeepEqual(results, tc.wantResults))
		})
	}
}

// A second reconcile of the state the first one wrote writes nothing.
func TestPlanIsIdempotent(t *testing.T) {
	cr := customRun()
	first := planFor(observed{Now: t0, Run: cr}, bns)
	assert.Assert(t, first.Status != nil)
	assert.Equal(t, first.Annotate, bns+"/"+TaskRunName(cr.Namespace, cr.Name))
	cr.Status = *first.Status
	cr.Annotations[preview.AnnotationBuildTaskRun] = first.Annotate
	tr := taskRun("", "", "")
	second := planFor(observed{Now: t0.Add(time.Second), Run: cr, TaskRun: tr}, bns)
	assert.Assert(t, second.Status != nil, "the pod name is new information")
	cr.Status = *second.Status
	third := planFor(observed{Now: t0.Add(2 * time.Second), Run: cr, TaskRun: tr}, bns)
	assert.Check(t, third.Status == nil, "nothing changed, nothing written")
	assert.Check(t, !third.CreateTaskRun && !third.CancelTaskRun && third.Annotate == "")
}

func TestTaskRunNameFitsALabel(t *testing.T) {
	short := TaskRunName("pr-shop-42", "deploy-4f1c2d3e5a6b-1-build")
	assert.Equal(t, short, "pr-shop-42-deploy-4f1c2d3e5a6b-1-build")
	long := TaskRunName("pr-a-very-long-repository-name-that-goes-on-and-on-x2b7q9-4242", "deploy-4f1c2d3e5a6b-12-build")
	assert.Check(t, len(long) <= 63, long)
	other := TaskRunName("pr-a-very-long-repository-name-that-goes-on-and-on-x2b7q9-4243", "deploy-4f1c2d3e5a6b-12-build")
	assert.Check(t, long != other, "cut names stay apart")
}
