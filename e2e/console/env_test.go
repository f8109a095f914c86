package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"gotest.tools/v3/poll"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/preview"
)

// environment is a preview environment as the trigger leaves it: the PR namespace with its
// record, a ResourceQuota, and a deploy PipelineRun (build → deploy) whose task pods are held
// until the test releases them.
type environment struct {
	Repo      string
	PR        int
	Namespace string
	Run       string
	SHA       string
}

// operatorRole is the ClusterRole people get per PR namespace in these tests.
const operatorRole = "catalyst-e2e-operator"
const viewerRole = "catalyst-e2e-viewer"

func ensureRoles(ctx context.Context, c *cluster.Cluster) error {
	events := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}}
	for name, rules := range map[string][]rbacv1.PolicyRule{
		operatorRole: append(preview.OperatorRules(), events),
		viewerRole:   append(preview.ViewerRules(), events),
	} {
		_, err := c.Kube().RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// newEnvironment creates repo#pr's environment; people maps e-mail users to the ClusterRole
// they get in its namespace (a RoleBinding there), and each may get that namespace by name
// cluster-wide (a ClusterRole with resourceNames): Kubernetes has no "namespaces I may read"
// query, so that is how the query layer finds a person's environments without the right to
// list every namespace. It is deleted when the test ends, unless the test failed.
func newEnvironment(t testing.TB, c *cluster.Cluster, repo string, pr int, people map[string]string) environment {
	t.Helper()
	ctx := t.Context()
	kube := c.Kube()
	tekton := tektonclient.NewForConfigOrDie(c.RESTConfig())
	must(t, ensureRoles(ctx, c))
	raw := make([]byte, 20)
	_, _ = rand.Read(raw)
	sha := hex.EncodeToString(raw)
	e := environment{Repo: repo, PR: pr, Namespace: preview.NamespaceName(repo, pr), SHA: sha, Run: "catalyst-preview-" + sha[:7] + "-1"}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: e.Namespace,
		Labels: map[string]string{
			preview.LabelManaged: preview.ManagedTrue, preview.LabelPR: strconv.Itoa(pr),
			preview.LabelRepo: preview.RepoLabelValue(repo), preview.LabelEnvironment: preview.EnvironmentPreview,
		},
		Annotations: map[string]string{
			preview.AnnotationRepo: repo, preview.AnnotationPRURL: "https://github.com/" + repo + "/pull/" + strconv.Itoa(pr),
			preview.AnnotationHeadSHA: sha, preview.AnnotationPRState: preview.PRStateOpen, preview.AnnotationAuthor: "octocat",
			preview.AnnotationPreviewURL: "http://" + preview.PreviewHost(repo, pr, "preview.localtest.me"),
			preview.AnnotationLastEvent:  time.Now().UTC().Format(time.RFC3339),
		},
	}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.MarkFailed()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = kube.CoreV1().Namespaces().Delete(ctx, e.Namespace, metav1.DeleteOptions{})
	})
	see := "catalyst-e2e-see-" + e.Namespace
	_, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: see},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}, ResourceNames: []string{e.Namespace}}}}, metav1.CreateOptions{})
	must(t, err)
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: see},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: see}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = kube.RbacV1().ClusterRoleBindings().Delete(ctx, see, metav1.DeleteOptions{})
		_ = kube.RbacV1().ClusterRoles().Delete(ctx, see, metav1.DeleteOptions{})
	})
	for user, role := range people {
		binding.Subjects = append(binding.Subjects, rbacv1.Subject{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user})
		_, err := kube.RbacV1().RoleBindings(e.Namespace).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: strings.NewReplacer("@", "-", ".", "-").Replace(user)},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
		}, metav1.CreateOptions{})
		must(t, err)
	}
	_, err = kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
	must(t, err)
	// as the trigger provisions it: a quota, and a LimitRange whose defaults let pods without
	// requests (Tekton's init containers) in
	_, err = kube.CoreV1().LimitRanges(e.Namespace).Create(ctx, &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "catalyst-limits", Labels: map[string]string{preview.LabelManaged: preview.ManagedTrue}},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")}}}},
	}, metav1.CreateOptions{})
	must(t, err)
	_, err = kube.CoreV1().ResourceQuotas(e.Namespace).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "catalyst-quota", Labels: map[string]string{preview.LabelManaged: preview.ManagedTrue}},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceRequestsCPU: resource.MustParse("4"), corev1.ResourceRequestsMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("30"),
		}},
	}, metav1.CreateOptions{})
	must(t, err)
	// Pods are refused until the namespace's default ServiceAccount exists.
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if _, err := kube.CoreV1().ServiceAccounts(e.Namespace).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return poll.Continue("default ServiceAccount: %v", err)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second))
	step := func(name string) pipelinev1.Step {
		return pipelinev1.Step{Name: name, Image: "example.invalid/step", Command: []string{"/bin/true"},
			ComputeResources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}}}
	}
	run := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{
			Name: e.Run, Namespace: e.Namespace,
			Labels: map[string]string{preview.LabelManaged: preview.ManagedTrue, preview.LabelSHA: sha, preview.LabelKind: preview.KindDeploy},
			Annotations: map[string]string{
				preview.AnnotationAttempt: "1", preview.AnnotationCause: preview.CauseEvent,
				cluster.AnnotationHold: "true",
			},
		},
		Spec: pipelinev1.PipelineRunSpec{PipelineSpec: &pipelinev1.PipelineSpec{Tasks: []pipelinev1.PipelineTask{
			{Name: "build", TaskSpec: &pipelinev1.EmbeddedTask{TaskSpec: pipelinev1.TaskSpec{Steps: []pipelinev1.Step{step("build")}}}},
			{Name: "deploy", RunAfter: []string{"build"}, TaskSpec: &pipelinev1.EmbeddedTask{TaskSpec: pipelinev1.TaskSpec{Steps: []pipelinev1.Step{step("deploy")}}}},
		}}},
	}
	if _, err := tekton.TektonV1().PipelineRuns(e.Namespace).Create(ctx, run, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pipelinerun: %v", err)
	}
	return e
}

// taskPod waits for the pod of one pipeline task to run and returns its name.
func taskPod(t testing.TB, c *cluster.Cluster, e environment, task string) string {
	t.Helper()
	var name string
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		pods, err := c.Kube().CoreV1().Pods(e.Namespace).List(t.Context(), metav1.ListOptions{
			LabelSelector: "tekton.dev/pipelineRun=" + e.Run + ",tekton.dev/pipelineTask=" + task})
		if err != nil {
			return poll.Error(err)
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				name = p.Name
				return poll.Success()
			}
		}
		return poll.Continue("no running pod of task %s yet (%d pods)", task, len(pods.Items))
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))
	return name
}

// presetLogs gives the step of a task its log text before its pod exists (pod names are
// deterministic: <pipelinerun>-<task>-pod).
func presetLogs(t testing.TB, c *cluster.Cluster, e environment, task, text string) {
	t.Helper()
	must(t, c.SetPodLogs(t.Context(), e.Namespace, e.Run+"-"+task+"-pod", "step-"+task, text))
}

func release(t testing.TB, c *cluster.Cluster, e environment, task string) {
	t.Helper()
	must(t, cluster.Release(t.Context(), c.Kube(), e.Namespace, e.Run, task))
}

// must fails the test on an error (the tests' own set-up steps).
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
