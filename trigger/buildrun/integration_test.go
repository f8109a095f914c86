package buildrun_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"knative.dev/pkg/apis"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/pipelines"
	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/trigger/buildrun"
)

// env is one test's build controller on the real control plane, with a PR namespace set up as
// the trigger sets it up (managed, Pod Security baseline, the git token Secret).
type env struct {
	t        *testing.T
	kube     kubernetes.Interface
	tekton   tektonclient.Interface
	cfg      *config.Config
	repo     string
	number   int
	prNS     string
	builds   string
	cloneURL string
}

const gitToken = "ghs_contentsReadOnly0123456789"

func newEnv(t *testing.T) *env {
	t.Helper()
	c := cluster.Require(t)
	ctx := t.Context()
	rc := c.RESTConfig()
	e := &env{t: t, kube: c.Kube(), tekton: tektonclient.NewForConfigOrDie(rc), number: 7}
	system := c.Namespace(t)
	e.builds = c.Namespace(t)
	e.repo = "acme/" + strings.TrimPrefix(system, "test")
	if len(e.repo) > 40 {
		e.repo = strings.TrimRight(e.repo[:40], "-")
	}
	e.cloneURL = "https://github.example/" + e.repo + ".git"
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
github:
  appID: 31337
  privateKeyFile: /etc/catalyst/key.pem
  webhookSecretFiles: [/etc/catalyst/webhook-secret]
preview:
  domain: preview.example.com
  registry: registry.example.com/previews
  pipelineNamespace: %[1]s
  secretsNamespace: %[1]s
  buildNamespace: %[2]s
repositories:
  - name: %[3]s
    chartPath: deploy/chart
`, system, e.builds, e.repo)))
	assert.NilError(t, err)
	e.cfg = cfg
	assert.NilError(t, pipelines.Apply(ctx, e.tekton, system))

	e.prNS = preview.NamespaceName(e.repo, e.number)
	_, err = e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: e.prNS,
		Labels: map[string]string{
			preview.LabelManaged: preview.ManagedTrue, preview.LabelPR: "7", preview.LabelRepo: preview.RepoLabelValue(e.repo),
			buildrun.PodSecurityLabel: cfg.Preview.PodSecurity, "pod-security.kubernetes.io/warn": "restricted",
		},
		Annotations: map[string]string{preview.AnnotationRepo: e.repo, preview.AnnotationCloneURL: e.cloneURL},
	}}, metav1.CreateOptions{})
	assert.NilError(t, err)
	t.Cleanup(func() {
		_ = e.kube.CoreV1().Namespaces().Delete(context.Background(), e.prNS, metav1.DeleteOptions{})
	})
	_, err = e.kube.CoreV1().Secrets(e.prNS).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: preview.GitTokenSecret},
		Data:       map[string][]byte{"token": []byte(gitToken)},
	}, metav1.CreateOptions{})
	assert.NilError(t, err)

	// The controller runs with exactly the rights it declares (ClusterRules and the namespaced
	// ones), as the trigger's ServiceAccount would under the chart's RBAC.
	ctrlRC := e.bindControllerRights(rc, system)
	ctrl := buildrun.NewController(buildrun.Deps{
		Kube: kubernetes.NewForConfigOrDie(ctrlRC), Tekton: tektonclient.NewForConfigOrDie(ctrlRC), Dynamic: dynamic.NewForConfigOrDie(ctrlRC), Config: cfg,
		Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)), CollectEvery: 2 * time.Second,
	})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ctrl.Run(runCtx, 2); err != nil {
			t.Errorf("build controller: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// bindControllerRights grants a ServiceAccount of the system namespace buildrun's declared
// rules and returns a client configuration acting as it.
func (e *env) bindControllerRights(admin *rest.Config, system string) *rest.Config {
	e.t.Helper()
	ctx := e.t.Context()
	const sa = "catalyst-trigger"
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: system}}
	name := system + "-build-controller"
	_, err := e.kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: buildrun.ClusterRules(e.cfg.Preview)}, metav1.CreateOptions{})
	assert.NilError(e.t, err)
	_, err = e.kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subjects,
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name}}, metav1.CreateOptions{})
	assert.NilError(e.t, err)
	e.t.Cleanup(func() {
		_ = e.kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = e.kube.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	for ns, rules := range map[string][]rbacv1.PolicyRule{
		e.builds: buildrun.BuildsNamespaceRules(),
		system:   append(buildrun.PipelineNamespaceRules(), buildrun.SecretsNamespaceRules(e.cfg.Preview)...),
	} {
		_, err := e.kube.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "build-controller"}, Rules: rules}, metav1.CreateOptions{})
		assert.NilError(e.t, err)
		_, err = e.kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "build-controller"}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "build-controller"}}, metav1.CreateOptions{})
		assert.NilError(e.t, err)
	}
	rc := rest.CopyConfig(admin)
	rc.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + system + ":" + sa,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + system, "system:authenticated"},
	}
	return rc
}

const sha = "4f1c2d3e5a6b7c8d9e0f4f1c2d3e5a6b7c8d9e0f"

// pipelineRun is a pipeline whose build is the custom task, as pipelines/preview.yaml has it,
// and whose result is the build's image digest as the deploy task would receive it.
func (e *env) pipelineRun(name string, annotations map[string]string, edit func(*pipelinev1.PipelineRun)) *pipelinev1.PipelineRun {
	e.t.Helper()
	image := preview.ImageRef(e.cfg.Preview.Registry, e.repo, e.number, sha)
	pr := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.prNS, Annotations: annotations, Labels: map[string]string{
			preview.LabelManaged: preview.ManagedTrue, preview.LabelRepo: preview.RepoLabelValue(e.repo), preview.LabelPR: "7", preview.LabelSHA: sha,
		}},
		Spec: pipelinev1.PipelineRunSpec{
			PipelineSpec: &pipelinev1.PipelineSpec{
				Tasks: []pipelinev1.PipelineTask{{
					Name:    "build",
					TaskRef: &pipelinev1.TaskRef{APIVersion: preview.BuildAPIVersion, Kind: preview.BuildKind},
					Timeout: &metav1.Duration{Duration: 10 * time.Minute},
					Params: pipelinev1.Params{
						{Name: "repo-url", Value: *pipelinev1.NewStructuredValues(e.cloneURL)},
						{Name: "revision", Value: *pipelinev1.NewStructuredValues(sha)},
						{Name: "pr-number", Value: *pipelinev1.NewStructuredValues("7")},
						{Name: "image", Value: *pipelinev1.NewStructuredValues(image)},
					},
				}},
				Results: []pipelinev1.PipelineResult{{Name: "image-digest", Value: *pipelinev1.NewStructuredValues("$(tasks.build.results.image-digest)")}},
			},
			Timeouts: &pipelinev1.TimeoutFields{Pipeline: &metav1.Duration{Duration: 20 * time.Minute}},
		},
	}
	if edit != nil {
		edit(pr)
	}
	created, err := e.tekton.TektonV1().PipelineRuns(e.prNS).Create(e.t.Context(), pr, metav1.CreateOptions{})
	assert.NilError(e.t, err)
	return created
}

func (e *env) waitRun(name string, check func(*pipelinev1.PipelineRun) string) *pipelinev1.PipelineRun {
	e.t.Helper()
	var got *pipelinev1.PipelineRun
	poll.WaitOn(e.t, func(poll.LogT) poll.Result {
		pr, err := e.tekton.TektonV1().PipelineRuns(e.prNS).Get(e.t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		if why := check(pr); why != "" {
			return poll.Continue("pipelinerun %s: %s", name, why)
		}
		got = pr
		return poll.Success()
	}, poll.WithTimeout(90*time.Second), poll.WithDelay(100*time.Millisecond))
	return got
}

func finished(reason string) func(*pipelinev1.PipelineRun) string {
	return func(pr *pipelinev1.PipelineRun) string {
		c := pr.Status.GetCondition(apis.ConditionSucceeded)
		if c == nil || c.IsUnknown() {
			return "not finished"
		}
		if c.Reason != reason {
			return fmt.Sprintf("reason %s (%s), want %s", c.Reason, c.Message, reason)
		}
		return ""
	}
}

// customRun is the build CustomRun Tekton created for the run, once it exists.
func (e *env) customRun(run string) *v1beta1.CustomRun {
	e.t.Helper()
	var got *v1beta1.CustomRun
	poll.WaitOn(e.t, func(poll.LogT) poll.Result {
		list, err := e.tekton.TektonV1beta1().CustomRuns(e.prNS).List(e.t.Context(), metav1.ListOptions{LabelSelector: "tekton.dev/pipelineRun=" + run})
		if err != nil {
			return poll.Error(err)
		}
		if len(list.Items) == 0 || list.Items[0].Annotations[preview.AnnotationBuildTaskRun] == "" {
			return poll.Continue("no annotated customrun for %s yet", run)
		}
		got = &list.Items[0]
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))
	return got
}

func (e *env) waitGone(what string, get func() error) {
	e.t.Helper()
	poll.WaitOn(e.t, func(poll.LogT) poll.Result {
		err := get()
		if apierrors.IsNotFound(err) {
			return poll.Success()
		}
		if err != nil {
			return poll.Error(err)
		}
		return poll.Continue("%s still exists", what)
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))
}

// The build runs in the builds namespace, under a ServiceAccount without token or rights, and
// the pipeline in the PR namespace sees it as its own build task: its status, its image-digest,
// and where its log is.
func TestIntegrationBuildRunsInTheBuildsNamespace(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	digest := "sha256:" + strings.Repeat("cd", 32)
	run := e.pipelineRun("deploy-1", map[string]string{
		cluster.ForTask(cluster.AnnotationResults, "build"): cluster.ResultsMessage(map[string]string{"image-digest": digest}),
		cluster.ForTask(cluster.AnnotationHold, "build"):    "true",
	}, nil)

	cr := e.customRun(run.Name)
	trName := buildrun.TaskRunName(e.prNS, cr.Name)
	assert.Equal(t, cr.Annotations[preview.AnnotationBuildTaskRun], e.builds+"/"+trName, "the reporter finds the build's log there")
	var pod *corev1.Pod
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		pods, err := e.kube.CoreV1().Pods(e.builds).List(ctx, metav1.ListOptions{LabelSelector: "tekton.dev/taskRun=" + trName})
		if err != nil {
			return poll.Error(err)
		}
		if len(pods.Items) == 0 || pods.Items[0].Status.Phase != corev1.PodRunning {
			return poll.Continue("build pod not running yet")
		}
		pod = &pods.Items[0]
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))

	// No pod of the build in the PR namespace: the chart's namespace never hosts it.
	prPods, err := e.kube.CoreV1().Pods(e.prNS).List(ctx, metav1.ListOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(prPods.Items, 0))

	// The pod: builder ServiceAccount, no token mounted, the per-build credentials only.
	assert.Equal(t, pod.Spec.ServiceAccountName, preview.BuilderServiceAccount)
	assert.Check(t, pod.Spec.AutomountServiceAccountToken != nil && !*pod.Spec.AutomountServiceAccountToken)
	for _, v := range pod.Spec.Volumes {
		assert.Check(t, v.Projected == nil || !hasTokenProjection(v.Projected), "volume %s projects a ServiceAccount token", v.Name)
	}
	creds, err := e.kube.CoreV1().Secrets(e.builds).Get(ctx, buildrun.SecretName(trName), metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Equal(t, string(creds.Data[buildrun.KeyGitToken]), gitToken)

	// The builds namespace: privileged (BuildKit), its ServiceAccount has no token and no rights.
	bns, err := e.kube.CoreV1().Namespaces().Get(ctx, e.builds, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Equal(t, bns.Labels[buildrun.PodSecurityLabel], "privileged")
	sa, err := e.kube.CoreV1().ServiceAccounts(e.builds).Get(ctx, preview.BuilderServiceAccount, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken)
	builder := "system:serviceaccount:" + e.builds + ":" + preview.BuilderServiceAccount
	for _, ra := range []authorizationv1.ResourceAttributes{
		{Namespace: e.builds, Verb: "get", Resource: "secrets", Name: creds.Name},
		{Namespace: e.builds, Verb: "list", Resource: "pods"},
		{Namespace: e.builds, Verb: "create", Group: "tekton.dev", Resource: "taskruns"},
		{Namespace: e.prNS, Verb: "get", Resource: "secrets", Name: preview.GitTokenSecret},
		{Namespace: e.prNS, Verb: "create", Group: "apps", Resource: "deployments"},
	} {
		review, err := e.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: builder, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + e.builds}, ResourceAttributes: &ra},
		}, metav1.CreateOptions{})
		assert.NilError(t, err)
		assert.Check(t, !review.Status.Allowed, "the builder may %s %s/%s in %s", ra.Verb, ra.Resource, ra.Name, ra.Namespace)
	}

	// What the build pod needs (unconfined seccomp and AppArmor) is refused by admission in
	// the PR namespace: that is why it runs elsewhere.
	inPR := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "build-copy"}, Spec: *pod.Spec.DeepCopy()}
	inPR.Spec.NodeName, inPR.Spec.ServiceAccountName, inPR.Spec.DeprecatedServiceAccount = "", "", ""
	_, err = e.kube.CoreV1().Pods(e.prNS).Create(ctx, inPR, metav1.CreateOptions{})
	assert.Check(t, apierrors.IsForbidden(err), "got %v", err)
	assert.Check(t, is.ErrorContains(err, `violates PodSecurity "baseline:latest"`))

	assert.NilError(t, cluster.Release(ctx, e.kube, e.builds, run.Name, "build"))
	done := e.waitRun(run.Name, finished("Succeeded"))
	assert.Equal(t, done.Status.Results[0].Value.StringVal, digest, "the build's image-digest reaches the pipeline")

	// Deleting the run (as pruning or the PR's close does) deletes its build and the build's
	// credentials, which lived as long as the build's pod and log (the reporter masks them).
	assert.NilError(t, e.tekton.TektonV1().PipelineRuns(e.prNS).Delete(ctx, run.Name, metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationForeground)}))
	e.waitGone("build taskrun", func() error {
		_, err := e.tekton.TektonV1().TaskRuns(e.builds).Get(ctx, trName, metav1.GetOptions{})
		return err
	})
	e.waitGone("build credentials", func() error {
		_, err := e.kube.CoreV1().Secrets(e.builds).Get(ctx, creds.Name, metav1.GetOptions{})
		return err
	})
}

func hasTokenProjection(p *corev1.ProjectedVolumeSource) bool {
	for _, s := range p.Sources {
		if s.ServiceAccountToken != nil {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// A cancelled PipelineRun (a newer push) cancels its build in the builds namespace; a failed build fails the pipeline with the build's own reason and message.
func TestIntegrationBuildCancelAndFailure(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	held := e.pipelineRun("deploy-held", map[string]string{cluster.ForTask(cluster.AnnotationHold, "build"): "true"}, nil)
	cr := e.customRun(held.Name)
	trName := buildrun.TaskRunName(e.prNS, cr.Name)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		_, err := e.kube.CoreV1().Secrets(e.builds).Get(ctx, buildrun.SecretName(trName), metav1.GetOptions{})
		if err != nil {
			return poll.Continue("credentials: %v", err)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(100*time.Millisecond))
	_, err := e.tekton.TektonV1().PipelineRuns(e.prNS).Patch(ctx, held.Name, types.MergePatchType,
		[]byte(`{"spec":{"status":"Cancelled"}}`), metav1.PatchOptions{})
	assert.NilError(t, err)
	e.waitRun(held.Name, finished("Cancelled"))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		tr, err := e.tekton.TektonV1().TaskRuns(e.builds).Get(ctx, trName, metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		if !tr.IsDone() || tr.Spec.Status != pipelinev1.TaskRunSpecStatusCancelled {
			return poll.Continue("build taskrun not cancelled yet (spec.status %q)", tr.Spec.Status)
		}
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))

	failing := e.pipelineRun("deploy-failing", map[string]string{cluster.ForTask(cluster.AnnotationFail, "build"): "1"}, nil)
	e.waitRun(failing.Name, finished("Failed"))
	failed := e.customRun(failing.Name)
	crCond := failed.Status.GetCondition(apis.ConditionSucceeded)
	assert.Assert(t, crCond != nil)
	assert.Check(t, is.Equal(crCond.Reason, "StepFailed"), "the build's reason, for the trigger's failure classification")
	assert.Check(t, is.Contains(crCond.Message, "exited with code 1"))
}

// A build that is not the trigger's — pushing another pull request's image, fetching another
// repository, or in a namespace the trigger does not manage — is refused before any credential
// is copied, with the reason on the pipeline.
func TestIntegrationForeignBuildIsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	tests := map[string]struct {
		param, value string
		want         string
	}{
		"another PR's image":           {param: "image", value: preview.ImageRef(e.cfg.Preview.Registry, e.repo, 8, sha), want: "a build may only push its own pull request's image"},
		"another repository":           {param: "repo-url", value: "https://github.example/evil/fork.git", want: "is not the pull request's head repository"},
		"a revision that is not a SHA": {param: "revision", value: "main", want: `param revision "main" is not a 40-hex commit SHA`},
	}
	i := 0
	for name, tc := range tests {
		i++
		t.Run(name, func(t *testing.T) {
			run := e.pipelineRun(fmt.Sprintf("forged-%d", i), nil, func(pr *pipelinev1.PipelineRun) {
				for j, p := range pr.Spec.PipelineSpec.Tasks[0].Params {
					if p.Name == tc.param {
						pr.Spec.PipelineSpec.Tasks[0].Params[j].Value = *pipelinev1.NewStructuredValues(tc.value)
					}
				}
			})
			e.waitRun(run.Name, finished("Failed"))
			var cr *v1beta1.CustomRun
			poll.WaitOn(t, func(poll.LogT) poll.Result {
				list, err := e.tekton.TektonV1beta1().CustomRuns(e.prNS).List(ctx, metav1.ListOptions{LabelSelector: "tekton.dev/pipelineRun=" + run.Name})
				if err != nil {
					return poll.Error(err)
				}
				if len(list.Items) == 0 {
					return poll.Continue("no customrun")
				}
				cr = &list.Items[0]
				return poll.Success()
			}, poll.WithTimeout(30*time.Second), poll.WithDelay(100*time.Millisecond))
			cond := cr.Status.GetCondition(apis.ConditionSucceeded)
			assert.Assert(t, cond != nil)
			assert.Check(t, is.Equal(cond.Reason, buildrun.ReasonRefused))
			assert.Check(t, is.Contains(cond.Message, tc.want))
			trName := buildrun.TaskRunName(e.prNS, cr.Name)
			_, err := e.tekton.TektonV1().TaskRuns(e.builds).Get(ctx, trName, metav1.GetOptions{})
			assert.Check(t, apierrors.IsNotFound(err), "no build: %v", err)
			_, err = e.kube.CoreV1().Secrets(e.builds).Get(ctx, buildrun.SecretName(trName), metav1.GetOptions{})
			assert.Check(t, apierrors.IsNotFound(err), "no credentials copied: %v", err)
		})
	}
}
