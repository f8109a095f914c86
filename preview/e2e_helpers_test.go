package preview_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/poll"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/preview"
)

// TestMain starts the local control plane for the tests against the real apiserver; under
// -short only the unit tests run.
func TestMain(m *testing.M) { os.Exit(cluster.RunMain(m, nil)) }

// world is one test's view of the cluster: admin clients, and the query layer for any user.
type world struct {
	t      *testing.T
	c      *cluster.Cluster
	kube   kubernetes.Interface
	tekton tektonclient.Interface
	// repo is unique per test: PR namespaces are cluster-wide and tests must not meet.
	repo string
}

func newWorld(t *testing.T) *world {
	c := cluster.Require(t)
	rc := c.RESTConfig()
	return &world{t: t, c: c, kube: c.Kube(), tekton: tektonclient.NewForConfigOrDie(rc),
		repo: "e2e/" + strings.ToLower(strings.TrimPrefix(t.Name(), "Test")) + "-" + rand.String(4)}
}

// as returns the query layer acting as user (impersonated by the admin), or as admin for "".
func (w *world) as(user string, groups ...string) *preview.Client {
	rc := w.c.RESTConfig()
	if user != "" {
		rc.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	}
	return preview.New(preview.Clients{Kube: kubernetes.NewForConfigOrDie(rc), Tekton: tektonclient.NewForConfigOrDie(rc)},
		preview.Options{PollInterval: 500 * time.Millisecond})
}

// env creates a PR namespace of w.repo as the trigger records it, with extra annotations, and
// waits for its default ServiceAccount (Tekton pods need it). It is deleted when the test ends.
func (w *world) env(pr int, extra map[string]string) string {
	w.t.Helper()
	name := preview.NamespaceName(w.repo, pr)
	ann := map[string]string{
		preview.AnnotationRepo:              w.repo,
		preview.AnnotationPRURL:             fmt.Sprintf("https://github.com/%s/pull/%d", w.repo, pr),
		preview.AnnotationHeadSHA:           sha(pr),
		preview.AnnotationHeadSeenAt:        time.Now().UTC().Format(time.RFC3339Nano),
		preview.AnnotationPRState:           preview.PRStateOpen,
		preview.AnnotationAuthor:            "octocat",
		preview.AnnotationPreviewURL:        fmt.Sprintf("https://%d-x.preview.example.com", pr),
		preview.AnnotationLastEvent:         time.Now().UTC().Format(time.RFC3339),
		preview.AnnotationAuthorAssociation: "MEMBER",
	}
	for k, v := range extra {
		ann[k] = v
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann, Labels: map[string]string{
		preview.LabelManaged: preview.ManagedTrue, preview.LabelPR: fmt.Sprint(pr), preview.LabelRepo: preview.RepoLabelValue(w.repo),
		preview.LabelEnvironment: preview.EnvironmentPreview,
	}}}
	_, err := w.kube.CoreV1().Namespaces().Create(w.t.Context(), ns, metav1.CreateOptions{})
	assert.NilError(w.t, err)
	w.t.Cleanup(func() {
		if w.t.Failed() {
			return // kept for the artifacts' state.yaml
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.kube.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	poll.WaitOn(w.t, func(poll.LogT) poll.Result {
		_, err := w.kube.CoreV1().ServiceAccounts(name).Get(w.t.Context(), "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return poll.Continue("no default ServiceAccount in %s yet", name)
		}
		if err != nil {
			return poll.Error(err)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(50*time.Millisecond))
	return name
}

func sha(pr int) string { return fmt.Sprintf("%040x", pr) }

// quota creates the trigger's ResourceQuota (with a LimitRange giving pods requests, as the
// trigger's does) and waits for the quota controller to count usage.
func (w *world) quota(ns string, hard corev1.ResourceList) {
	w.t.Helper()
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "catalyst-limits"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer, DefaultRequest: rl("cpu", "100m", "memory", "64Mi"), Default: rl("cpu", "200m", "memory", "128Mi")}}}}
	_, err := w.kube.CoreV1().LimitRanges(ns).Create(w.t.Context(), lr, metav1.CreateOptions{})
	assert.NilError(w.t, err)
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "catalyst-quota", Labels: map[string]string{preview.LabelManaged: preview.ManagedTrue}},
		Spec: corev1.ResourceQuotaSpec{Hard: hard}}
	_, err = w.kube.CoreV1().ResourceQuotas(ns).Create(w.t.Context(), q, metav1.CreateOptions{})
	assert.NilError(w.t, err)
	poll.WaitOn(w.t, func(poll.LogT) poll.Result {
		got, err := w.kube.CoreV1().ResourceQuotas(ns).Get(w.t.Context(), q.Name, metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		if len(got.Status.Hard) == 0 {
			return poll.Continue("quota of %s not counted yet", ns)
		}
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))
}

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

// run creates a deploy PipelineRun of the environment's head with an inline pipeline: tasks in
// order, each with the given steps (every step a script), and annotations for the simulated
// node (cluster.Annotation*).
func (w *world) run(ns string, pr, attempt int, tasks map[string][]string, order []string, annotations map[string]string, mutate ...func(*pipelinev1.PipelineRun)) *pipelinev1.PipelineRun {
	w.t.Helper()
	var spec strings.Builder
	spec.WriteString("tasks:\n")
	prev := ""
	for _, task := range order {
		fmt.Fprintf(&spec, "- name: %s\n", task)
		if prev != "" {
			fmt.Fprintf(&spec, "  runAfter: [%s]\n", prev)
		}
		spec.WriteString("  taskSpec:\n    steps:\n")
		for _, step := range tasks[task] {
			fmt.Fprintf(&spec, "    - name: %s\n      image: busybox\n      script: echo %s\n", step, step)
		}
		prev = task
	}
	p := &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{
		Name: preview.PipelineRunName(preview.KindDeploy, sha(pr), attempt), Annotations: map[string]string{preview.AnnotationAttempt: fmt.Sprint(attempt)},
		Labels: map[string]string{preview.LabelManaged: preview.ManagedTrue, preview.LabelSHA: sha(pr), preview.LabelKind: preview.KindDeploy, preview.LabelPR: fmt.Sprint(pr)},
	}}
	for k, v := range annotations {
		p.Annotations[k] = v
	}
	p.Spec.PipelineSpec = &pipelinev1.PipelineSpec{}
	assert.NilError(w.t, yaml.UnmarshalStrict([]byte(spec.String()), p.Spec.PipelineSpec))
	for _, m := range mutate {
		m(p)
	}
	created, err := w.tekton.TektonV1().PipelineRuns(ns).Create(w.t.Context(), p, metav1.CreateOptions{})
	assert.NilError(w.t, err)
	return created
}

// waitRun waits until the PipelineRun's Succeeded condition has the reason.
func (w *world) waitRun(ns, name, reason string) {
	w.t.Helper()
	poll.WaitOn(w.t, func(poll.LogT) poll.Result {
		pr, err := w.tekton.TektonV1().PipelineRuns(ns).Get(w.t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		c := pr.Status.GetCondition(apis.ConditionSucceeded)
		switch {
		case c != nil && c.Reason == reason:
		case c != nil && !c.IsUnknown():
			return poll.Error(fmt.Errorf("pipelinerun %s/%s ended %s (%s), want %s", ns, name, c.Reason, c.Message, reason))
		default:
			return poll.Continue("pipelinerun %s/%s: %v, want %s", ns, name, c, reason)
		}
		return poll.Success()
	}, poll.WithTimeout(90*time.Second), poll.WithDelay(100*time.Millisecond))
}

// grant binds rules to user in namespace (a Role and RoleBinding), or cluster-wide when
// namespace is "" (a ClusterRole and ClusterRoleBinding), removed when the test ends.
func (w *world) grant(user, namespace string, rules []rbacv1.PolicyRule) {
	w.t.Helper()
	ctx := w.t.Context()
	name := "e2e-" + strings.ToLower(user) + "-" + rand.String(5)
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	if namespace == "" {
		_, err := w.kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
		assert.NilError(w.t, err)
		_, err = w.kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subject,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}}, metav1.CreateOptions{})
		assert.NilError(w.t, err)
		w.t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = w.kube.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
			_ = w.kube.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		})
		return
	}
	_, err := w.kube.RbacV1().Roles(namespace).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
	assert.NilError(w.t, err)
	_, err = w.kube.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}}, metav1.CreateOptions{})
	assert.NilError(w.t, err)
}

func names(items []preview.Environment) []string {
	var out []string
	for _, e := range items {
		out = append(out, e.Namespace)
	}
	return out
}
