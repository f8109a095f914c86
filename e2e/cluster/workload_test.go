package cluster_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

func TestDeploymentBecomesAvailable(t *testing.T) {
	e := newEnv(t)
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "example.invalid/web:1",
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}},
				}}},
			},
		},
	}
	_, err := e.c.Kube().AppsV1().Deployments(e.ns).Create(t.Context(), dep, metav1.CreateOptions{})
	assert.NilError(t, err)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		d, err := e.c.Kube().AppsV1().Deployments(e.ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue && d.Status.ReadyReplicas == 2 {
				return poll.Success()
			}
		}
		return poll.Continue("deployment: %d/2 ready, conditions %v", d.Status.ReadyReplicas, d.Status.Conditions)
	}, waitOpts()...)
}

func TestResourceQuotaIsEnforced(t *testing.T) {
	e := newEnv(t)
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}},
	}
	_, err := e.c.Kube().CoreV1().ResourceQuotas(e.ns).Create(t.Context(), quota, metav1.CreateOptions{})
	assert.NilError(t, err)
	// admission uses the status the resourcequota controller computes
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		q, err := e.c.Kube().CoreV1().ResourceQuotas(e.ns).Get(t.Context(), "pods", metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		if _, ok := q.Status.Hard[corev1.ResourcePods]; ok {
			return poll.Success()
		}
		return poll.Continue("quota status not computed yet")
	}, waitOpts()...)

	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/c"}}},
		}
	}
	_, err = e.c.Kube().CoreV1().Pods(e.ns).Create(t.Context(), pod("one"), metav1.CreateOptions{})
	assert.NilError(t, err)
	_, err = e.c.Kube().CoreV1().Pods(e.ns).Create(t.Context(), pod("two"), metav1.CreateOptions{})
	assert.Assert(t, apierrors.IsForbidden(err), "want quota refusal, got %v", err)
	assert.Check(t, is.Contains(err.Error(), "exceeded quota"))
}

func TestKubectlSeesNamespacesAndPipelineRuns(t *testing.T) {
	e := newEnv(t)
	pr := e.createPipelineRun(t, inline, nil)
	kubectl := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), e.c.Kubectl(), append([]string{"--kubeconfig", e.c.Kubeconfig()}, args...)...).CombinedOutput()
		assert.NilError(t, err, string(out))
		return string(out)
	}
	assert.Check(t, is.Contains(kubectl("get", "namespaces", "-o", "name"), "namespace/"+e.ns))
	assert.Check(t, is.Contains(kubectl("get", "pipelineruns", "-A", "-o", "name"), "pipelinerun.tekton.dev/"+pr.Name))
}

func TestPodLogs(t *testing.T) {
	e := newEnv(t)
	pr := e.createPipelineRun(t, inline, map[string]string{cluster.ForTask(cluster.AnnotationHold, "build"): "true"})
	build := e.waitTaskRun(t, pr.Name, "build", running, "running")
	pods := e.c.Kube().CoreV1().Pods(e.ns)
	logs := func(ctx context.Context, container string) (string, error) {
		data, err := pods.GetLogs(build.Status.PodName, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
		return string(data), err
	}

	// without SetPodLogs: a placeholder line
	out, err := logs(t.Context(), "step-compile")
	assert.NilError(t, err)
	assert.Check(t, is.Contains(out, "no log set for this container"))

	assert.NilError(t, e.c.SetPodLogs(t.Context(), e.ns, build.Status.PodName, "step-compile", "go: downloading\nok  \tbuilt in 3s\n"))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		out, err := logs(t.Context(), "step-compile")
		if err != nil {
			return poll.Error(err)
		}
		if out == "go: downloading\nok  \tbuilt in 3s\n" {
			return poll.Success()
		}
		return poll.Continue("logs: %q", strings.TrimSpace(out))
	}, waitOpts()...)
	assert.NilError(t, cluster.Release(t.Context(), e.c.Kube(), e.ns, pr.Name, "build"))
}
