package reporter

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"go.uber.org/zap/zaptest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"knative.dev/pkg/apis"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/preview"
)

// The tests below run the reporter against the local control plane: real apiserver, real
// Tekton moving PipelineRuns, KWOK deciding each pod's fate, and the GitHub simulator.
func TestMain(m *testing.M) { os.Exit(cluster.RunMain(m, nil)) }

// stack is one PR namespace on the cluster, a simulated GitHub with its pull request, and the
// reporters a test starts.
type stack struct {
	c       *cluster.Cluster
	ns      string
	kube    kubernetes.Interface
	tekton  tektonclient.Interface
	sim     *ghsim.Sim
	metrics *Metrics
}

func newStack(t *testing.T) *stack {
	t.Helper()
	c := cluster.Require(t)
	tc, err := tektonclient.NewForConfig(c.RESTConfig())
	assert.NilError(t, err)
	sim, err := ghsim.New(ghsim.Options{Logger: zaptest.NewLogger(t)})
	assert.NilError(t, err)
	t.Cleanup(sim.Close)
	_, err = sim.AddRepo(testRepo)
	assert.NilError(t, err)
	_, err = sim.OpenPR(t.Context(), testRepo, ghsim.PROptions{})
	assert.NilError(t, err)
	s := &stack{c: c, ns: c.Namespace(t), kube: c.Kube(), tekton: tc, sim: sim, metrics: NewMetrics(nil)}
	// Runs before the harness deletes the namespace: unmanage it so that later tests'
	// reporters ignore it, and drop the finalizer that no reporter will remove any more.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		patch := `{"metadata":{"finalizers":null,"labels":{"catalyst.dev/managed":null}}}`
		_, err := s.kube.CoreV1().Namespaces().Patch(ctx, s.ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		if !apierrors.IsNotFound(err) {
			assert.Check(t, err)
		}
	})
	// The trigger's record of PR #1, with the namespace this test got.
	ns := namespace(t, sim.InstallationID("acme"))
	record, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": ns.Labels, "annotations": ns.Annotations}})
	assert.NilError(t, err)
	_, err = s.kube.CoreV1().Namespaces().Patch(t.Context(), s.ns, types.MergePatchType, record, metav1.PatchOptions{})
	assert.NilError(t, err)
	db := secret("shop-db", map[string]string{"password": "hunter2-db-password"})
	db.Namespace = s.ns
	_, err = s.kube.CoreV1().Secrets(s.ns).Create(t.Context(), db, metav1.CreateOptions{})
	assert.NilError(t, err)
	return s
}

// startReporter runs a reporter until the returned stop is called (or the test ends); stop
// returns once every worker has stopped.
func (s *stack) startReporter(t *testing.T) (stop func()) {
	t.Helper()
	return s.startReporterAs(t, s.kube, s.tekton)
}

// startReporterAs runs a reporter with the given clients (an identity with the reporter's own
// RBAC, say).
func (s *stack) startReporterAs(t *testing.T, kube kubernetes.Interface, tekton tektonclient.Interface) (stop func()) {
	t.Helper()
	clients, err := githubapp.NewApp(githubapp.AppConfig{AppID: s.sim.AppID(), PrivateKeyPEM: s.sim.PrivateKeyPEM(), BaseURL: s.sim.URL() + "/"},
		zaptest.NewLogger(t), nil)
	assert.NilError(t, err)
	c := NewController(Deps{
		Kube: kube, Tekton: tekton, GitHub: ClientsFrom(clients), Config: testConfig(t),
		Log: zaptest.NewLogger(t).Named("reporter"), Metrics: s.metrics, ClassifyWait: 500 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, 2) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			assert.Check(t, <-done)
		})
	}
	t.Cleanup(stop)
	return stop
}

// pipelineRunYAML is the catalyst-preview shape (build → deploy → healthcheck, url result)
// with inline tasks whose steps KWOK plays.
const pipelineRunYAML = `
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: deploy-4f1c2d3e5a6b-1
  labels: {catalyst.dev/managed: "true", catalyst.dev/kind: deploy, catalyst.dev/repo: acme.shop, catalyst.dev/pr: "1", catalyst.dev/sha: 4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d}
  annotations: {catalyst.dev/repo-full: acme/shop, catalyst.dev/attempt: "1", catalyst.dev/cause: event}
spec:
  pipelineSpec:
    results:
    - {name: url, value: $(tasks.deploy.results.url)}
    tasks:
    - name: build
      taskSpec:
        steps: [{name: build, image: example.invalid/buildkit, command: [buildctl, build]}]
    - name: deploy
      runAfter: [build]
      taskSpec:
        results: [{name: url}, {name: diagnostics}]
        steps:
        - {name: fetch, image: example.invalid/git, command: [git, fetch]}
        - {name: helm, image: example.invalid/step, command: [preview-step, deploy]}
    - name: healthcheck
      runAfter: [deploy]
      taskSpec:
        steps: [{name: check, image: example.invalid/step, command: [preview-step, healthcheck]}]
`

func (s *stack) createRun(t *testing.T, fates map[string]string) {
	t.Helper()
	run := decode[pipelinev1.PipelineRun](t, pipelineRunYAML)
	run.Namespace = s.ns
	run.Annotations[preview.AnnotationEventAt] = time.Now().UTC().Format(time.RFC3339Nano)
	run.Annotations[cluster.ForTask(cluster.AnnotationResults, "deploy")] = cluster.ResultsMessage(map[string]string{"url": "https://1-shop.preview.example.com"})
	for k, v := range fates {
		run.Annotations[k] = v
	}
	_, err := s.tekton.TektonV1().PipelineRuns(s.ns).Create(t.Context(), run, metav1.CreateOptions{})
	assert.NilError(t, err)
}

var waitLong = []poll.SettingOp{poll.WithTimeout(90 * time.Second), poll.WithDelay(100 * time.Millisecond)}

// waitGitHub waits until the commit's check run and the comment show what is wanted.
func (s *stack) waitGitHub(t *testing.T, status, conclusion, heading string) (*github.CheckRun, *github.IssueComment) {
	t.Helper()
	var run *github.CheckRun
	var comment *github.IssueComment
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		conv, err := s.sim.Conversation(testRepo, 1)
		if err != nil {
			return poll.Error(err)
		}
		runs := s.sim.CheckRuns(testRepo, testSHA)
		if len(runs) == 0 || len(conv.Comments) == 0 {
			return poll.Continue("nothing reported yet")
		}
		run, comment = runs[len(runs)-1], conv.Comments[len(conv.Comments)-1]
		if run.GetStatus() != status || run.GetConclusion() != conclusion || !strings.Contains(comment.GetBody(), "Catalyst Preview: "+heading) {
			return poll.Continue("check run %s/%s %q, comment %q", run.GetStatus(), run.GetConclusion(), run.GetOutput().GetTitle(), firstLines(comment.GetBody()))
		}
		return poll.Success()
	}, waitLong...)
	assert.Equal(t, len(s.sim.CheckRuns(testRepo, testSHA)), 1, "one check run per commit")
	return run, comment
}

// waitLedger waits until the reporter recorded a phase on both surfaces.
func (s *stack) waitLedger(t *testing.T, phase Phase) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		run, err := s.tekton.TektonV1().PipelineRuns(s.ns).Get(t.Context(), "deploy-4f1c2d3e5a6b-1", metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		ns, err := s.kube.CoreV1().Namespaces().Get(t.Context(), s.ns, metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		got := [2]Phase{phaseOfEntry(run.Annotations[preview.AnnotationReportHash]), phaseOfEntry(ns.Annotations[preview.AnnotationCommentHash])}
		if got != [2]Phase{phase, phase} {
			return poll.Continue("ledger is %v", got)
		}
		return poll.Success()
	}, waitLong...)
}

func firstLines(s string) string {
	lines := strings.SplitN(s, "\n", 3)
	return strings.Join(lines[:min(2, len(lines))], " ")
}

func TestE2ESuccessfulDeployment(t *testing.T) {
	s := newStack(t)
	s.startReporter(t)
	s.createRun(t, map[string]string{cluster.ForTask(cluster.AnnotationDelay, "deploy"): "1s"})

	run, comment := s.waitGitHub(t, "completed", "success", "preview ready")
	t.Logf("writes: %v", writes(s.sim))
	assert.Check(t, is.Contains(comment.GetBody(), "https://1-shop.preview.example.com"), "the pipeline's url result")
	assert.Check(t, is.Contains(run.GetOutput().GetSummary(), "| deploy | ✅ succeeded |"))
	assert.Equal(t, run.GetExternalID(), s.ns+"/"+testSHA)
	s.waitLedger(t, PhaseSucceeded)
	writes := s.sim.WriteCalls()
	t.Logf("successful deployment on the real stack: %d GitHub writes", writes)
	assert.Assert(t, writes <= 6, "%d writes", writes)
	ns, err := s.kube.CoreV1().Namespaces().Get(t.Context(), s.ns, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Contains(ns.Finalizers, preview.FinalizerReport))
}

func TestE2EFailedDeploymentShowsMaskedLog(t *testing.T) {
	s := newStack(t)
	s.startReporter(t)
	s.createRun(t, map[string]string{
		cluster.ForTask(cluster.AnnotationHold, "deploy"): "true",
		cluster.ForTask(cluster.AnnotationFail, "deploy"): "3",
	})
	pod := s.waitPod(t, "deploy")
	const log = "Installing chart\nconnecting to postgres://shop:hunter2-db-password@db:5432/shop\nError: INSTALLATION FAILED: timed out waiting for the condition\n"
	// KWOK fails every step of the pod with the code, so the first step is the failed one.
	assert.NilError(t, s.c.SetPodLogs(t.Context(), s.ns, pod, "step-fetch", log))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		got, err := PodLogs{Kube: s.kube}.TailLog(t.Context(), s.ns, pod, "step-fetch", 10)
		if err != nil || !strings.Contains(got, "INSTALLATION FAILED") {
			return poll.Continue("log not served yet: %q %v", got, err)
		}
		return poll.Success()
	}, waitLong...)
	assert.NilError(t, cluster.Release(t.Context(), s.kube, s.ns, "deploy-4f1c2d3e5a6b-1", "deploy"))

	run, comment := s.waitGitHub(t, "completed", "failure", "failed in deploy")
	for _, text := range []string{run.GetOutput().GetText(), comment.GetBody()} {
		assert.Check(t, is.Contains(text, "postgres://shop:***@db:5432/shop"))
		assert.Check(t, is.Contains(text, "Error: INSTALLATION FAILED"))
		assert.Check(t, !strings.Contains(text, "hunter2"))
	}
	assert.Check(t, is.Contains(comment.GetBody(), "/retest"))
	assert.Check(t, is.Contains(run.GetOutput().GetSummary(), "| healthcheck | ⏭️ skipped |"))
}

// A reporter stopped in the middle of a deployment and started again after it ended reports
// the final state exactly once.
func TestE2EReporterRestartReportsFinalStateOnce(t *testing.T) {
	s := newStack(t)
	stop := s.startReporter(t)
	s.createRun(t, map[string]string{cluster.ForTask(cluster.AnnotationHold, "healthcheck"): "true"})
	s.waitGitHub(t, "in_progress", "", "deploying")
	s.waitLedger(t, PhaseRunning)
	stop()

	s.sim.ResetCalls()
	s.waitPod(t, "healthcheck")
	assert.NilError(t, cluster.Release(t.Context(), s.kube, s.ns, "deploy-4f1c2d3e5a6b-1", "healthcheck"))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		run, err := s.tekton.TektonV1().PipelineRuns(s.ns).Get(t.Context(), "deploy-4f1c2d3e5a6b-1", metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		if !run.IsDone() {
			return poll.Continue("run still %v", run.Status.GetCondition(apis.ConditionSucceeded))
		}
		return poll.Success()
	}, waitLong...)
	assert.Equal(t, len(s.sim.Calls()), 0, "nobody reports while the reporter is down")

	s.startReporter(t)
	s.waitGitHub(t, "completed", "success", "preview ready")
	s.waitLedger(t, PhaseSucceeded)
	// One more event after the ledger is written: the new reporter must see it and stay quiet.
	before := testutil.ToFloat64(s.metrics.reconciles.WithLabelValues("success"))
	patch := `{"metadata":{"labels":{"e2e.catalyst.dev/touched":"yes"}}}`
	_, err := s.tekton.TektonV1().PipelineRuns(s.ns).Patch(t.Context(), "deploy-4f1c2d3e5a6b-1", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	assert.NilError(t, err)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if testutil.ToFloat64(s.metrics.reconciles.WithLabelValues("success")) > before {
			return poll.Success()
		}
		return poll.Continue("no reconcile since the touch")
	}, waitLong...)
	assert.Equal(t, s.sim.WriteCalls(), 2, "the final state, once: %v", writes(s.sim))
	assert.Equal(t, s.sim.CountCalls(http.MethodPatch, ghsim.RouteCheckRun), 1)
	assert.Equal(t, s.sim.CountCalls(http.MethodPatch, ghsim.RouteIssueComment), 1)
}

// Deleting the namespace: the reporter's finalizer holds it until the comment says the
// environment was removed, then lets it go.
func TestE2EEnvironmentRemovedFinalComment(t *testing.T) {
	s := newStack(t)
	s.startReporter(t)
	s.createRun(t, nil)
	s.waitGitHub(t, "completed", "success", "preview ready")
	s.waitLedger(t, PhaseSucceeded)

	assert.NilError(t, s.kube.CoreV1().Namespaces().Delete(t.Context(), s.ns, metav1.DeleteOptions{}))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		_, err := s.kube.CoreV1().Namespaces().Get(t.Context(), s.ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return poll.Success()
		}
		return poll.Continue("namespace still there: %v", err)
	}, waitLong...)
	comments := s.sim.Comments(testRepo, 1)
	assert.Equal(t, len(comments), 1)
	assert.Check(t, is.Contains(comments[0].GetBody(), "Catalyst Preview: environment removed"))
	assert.Equal(t, s.checkRunConclusion(), "success", "the check run keeps its verdict")
}

func (s *stack) checkRunConclusion() string {
	runs := s.sim.CheckRuns(testRepo, testSHA)
	return runs[len(runs)-1].GetConclusion()
}

// waitPod waits for the pod of one pipeline task of the run and returns its name.
func (s *stack) waitPod(t *testing.T, task string) string {
	t.Helper()
	var name string
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		pods, err := s.kube.CoreV1().Pods(s.ns).List(t.Context(), metav1.ListOptions{
			LabelSelector: "tekton.dev/pipelineRun=deploy-4f1c2d3e5a6b-1,tekton.dev/pipelineTask=" + task,
		})
		if err != nil {
			return poll.Error(err)
		}
		if len(pods.Items) == 0 || pods.Items[0].Status.Phase != corev1.PodRunning {
			return poll.Continue("no running pod for %s yet", task)
		}
		name = pods.Items[0].Name
		return poll.Success()
	}, waitLong...)
	return name
}

// The deploy step's diagnostics result reaches the pull request as Check Run annotations on the
// files, and as a short list in the comment: Tekton keeps a failed TaskRun's results.
func TestE2EDiagnosticsBecomeAnnotations(t *testing.T) {
	s := newStack(t)
	s.startReporter(t)
	diags, err := preview.EncodeDiagnostics(stepDiagnostics[preview.DiagnosticTemplate])
	assert.NilError(t, err)
	s.createRun(t, map[string]string{
		cluster.ForTask(cluster.AnnotationFail, "deploy"):    "3",
		cluster.ForTask(cluster.AnnotationResults, "deploy"): cluster.ResultsMessage(map[string]string{preview.ResultDiagnostics: diags}),
	})
	run, comment := s.waitGitHub(t, "completed", "failure", "failed in deploy")
	anns := s.sim.Annotations(testRepo, run.GetID())
	assert.Equal(t, len(anns), 2, "%v", anns)
	assert.Equal(t, anns[0].GetPath(), "charts/example-app/templates/deployment.yaml")
	assert.Equal(t, anns[0].GetStartLine(), 24)
	assert.Equal(t, anns[0].GetAnnotationLevel(), "failure")
	assert.Check(t, is.Contains(anns[0].GetMessage(), "nil pointer evaluating interface {}.port"))
	assert.Check(t, is.Contains(comment.GetBody(), "- Chart template error in `charts/example-app/templates/ingress.yaml:7` (included from `charts/example-app/templates/_helpers.tpl:12`): `function \"nosuchfunc\" not defined`"))
}

// With the reporter's own RBAC minus Secrets, the apiserver refuses the secret reads, and the
// report shows no excerpt, saying the logs are withheld. The same rules, with Secrets, are what
// the reporter needs (the chart's ClusterRole).
func TestE2EForbiddenSecretsWithholdTheExcerpt(t *testing.T) {
	s := newStack(t)
	user := "catalyst-reporter-" + s.ns
	rules := ReporterRules()
	var withoutSecrets []rbacv1.PolicyRule
	for _, r := range rules {
		if !slices.Contains(r.Resources, "secrets") {
			withoutSecrets = append(withoutSecrets, r)
		}
	}
	assert.Assert(t, len(withoutSecrets) == len(rules)-1)
	ctx := t.Context()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: withoutSecrets}
	_, err := s.kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{})
	assert.NilError(t, err)
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}}
	_, err = s.kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
	assert.NilError(t, err)
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		assert.Check(t, s.kube.RbacV1().ClusterRoleBindings().Delete(ctx, user, metav1.DeleteOptions{}))
		assert.Check(t, s.kube.RbacV1().ClusterRoles().Delete(ctx, user, metav1.DeleteOptions{}))
	})
	cfg := rest.CopyConfig(s.c.RESTConfig())
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	kube, err := kubernetes.NewForConfig(cfg)
	assert.NilError(t, err)
	tekton, err := tektonclient.NewForConfig(cfg)
	assert.NilError(t, err)
	_, err = kube.CoreV1().Secrets(s.ns).Get(ctx, "shop-db", metav1.GetOptions{})
	assert.Assert(t, apierrors.IsForbidden(err), "the apiserver decides: %v", err)

	s.startReporterAs(t, kube, tekton)
	s.createRun(t, map[string]string{
		cluster.ForTask(cluster.AnnotationHold, "deploy"): "true",
		cluster.ForTask(cluster.AnnotationFail, "deploy"): "3",
	})
	pod := s.waitPod(t, "deploy")
	assert.NilError(t, s.c.SetPodLogs(ctx, s.ns, pod, "step-fetch", "connecting to postgres://shop:hunter2-db-password@db\n"))
	assert.NilError(t, cluster.Release(ctx, s.kube, s.ns, "deploy-4f1c2d3e5a6b-1", "deploy"))
	run, comment := s.waitGitHub(t, "completed", "failure", "failed in deploy")
	for _, text := range []string{run.GetOutput().GetText(), comment.GetBody()} {
		assert.Check(t, is.Contains(text, "The log excerpt is withheld"))
		assert.Check(t, is.Contains(text, "is forbidden"))
		assert.Check(t, !strings.Contains(text, "hunter2"))
	}
}

// No metrics-server here: the metrics API is not served, and the usage gauge falls back to
// what the ResourceQuota records, saying so.
func TestE2EUsageFallsBackToQuota(t *testing.T) {
	s := newStack(t)
	sample, err := (&UsagePoller{Kube: s.kube}).Poll(t.Context())
	assert.NilError(t, err)
	assert.Check(t, !sample.served, "metrics.k8s.io is not served by the local control plane")

	quota := decode[corev1.ResourceQuota](t, `
metadata: {name: catalyst-quota, labels: {catalyst.dev/managed: "true"}}
spec: {hard: {requests.cpu: "4", requests.memory: 8Gi}}`)
	quota.Namespace = s.ns
	_, err = s.kube.CoreV1().ResourceQuotas(s.ns).Create(t.Context(), quota, metav1.CreateOptions{})
	assert.NilError(t, err)
	reg := prometheus.NewPedanticRegistry()
	s.metrics = NewMetrics(reg)
	s.startReporter(t)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		mfs, err := reg.Gather()
		if err != nil {
			return poll.Error(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "catalyst_reporter_namespace_usage" {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["namespace"] == s.ns && labels["source"] == "quota" && labels["resource"] == "cpu" {
					return poll.Success()
				}
			}
		}
		return poll.Continue("no usage series for %s yet", s.ns)
	}, waitLong...)
}
