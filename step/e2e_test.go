package step

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/preview"
)

const (
	e2eHost    = "7-web.preview.test"
	e2eApp     = "preview-example-app" // the example chart's fullname for release "preview"
	e2eTimeout = 90 * time.Second      // the machine is shared; KWOK makes pods ready in ~1 s
)

type e2eEnv struct {
	c  *cluster.Cluster
	ns string
	r  *Runner
}

func newE2E(t *testing.T) e2eEnv {
	t.Helper()
	c := cluster.Require(t)
	t.Parallel()
	ns := c.Namespace(t)
	return e2eEnv{c: c, ns: ns, r: runnerFor(t, c.RESTConfig(), ns)}
}

func runnerFor(t *testing.T, cfg *rest.Config, ns string) *Runner {
	t.Helper()
	clients, err := NewClients(cfg, ns)
	assert.NilError(t, err)
	r := New(clients, zaptest.NewLogger(t), new(bytes.Buffer))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("step output:\n%s", r.Out.(*bytes.Buffer).String())
		}
	})
	return r
}

func (e e2eEnv) output() string { return e.r.Out.(*bytes.Buffer).String() }

// e2eDeployOpts deploys charts/example-app from this repository as the pipeline would.
func e2eDeployOpts(t *testing.T, src string) DeployOptions {
	t.Helper()
	if src == "" {
		root, err := filepath.Abs("..")
		assert.NilError(t, err)
		src = root
	}
	o := deployOpts(src)
	o.URLScheme = "http"
	o.Timeout = e2eTimeout
	o.ResultsDir = t.TempDir()
	return o
}

func (e e2eEnv) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	d, err := e.c.Kube().AppsV1().Deployments(e.ns).Get(t.Context(), e2eApp, metav1.GetOptions{})
	assert.NilError(t, err)
	return d
}

func (e e2eEnv) waitAvailable(t *testing.T) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		d, err := e.c.Kube().AppsV1().Deployments(e.ns).Get(t.Context(), e2eApp, metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		if ready, msg, _ := deploymentStatus(d); !ready {
			return poll.Continue("%s", msg)
		}
		return poll.Success()
	}, poll.WithTimeout(e2eTimeout), poll.WithDelay(100*time.Millisecond))
}

func (e e2eEnv) pods(t *testing.T) []corev1.Pod {
	t.Helper()
	list, err := e.c.Kube().CoreV1().Pods(e.ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=preview"})
	assert.NilError(t, err)
	return list.Items
}

func (e e2eEnv) helmReleases(t *testing.T) []corev1.Secret {
	t.Helper()
	list, err := e.c.Kube().CoreV1().Secrets(e.ns).List(t.Context(), metav1.ListOptions{LabelSelector: "owner=helm,name=preview"})
	assert.NilError(t, err)
	return list.Items
}

func readResult(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	assert.NilError(t, err)
	return string(data)
}

func TestE2EDeployIsAvailableAndRedeployIsNoop(t *testing.T) {
	e := newE2E(t)
	o := e2eDeployOpts(t, "")
	res, err := e.r.Deploy(t.Context(), o)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Revision, 1))
	assert.Check(t, is.Equal(readResult(t, o.ResultsDir, ResultURL), "http://"+e2eHost))
	assert.Check(t, is.Equal(readResult(t, o.ResultsDir, ResultReleaseRevision), "1"))
	assert.Check(t, is.Contains(e.output(), "Open it at:"), "Helm's notes are printed")

	// Helm waits on the ReplicaSet's ready pods; the Deployment's status follows a moment later.
	e.waitAvailable(t)
	before := e.deployment(t)
	assert.Check(t, is.Equal(before.Spec.Template.Spec.Containers[0].Image, "registry.local:5000/acme/web:pr-7-0123456789ab"))
	podsBefore := e.pods(t)
	assert.Assert(t, is.Len(podsBefore, 1))
	ing, err := e.c.Kube().NetworkingV1().Ingresses(e.ns).Get(t.Context(), e2eApp, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(ing.Spec.Rules[0].Host, e2eHost))

	// The same revision and values again: a new release revision, no change to the workload.
	o.ResultsDir = t.TempDir()
	res, err = e.r.Deploy(t.Context(), o)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Revision, 2))
	assert.Check(t, is.Equal(readResult(t, o.ResultsDir, ResultReleaseRevision), "2"))
	after := e.deployment(t)
	assert.Check(t, is.Equal(after.Generation, before.Generation), "no-op upgrade must not bump the Deployment's generation")
	assert.Check(t, is.DeepEqual(after.Spec.Template, before.Spec.Template))
	podsAfter := e.pods(t)
	assert.Assert(t, is.Len(podsAfter, 1))
	assert.Check(t, is.Equal(podsAfter[0].UID, podsBefore[0].UID), "no pod was restarted")
	rs, err := e.c.Kube().AppsV1().ReplicaSets(e.ns).List(t.Context(), metav1.ListOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(rs.Items, 1), "no new ReplicaSet")
}

// A deploy killed mid-upgrade leaves the release pending, which Helm refuses to upgrade. Within
// the deploy timeout another deploy may still be running, so the step waits its turn; after it,
// the release is marked failed and the upgrade goes ahead.
func TestE2EInterruptedDeployIsRecovered(t *testing.T) {
	e := newE2E(t)
	o := e2eDeployOpts(t, "")
	_, err := e.r.Deploy(t.Context(), o)
	assert.NilError(t, err)
	cfg, err := e.r.Kube.helm(e.r.Log)
	assert.NilError(t, err)
	last, err := cfg.Releases.Last("preview")
	assert.NilError(t, err)
	last.SetStatus(release.StatusPendingUpgrade, "the deploy pod was killed")
	assert.NilError(t, cfg.Releases.Update(last))

	_, err = e.r.Deploy(t.Context(), o)
	assert.ErrorContains(t, err, `release "preview" revision 1 is pending-upgrade since`)
	assert.ErrorContains(t, err, "another deploy may still be running")

	e.r.Clock = clocktesting.NewFakeClock(time.Now().Add(o.Timeout + time.Minute))
	res, err := e.r.Deploy(t.Context(), o)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Revision, 2))
	rels := e.helmReleases(t)
	status := map[string]string{}
	for _, r := range rels {
		status[r.Labels["version"]] = r.Labels["status"]
	}
	assert.Check(t, is.DeepEqual(status, map[string]string{"1": "superseded", "2": "deployed"}))
}

func TestE2EHealthCheckPassesThroughConnectTo(t *testing.T) {
	e := newE2E(t)
	var hits atomic.Int32
	// Stands in for the ingress controller: answers for the preview host only.
	ingress := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != e2eHost || r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		w.Write([]byte("ok"))
	}))
	defer ingress.Close()

	o := e2eDeployOpts(t, "")
	o.Wait = false // the health check waits for availability itself
	res, err := e.r.Deploy(t.Context(), o)
	assert.NilError(t, err)

	h := NewHealthOptions()
	h.URL, h.ConnectTo, h.Timeout, h.PollInterval = res.URL, strings.TrimPrefix(ingress.URL, "http://"), e2eTimeout, 200*time.Millisecond
	assert.NilError(t, e.r.HealthCheck(t.Context(), *h))
	assert.Check(t, hits.Load() >= 1)
	assert.Check(t, is.Contains(e.output(), "preview is healthy: http://"+e2eHost+"/healthz"))
}

// unreadyValues makes KWOK leave the app's pods Pending in ImagePullBackOff (e2e/cluster stages).
func unreadyValues(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "unready.yaml")
	assert.NilError(t, os.WriteFile(p, []byte("podAnnotations:\n  "+cluster.AnnotationImagePullFailure+": \"true\"\n"), 0o644))
	return p
}

func TestE2EHealthCheckReportsAnUnreadyPod(t *testing.T) {
	e := newE2E(t)
	o := e2eDeployOpts(t, "")
	o.SourceDir = "" // absolute paths
	o.Chart = filepath.Join("..", "charts", "example-app")
	o.ValuesFiles = []string{unreadyValues(t)}
	o.Wait = false
	_, err := e.r.Deploy(t.Context(), o)
	assert.NilError(t, err)
	// Let KWOK and the event recorder catch up (the machine is shared), so that the report below
	// has something to say within the health check's short timeout.
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		pods := e.pods(t)
		if len(pods) != 1 || len(pods[0].Status.ContainerStatuses) != 1 || pods[0].Status.ContainerStatuses[0].State.Waiting == nil {
			return poll.Continue("pod not in ImagePullBackOff yet")
		}
		events, err := e.c.Kube().CoreV1().Events(e.ns).List(t.Context(), metav1.ListOptions{FieldSelector: "reason=Failed"})
		if err != nil || len(events.Items) == 0 {
			return poll.Continue("no Failed event yet (%v)", err)
		}
		return poll.Success()
	}, poll.WithTimeout(e2eTimeout), poll.WithDelay(100*time.Millisecond))

	h := NewHealthOptions()
	h.URL, h.Timeout, h.PollInterval = "http://"+e2eHost, 3*time.Second, 200*time.Millisecond
	err = e.r.HealthCheck(t.Context(), *h)
	assert.ErrorContains(t, err, `release "preview" not available`)
	assert.ErrorContains(t, err, "Deployment/"+e2eApp+": 0/1 available")
	out := e.output()
	for _, want := range []string{
		"==== diagnostics: namespace " + e.ns,
		"Deployment/" + e2eApp + ": 0/1 available",
		"pods: 0 of 1 ready",
		"container app: waiting: ImagePullBackOff",
		"no log of app: it has not started (ImagePullBackOff)",
		"recent events",
		"Error: ImagePullBackOff (simulated by the e2e harness)",
	} {
		assert.Check(t, is.Contains(out, want))
	}
}

func TestE2EFailedRolloutKeepsResourcesThenRecovers(t *testing.T) {
	e := newE2E(t)
	o := e2eDeployOpts(t, "")
	o.ValuesFiles = nil
	o.SourceDir, o.Chart = "", filepath.Join("..", "charts", "example-app")
	o.ValuesFiles = []string{unreadyValues(t)}
	o.Timeout = 10 * time.Second // long enough for KWOK to report the pull failure on a busy machine
	_, err := e.r.Deploy(t.Context(), o)
	assert.ErrorContains(t, err, "resources kept for diagnosis")
	assert.Check(t, is.Contains(e.output(), "container app: waiting: ImagePullBackOff"), "deploy prints diagnostics")
	e.deployment(t) // still there
	rels := e.helmReleases(t)
	assert.Assert(t, is.Len(rels, 1))
	assert.Check(t, is.Equal(rels[0].Labels["status"], "failed"))

	// The next push fixes it: upgrading a failed first install works.
	o.ValuesFiles, o.Timeout = nil, e2eTimeout
	res, err := e.r.Deploy(t.Context(), o)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Revision, 2))
	e.waitAvailable(t)
}

func TestE2ERollbackOnFailureRemovesAFailedInstall(t *testing.T) {
	e := newE2E(t)
	o := e2eDeployOpts(t, "")
	o.SourceDir, o.Chart = "", filepath.Join("..", "charts", "example-app")
	o.ValuesFiles = []string{unreadyValues(t)}
	o.Timeout = 5 * time.Second
	o.RollbackOnFailure = true
	_, err := e.r.Deploy(t.Context(), o)
	assert.ErrorContains(t, err, "rolled back")
	_, err = e.c.Kube().AppsV1().Deployments(e.ns).Get(t.Context(), e2eApp, metav1.GetOptions{})
	assert.Check(t, apierrors.IsNotFound(err), "got %v", err)
}

func TestE2EFailingEndpointShowsTheAppLog(t *testing.T) {
	e := newE2E(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database unavailable", http.StatusInternalServerError)
	}))
	defer broken.Close()
	o := e2eDeployOpts(t, "")
	res, err := e.r.Deploy(t.Context(), o)
	assert.NilError(t, err)
	pods := e.pods(t)
	assert.Assert(t, is.Len(pods, 1))
	const logText = "listening on :8080\npanic: connect to postgres: connection refused\n"
	assert.NilError(t, e.c.SetPodLogs(t.Context(), e.ns, pods[0].Name, "app", logText))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		data, err := e.c.Kube().CoreV1().Pods(e.ns).GetLogs(pods[0].Name, &corev1.PodLogOptions{Container: "app"}).DoRaw(t.Context())
		if err == nil && string(data) == logText {
			return poll.Success()
		}
		return poll.Continue("log %q, %v", data, err)
	}, poll.WithTimeout(e2eTimeout), poll.WithDelay(100*time.Millisecond))

	h := NewHealthOptions()
	h.URL, h.ConnectTo, h.Timeout, h.PollInterval = res.URL, strings.TrimPrefix(broken.URL, "http://"), 3*time.Second, 200*time.Millisecond
	err = e.r.HealthCheck(t.Context(), *h)
	assert.ErrorContains(t, err, "500 Internal Server Error: database unavailable")
	out := e.output()
	assert.Check(t, is.Contains(out, "pods: 1 of 1 ready"))
	assert.Check(t, is.Contains(out, "| panic: connect to postgres: connection refused"))
	assert.Check(t, is.Contains(out, "Ingress/"+e2eApp+": class <default>, hosts "+e2eHost))
}

func TestE2EBrokenTemplateFailsWithFileAndLineAndChangesNothing(t *testing.T) {
	e := newE2E(t)
	tpl := readChartFile(t, "templates/service.yaml")
	broken := strings.Replace(tpl, "{{ .Values.service.port | default 80 }}", "{{ .Values.service.port | default 80 | nosuch }}", 1)
	src := sourceWithChart(t, map[string]string{"templates/service.yaml": broken})
	_, err := e.r.Deploy(t.Context(), e2eDeployOpts(t, src))
	ces := ChartErrors(err)
	assert.Assert(t, is.Len(ces, 1), "%v", err)
	assert.Check(t, is.Equal(ces[0].File, "charts/example-app/templates/service.yaml"))
	assert.Check(t, is.Equal(ces[0].Line, lineOf(t, broken, "nosuch")))
	assert.Check(t, is.Contains(err.Error(), "charts/example-app/templates/service.yaml:"+strconv.Itoa(lineOf(t, broken, "nosuch"))+": "))
	assert.Check(t, is.Len(e.helmReleases(t), 0), "no release recorded")
	_, err = e.c.Kube().AppsV1().Deployments(e.ns).Get(t.Context(), e2eApp, metav1.GetOptions{})
	assert.Check(t, apierrors.IsNotFound(err))
}

func TestE2ECleanupRemovesEverything(t *testing.T) {
	e := newE2E(t)
	_, err := e.r.Deploy(t.Context(), e2eDeployOpts(t, ""))
	assert.NilError(t, err)
	assert.Assert(t, is.Len(e.pods(t), 1))

	c := NewCleanupOptions()
	c.Timeout, c.PollInterval = e2eTimeout, 200*time.Millisecond
	assert.NilError(t, e.r.Cleanup(t.Context(), *c))
	kube := e.c.Kube()
	for name, get := range map[string]func() error{
		"Deployment": func() error {
			_, err := kube.AppsV1().Deployments(e.ns).Get(t.Context(), e2eApp, metav1.GetOptions{})
			return err
		},
		"Service": func() error {
			_, err := kube.CoreV1().Services(e.ns).Get(t.Context(), e2eApp, metav1.GetOptions{})
			return err
		},
		"Ingress": func() error {
			_, err := kube.NetworkingV1().Ingresses(e.ns).Get(t.Context(), e2eApp, metav1.GetOptions{})
			return err
		},
	} {
		assert.Check(t, apierrors.IsNotFound(get()), "%s still there", name)
	}
	assert.Check(t, is.Len(e.pods(t), 0))
	rs, err := kube.AppsV1().ReplicaSets(e.ns).List(t.Context(), metav1.ListOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(rs.Items, 0))
	assert.Check(t, is.Len(e.helmReleases(t), 0))

	// Cleanup runs again after a retry: nothing to do is success.
	assert.NilError(t, e.r.Cleanup(t.Context(), *c))
	assert.Check(t, is.Contains(e.output(), "nothing to remove"))
}

// The steps run as the pipeline's ServiceAccount with exactly the Role the trigger writes into
// each PR namespace (preview.PipelineRules): deploy, health check and cleanup need nothing more,
// and nothing outside the namespace is reachable.
func TestE2EStepsRunAsThePipelineServiceAccount(t *testing.T) {
	e := newE2E(t)
	kube := e.c.Kube()
	_, err := kube.CoreV1().ServiceAccounts(e.ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: preview.PipelineServiceAccount}}, metav1.CreateOptions{})
	assert.NilError(t, err)
	_, err = kube.RbacV1().Roles(e.ns).Create(t.Context(), preview.PipelineRole(e.ns, nil), metav1.CreateOptions{})
	assert.NilError(t, err)
	_, err = kube.RbacV1().RoleBindings(e.ns).Create(t.Context(), preview.PipelineRoleBinding(e.ns, nil), metav1.CreateOptions{})
	assert.NilError(t, err)
	cfg := e.c.RESTConfig()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + e.ns + ":" + preview.PipelineServiceAccount}
	r := runnerFor(t, cfg, e.ns)

	_, err = r.Deploy(t.Context(), e2eDeployOpts(t, ""))
	assert.NilError(t, err)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	h := NewHealthOptions()
	h.URL, h.ConnectTo, h.Timeout, h.PollInterval = "http://"+e2eHost, strings.TrimPrefix(ok.URL, "http://"), e2eTimeout, 200*time.Millisecond
	assert.NilError(t, r.HealthCheck(t.Context(), *h))
	c := NewCleanupOptions()
	c.Timeout, c.PollInterval = e2eTimeout, 200*time.Millisecond
	assert.NilError(t, r.Cleanup(t.Context(), *c))
	assert.Check(t, is.Len(e.pods(t), 0))

	// ... and nothing outside it.
	_, err = r.Kube.Kube.CoreV1().Secrets("default").List(t.Context(), metav1.ListOptions{})
	assert.Check(t, apierrors.IsForbidden(err), "got %v", err)
	var statusErr *apierrors.StatusError
	assert.Check(t, errors.As(err, &statusErr))
}
