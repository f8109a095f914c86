package steprunner_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/ingress"
	"github.com/catalyst-preview/catalyst/e2e/podfate"
	"github.com/catalyst-preview/catalyst/e2e/process"
	"github.com/catalyst-preview/catalyst/e2e/steprunner"
	"github.com/catalyst-preview/catalyst/pipelines"
	"github.com/catalyst-preview/catalyst/preview"
)

const (
	stepImage = "catalyst-e2e.invalid/preview-step:test"
	revision  = "0123456789abcdef0123456789abcdef01234567"
)

var (
	tekton  tektonclient.Interface
	standin *ingress.StandIn
	source  string // the files the simulated fetch copies
)

func TestMain(m *testing.M) { os.Exit(cluster.RunMain(m, setup)) }

// setup builds preview-step and starts what e2e/system starts for it: the pod-fate driver
// running the step image's pods with the runner, and the ingress stand-in.
func setup(ctx context.Context, c *cluster.Cluster) error {
	root, err := cluster.RepoRoot()
	if err != nil {
		return err
	}
	bins, err := process.GoBuild(ctx, root, filepath.Join(c.TempDir(), "bin"), process.RaceFromEnv(), os.Stderr, "./cmd/preview-step")
	if err != nil {
		return err
	}
	// The repository the fetch stands for: the example chart, and values that point its
	// health probes elsewhere.
	source = filepath.Join(c.TempDir(), "source")
	if err := os.MkdirAll(filepath.Join(source, "charts"), 0o755); err != nil {
		return err
	}
	if err := os.CopyFS(filepath.Join(source, "charts", "example-app"), os.DirFS(filepath.Join(root, "charts", "example-app"))); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(source, "other-health.yaml"), []byte("healthPath: /ready\n"), 0o644); err != nil {
		return err
	}
	if tekton, err = tektonclient.NewForConfig(c.RESTConfig()); err != nil {
		return err
	}
	runner := steprunner.New(c.Kube(), c.RESTConfig(), c, steprunner.Options{
		Image:    stepImage,
		Commands: map[string]string{"preview-step": bins["preview-step"]},
		Simulate: steprunner.FetchFrom(func(string) (string, error) { return source, nil }),
		Dir:      c.TempDir(),
	})
	if standin, err = ingress.Start(ctx, c.Kube(), ingress.Options{Class: "e2e"}); err != nil {
		return err
	}
	driver := podfate.New(c.Kube(), tekton, podfate.RunSteps(0), podfate.Options{Runner: runner, Logs: c, ErrorLog: os.Stderr})
	go func() { _ = driver.Run(context.Background()) }() // ends with the test binary
	return nil
}

type env struct {
	c  *cluster.Cluster
	ns string
}

// newEnv is a namespace with the project's Tasks and the pipeline's ServiceAccount with exactly
// the trigger's Role (preview.PipelineRules), and a ServiceAccount "nobody" that may do nothing.
func newEnv(t *testing.T) env {
	t.Helper()
	c := cluster.Require(t)
	t.Parallel()
	e := env{c: c, ns: c.Namespace(t)}
	ctx := t.Context()
	assert.NilError(t, pipelines.Apply(ctx, tekton, e.ns))
	for _, sa := range []string{preview.PipelineServiceAccount, "nobody"} {
		_, err := c.Kube().CoreV1().ServiceAccounts(e.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		assert.NilError(t, err)
	}
	_, err := c.Kube().RbacV1().Roles(e.ns).Create(ctx, preview.PipelineRole(e.ns, nil), metav1.CreateOptions{})
	assert.NilError(t, err)
	_, err = c.Kube().RbacV1().RoleBindings(e.ns).Create(ctx, preview.PipelineRoleBinding(e.ns, nil), metav1.CreateOptions{})
	assert.NilError(t, err)
	return e
}

// taskRun runs a Task of the project (or an inline spec) held for the driver, as the system's
// PipelineRuns are, and waits for its end.
func (e env) taskRun(t *testing.T, sa string, manifest string) *pipelinev1.TaskRun {
	t.Helper()
	var tr pipelinev1.TaskRun
	assert.NilError(t, yaml.UnmarshalStrict([]byte(manifest), &tr))
	tr.GenerateName = "tr-"
	tr.Spec.ServiceAccountName = sa
	tr.Annotations = map[string]string{cluster.AnnotationHold: "true"}
	created, err := tekton.TektonV1().TaskRuns(e.ns).Create(t.Context(), &tr, metav1.CreateOptions{})
	assert.NilError(t, err)
	var done *pipelinev1.TaskRun
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		cur, err := tekton.TektonV1().TaskRuns(e.ns).Get(t.Context(), created.Name, metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		if c := cur.Status.GetCondition(apis.ConditionSucceeded); c != nil && c.Status != corev1.ConditionUnknown {
			done = cur
			return poll.Success()
		}
		return poll.Continue("taskrun %s not done", created.Name)
	}, poll.WithTimeout(2*time.Minute), poll.WithDelay(200*time.Millisecond))
	return done
}

func (e env) log(t *testing.T, tr *pipelinev1.TaskRun, container string) string {
	t.Helper()
	raw, err := e.c.Kube().CoreV1().Pods(e.ns).GetLogs(tr.Status.PodName, &corev1.PodLogOptions{Container: container}).DoRaw(t.Context())
	assert.NilError(t, err)
	return string(raw)
}

func deployRun(host, values string) string {
	return fmt.Sprintf(`
spec:
  taskRef: {name: catalyst-deploy}
  params:
  - {name: repo-url, value: "http://git.invalid/acme/app.git"}
  - {name: revision, value: %q}
  - {name: pr-number, value: "7"}
  - {name: image, value: "registry.invalid/acme/app:pr-7-0123456789ab"}
  - {name: chart-path, value: charts/example-app}
  - {name: values-file, value: %q}
  - {name: preview-host, value: %q}
  - {name: url-scheme, value: http}
  - {name: ingress-class, value: e2e}
  - {name: deploy-timeout, value: 90s}
  - {name: step-image, value: %q}
`, revision, values, host, stepImage)
}

func healthRun(host, connectTo string) string {
	return fmt.Sprintf(`
spec:
  taskRef: {name: catalyst-healthcheck}
  params:
  - {name: url, value: "http://%s"}
  - {name: connect-to, value: %q}
  - {name: health-timeout, value: 60s}
  - {name: step-image, value: %q}
`, host, connectTo, stepImage)
}

func succeeded(tr *pipelinev1.TaskRun) bool {
	return tr.Status.GetCondition(apis.ConditionSucceeded).IsTrue()
}

func result(tr *pipelinev1.TaskRun, name string) string {
	for _, r := range tr.Status.Results {
		if r.Name == name {
			return r.Value.StringVal
		}
	}
	return ""
}

func get(t *testing.T, host, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+standin.Addr()+path, nil)
	assert.NilError(t, err)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	assert.NilError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(resp.Header.Get(ingress.Header), "ingress"))
	return resp.StatusCode, string(body)
}

// The project's deploy, health-check and cleanup Tasks run the real preview-step: the chart is
// installed into the apiserver with the pod's ServiceAccount, the health check goes through the
// ingress stand-in, the cleanup uninstalls it; results, logs and exit codes are the step's own.
func TestRealStepsDeployCheckAndCleanUp(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	host := "7-app-" + e.ns + ".preview.test"

	tr := e.taskRun(t, preview.PipelineServiceAccount, deployRun(host, ""))
	assert.Assert(t, succeeded(tr), "deploy: %v\n%s", tr.Status.GetCondition(apis.ConditionSucceeded), e.log(t, tr, "step-deploy"))
	assert.Check(t, is.Equal(result(tr, "url"), "http://"+host))
	assert.Check(t, is.Equal(result(tr, "release-revision"), "1"))
	assert.Check(t, is.Contains(e.log(t, tr, "step-deploy"), "Open it at:"), "helm's notes, printed by the real step")
	assert.Check(t, is.Contains(e.log(t, tr, "step-fetch"), "git fetch simulated"))
	release, err := e.c.Kube().CoreV1().Secrets(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=preview"})
	assert.NilError(t, err)
	assert.Check(t, is.Len(release.Items, 1), "helm's release record")
	for _, s := range tr.Status.Steps {
		assert.Check(t, s.Terminated != nil && s.Terminated.ExitCode == 0, "step %s: %+v", s.Name, s.Terminated)
	}

	// no route before the chart's Ingress exists is covered by the unknown host below
	tr = e.taskRun(t, preview.PipelineServiceAccount, healthRun(host, standin.Addr()))
	assert.Assert(t, succeeded(tr), "healthcheck:\n%s", e.log(t, tr, "step-healthcheck"))
	assert.Check(t, is.Contains(e.log(t, tr, "step-healthcheck"), "preview is healthy"))
	hits := standin.Hits(host)
	assert.Assert(t, len(hits) > 0, "the health check went through the stand-in")
	assert.Check(t, is.Equal(hits[len(hits)-1].Path, "/healthz"))
	assert.Check(t, is.Equal(hits[len(hits)-1].Status, http.StatusOK))

	code, body := get(t, host, "/")
	assert.Check(t, is.Equal(code, http.StatusOK))
	assert.Check(t, is.Contains(body, "This is not the application"))
	assert.Check(t, is.Contains(body, e.ns+"/preview-example-app"), "the route found")
	code, _ = get(t, host, "/nothing-here")
	assert.Check(t, is.Equal(code, http.StatusNotFound), "only the app's probe paths answer")
	code, _ = get(t, "elsewhere.preview.test", "/healthz")
	assert.Check(t, is.Equal(code, http.StatusNotFound), "no Ingress for that host")

	tr = e.taskRun(t, preview.PipelineServiceAccount, `
spec:
  taskRef: {name: catalyst-cleanup}
  params:
  - {name: cleanup-timeout, value: 60s}
  - {name: step-image, value: `+stepImage+`}
`)
	assert.Assert(t, succeeded(tr), "cleanup:\n%s", e.log(t, tr, "step-cleanup"))
	_, err = e.c.Kube().AppsV1().Deployments(e.ns).Get(ctx, "preview-example-app", metav1.GetOptions{})
	assert.Check(t, apierrors.IsNotFound(err), "the release's Deployment is gone: %v", err)
	code, _ = get(t, host, "/healthz")
	assert.Check(t, is.Equal(code, http.StatusNotFound), "the preview no longer answers")
}

// The step acts with the pod's ServiceAccount, not the harness's rights: without a RoleBinding
// the apiserver refuses the install, and the step's own error is the TaskRun's log.
func TestRealStepUsesThePodsServiceAccount(t *testing.T) {
	e := newEnv(t)
	tr := e.taskRun(t, "nobody", deployRun("7-nobody.preview.test", ""))
	assert.Assert(t, !succeeded(tr), "a ServiceAccount without rights cannot deploy")
	log := e.log(t, tr, "step-deploy")
	assert.Check(t, is.Contains(log, "system:serviceaccount:"+e.ns+":nobody"), log)
	assert.Check(t, is.Contains(log, "forbidden"), log)
	deploy := tr.Status.Steps[len(tr.Status.Steps)-1]
	assert.Check(t, is.Equal(deploy.Name, "deploy"))
	assert.Check(t, deploy.Terminated != nil && deploy.Terminated.ExitCode == 1, "%+v", deploy.Terminated)
}

// A health endpoint that does not answer keeps the real health check failing through the
// stand-in (the chart's pods declare /ready, the check asks /healthz) until the step's timeout
// stops it (TimeoutExceeded: the check itself would retry for 5 minutes), and the step after
// it is skipped, as Tekton's entrypoint does.
func TestRealStepFailuresTimeoutsAndSkips(t *testing.T) {
	e := newEnv(t)
	host := "7-fail-" + e.ns + ".preview.test"
	tr := e.taskRun(t, preview.PipelineServiceAccount, deployRun(host, "other-health.yaml"))
	assert.Assert(t, succeeded(tr), "deploy:\n%s", e.log(t, tr, "step-deploy"))
	code, _ := get(t, host, "/ready")
	assert.Check(t, is.Equal(code, http.StatusOK))

	tr = e.taskRun(t, preview.PipelineServiceAccount, fmt.Sprintf(`
spec:
  taskSpec:
    steps:
    - name: check
      image: %[1]s
      command: [preview-step]
      args: [healthcheck, --namespace=$(context.taskRun.namespace), --url=http://%[2]s, --path=/healthz, --connect-to=%[3]s, --timeout=5m]
      timeout: 20s
    - name: after
      image: %[1]s
      command: [preview-step]
      args: [cleanup, --namespace=$(context.taskRun.namespace)]
`, stepImage, host, standin.Addr()))
	assert.Assert(t, !succeeded(tr))
	byName := map[string]pipelinev1.StepState{}
	for _, s := range tr.Status.Steps {
		byName[s.Name] = s
	}
	assert.Check(t, is.Equal(byName["check"].TerminationReason, "TimeoutExceeded"), "%+v", byName["check"])
	assert.Check(t, is.Equal(byName["after"].TerminationReason, "Skipped"), "%+v", byName["after"])
	assert.Check(t, is.Contains(e.log(t, tr, "step-check"), "/healthz"), "the real check's own log")
	_, err := e.c.Kube().AppsV1().Deployments(e.ns).Get(t.Context(), "preview-example-app", metav1.GetOptions{})
	assert.Check(t, err, "the skipped cleanup did not run")
	var notFound int
	for _, h := range standin.Hits(host) {
		if h.Path == "/healthz" && h.Status == http.StatusNotFound {
			notFound++
		}
	}
	assert.Check(t, notFound > 0, "the check asked the stand-in and got 404: %v", standin.Hits(host))
	assert.Check(t, !strings.Contains(e.log(t, tr, "step-after"), "release preview removed"))
}
