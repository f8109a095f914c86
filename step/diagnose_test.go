package step

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// The report's layout, from fixtures (the fake clientset answers every log request with
// "fake logs"; the e2e tests read real ones).
func TestDiagnoseReport(t *testing.T) {
	ns := "pr-web-7"
	t0 := metav1.NewTime(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	labels := map[string]string{"app.kubernetes.io/instance": "preview"}
	objs := []runtime.Object{
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "preview-web", Namespace: ns, Generation: 1},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: labels}},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 0, Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable", Message: "Deployment does not have minimum availability."},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated", Message: `ReplicaSet "preview-web-1" is progressing.`},
			}},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "preview-web-1-aaaaa", Namespace: ns, Labels: labels},
			Spec:       corev1.PodSpec{NodeName: "kwok-node-0"},
			Status: corev1.PodStatus{Phase: corev1.PodPending,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [app]"}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "ImagePullBackOff", Message: `Back-off pulling image "registry.local/web:pr-7"`}}}}},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "preview-web-1-bbbbb", Namespace: ns, Labels: labels},
			Spec:       corev1.PodSpec{NodeName: "kwok-node-0"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady"}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 4,
					State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 1m20s restarting failed container"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2, Message: "panic: no DATABASE_URL"}}}}},
		},
		&corev1.Pod{ // ready, and not the release's: not shown
			ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: ns, Labels: map[string]string{"app": "other"}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}},
		},
		&networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "preview-web", Namespace: ns},
			Spec:       networkingv1.IngressSpec{IngressClassName: ptr.To("nginx"), Rules: []networkingv1.IngressRule{{Host: "7-web.preview.test"}}},
		},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: ns}, Type: "Warning", Reason: "Failed", Count: 3,
			Message: "Error: ImagePullBackOff", LastTimestamp: metav1.NewTime(t0.Add(2 * time.Minute)),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "preview-web-1-aaaaa"}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e0", Namespace: ns}, Type: "Normal", Reason: "ScalingReplicaSet",
			Message: "Scaled up replica set preview-web-1 from 0 to 2", LastTimestamp: t0,
			InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "preview-web"}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e2", Namespace: ns}, Type: "Warning", Reason: "BackOff",
			Message: "Back-off restarting failed container app", EventTime: metav1.NewMicroTime(t0.Add(3 * time.Minute)),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "preview-web-1-bbbbb"}},
	}
	var out bytes.Buffer
	r := &Runner{Kube: &Clients{Namespace: ns, Kube: fake.NewClientset(objs...)}, Log: zaptest.NewLogger(t), Out: &out,
		Clock: clocktesting.NewFakeClock(t0.Time)}
	r.diagnose(t.Context(), []objectRef{{APIVersion: "apps/v1", Kind: "Deployment", Name: "preview-web"}}, DiagnoseOptions{LogLines: 5, Events: 2, Timeout: time.Minute}, false)
	golden.Assert(t, out.String(), "diagnose.golden")
}

// A log that cannot be read is reported, not fatal; with allLogs, ready pods' logs are shown.
func TestDiagnoseLogs(t *testing.T) {
	ns := "pr-web-7"
	labels := map[string]string{"app": "web"}
	ready := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: ns, Labels: labels},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
	unready := ready.DeepCopy()
	unready.Name = "web-2"
	unready.Status.Conditions[0].Status = corev1.ConditionFalse
	unready.Status.ContainerStatuses[0].Ready = false
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}}}
	cases := map[string]struct {
		pods    []runtime.Object
		allLogs bool
		logs    func(pod string) ([]byte, error)
		want    []string
		notWant []string
	}{
		"log unavailable": {
			pods: []runtime.Object{unready},
			logs: func(string) ([]byte, error) {
				return nil, errors.New("Get \"https://10.0.0.1:10250/containerLogs\": dial tcp: connection refused")
			},
			want: []string{"pod web-2: phase Running", "logs of app: unavailable: Get \"https://10.0.0.1:10250/containerLogs\": dial tcp: connection refused"},
		},
		"unready pod's log": {
			pods: []runtime.Object{ready, unready},
			logs: func(pod string) ([]byte, error) { return []byte("listening on :8080\nerror: db down\n"), nil },
			want: []string{"pods: 1 of 2 ready", "log of app (last 5 lines at most):\n      | listening on :8080\n      | error: db down\n"}, notWant: []string{"pod web-1"},
		},
		"ready pods' logs when the endpoint fails": {
			pods: []runtime.Object{ready}, allLogs: true,
			logs: func(pod string) ([]byte, error) { return []byte("GET /healthz 500\n"), nil },
			want: []string{"pods: 1 of 1 ready", "pod web-1: phase Running", "| GET /healthz 500"},
		},
		"empty log": {
			pods: []runtime.Object{unready},
			logs: func(string) ([]byte, error) { return nil, nil },
			want: []string{"logs of app: empty"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			r := &Runner{Kube: &Clients{Namespace: ns, Kube: fake.NewClientset(append(tc.pods, dep)...)}, Log: zaptest.NewLogger(t), Out: &out,
				PodLogs: func(_ context.Context, _, pod string, _ *corev1.PodLogOptions) ([]byte, error) { return tc.logs(pod) }}
			r.diagnose(t.Context(), []objectRef{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}, DiagnoseOptions{LogLines: 5, Events: 5, Timeout: time.Minute}, tc.allLogs)
			for _, w := range tc.want {
				assert.Check(t, is.Contains(out.String(), w))
			}
			for _, w := range tc.notWant {
				assert.Check(t, !strings.Contains(out.String(), w), "unexpected %q in\n%s", w, out.String())
			}
		})
	}
}
