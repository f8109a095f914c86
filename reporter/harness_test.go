package reporter

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	"go.uber.org/zap/zaptest"
	"gotest.tools/v3/assert"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/githubapp/fakeclock"
)

// newTestController builds a controller over fake clientsets; its informers are not started:
// tests fill the caches with harness.sync, so every step is deterministic.
func newTestController(t testing.TB, logs LogReader, objects ...runtime.Object) *Controller {
	t.Helper()
	return NewController(Deps{
		Kube: kubefake.NewClientset(objects...), Tekton: tektonfake.NewSimpleClientset(),
		Config: testConfig(t), Logs: logs, Log: zaptest.NewLogger(t), Now: func() time.Time { return fixtureNow },
	})
}

// harness is a reporter over fake clientsets talking real HTTP to the GitHub simulator, which
// records every call. Time is a fake clock shared by the simulator and the GitHub client.
type harness struct {
	t      *testing.T
	sim    *ghsim.Sim
	clock  *fakeclock.Clock
	kube   *kubefake.Clientset
	tekton *tektonfake.Clientset
	c      *Controller
	logs   *fakeLogs
	events *record.FakeRecorder
}

func newHarness(t *testing.T, p githubapp.Policy) *harness {
	t.Helper()
	clock := fakeclock.New(time.Now().UTC().Truncate(time.Second)) // tokens are checked against the wall clock
	sim, err := ghsim.New(ghsim.Options{Clock: clock, Logger: zaptest.NewLogger(t)})
	assert.NilError(t, err)
	t.Cleanup(sim.Close)
	_, err = sim.AddRepo(testRepo)
	assert.NilError(t, err)
	_, err = sim.OpenPR(t.Context(), testRepo, ghsim.PROptions{})
	assert.NilError(t, err)
	clients, err := githubapp.NewApp(githubapp.AppConfig{
		AppID: sim.AppID(), PrivateKeyPEM: sim.PrivateKeyPEM(), BaseURL: sim.URL() + "/", Clock: clock, Policy: p,
	}, zaptest.NewLogger(t), nil)
	assert.NilError(t, err)
	h := &harness{
		t: t, sim: sim, clock: clock, logs: &fakeLogs{}, events: record.NewFakeRecorder(10),
		kube:   kubefake.NewClientset(namespace(t, sim.InstallationID("acme"))),
		tekton: tektonfake.NewSimpleClientset(),
	}
	h.c = NewController(Deps{
		Kube: h.kube, Tekton: h.tekton, GitHub: ClientsFrom(clients), Config: testConfig(t), Logs: h.logs,
		Recorder: h.events, Log: zaptest.NewLogger(t), Now: clock.Now, Metrics: NewMetrics(nil),
	})
	return h
}

// sync copies the fake clientsets' objects into the informer caches, as a watch would.
func (h *harness) sync() {
	h.t.Helper()
	ctx := h.t.Context()
	nss, err := h.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	assert.NilError(h.t, err)
	prs, err := h.tekton.TektonV1().PipelineRuns("").List(ctx, metav1.ListOptions{})
	assert.NilError(h.t, err)
	trs, err := h.tekton.TektonV1().TaskRuns("").List(ctx, metav1.ListOptions{})
	assert.NilError(h.t, err)
	replace := func(inf cache.SharedIndexInformer, items []any) {
		assert.NilError(h.t, inf.GetIndexer().Replace(items, ""))
	}
	var items []any
	for i := range nss.Items {
		items = append(items, &nss.Items[i])
	}
	replace(h.c.kubeInformers.Core().V1().Namespaces().Informer(), items)
	items = nil
	for i := range prs.Items {
		items = append(items, &prs.Items[i])
	}
	replace(h.c.tektonInformers.Tekton().V1().PipelineRuns().Informer(), items)
	items = nil
	for i := range trs.Items {
		items = append(items, &trs.Items[i])
	}
	replace(h.c.tektonInformers.Tekton().V1().TaskRuns().Informer(), items)
}

// reconcile runs one reconcile of the PR namespace on the current objects.
func (h *harness) reconcile() (time.Duration, error) {
	h.t.Helper()
	h.sync()
	return h.c.Reconcile(h.t.Context(), testNS)
}

func (h *harness) mustReconcile() {
	h.t.Helper()
	_, err := h.reconcile()
	assert.NilError(h.t, err)
}

// setRun merges fragments into the named run (created from runYAML with name when missing),
// keeping what the reporter wrote, as the trigger's and Tekton's patches do.
func (h *harness) setRun(name string, fragments ...string) {
	h.t.Helper()
	runs := h.tekton.TektonV1().PipelineRuns(testNS)
	cur, err := runs.Get(h.t.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = runs.Create(h.t.Context(), pipelineRun(h.t, append([]string{`metadata: {name: ` + name + `}`}, fragments...)...), metav1.CreateOptions{})
		assert.NilError(h.t, err)
		return
	}
	assert.NilError(h.t, err)
	merge(h.t, cur, fragments...)
	_, err = runs.Update(h.t.Context(), cur, metav1.UpdateOptions{})
	assert.NilError(h.t, err)
}

func (h *harness) setTaskRun(task, state string) {
	h.t.Helper()
	trs := h.tekton.TektonV1().TaskRuns(testNS)
	tr := taskRun(h.t, task, state)
	cur, err := trs.Get(h.t.Context(), tr.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = trs.Create(h.t.Context(), tr, metav1.CreateOptions{})
		assert.NilError(h.t, err)
		return
	}
	assert.NilError(h.t, err)
	merge(h.t, cur, state)
	_, err = trs.Update(h.t.Context(), cur, metav1.UpdateOptions{})
	assert.NilError(h.t, err)
}

func (h *harness) setNamespace(fragments ...string) {
	h.t.Helper()
	cur, err := h.kube.CoreV1().Namespaces().Get(h.t.Context(), testNS, metav1.GetOptions{})
	assert.NilError(h.t, err)
	merge(h.t, cur, fragments...)
	_, err = h.kube.CoreV1().Namespaces().Update(h.t.Context(), cur, metav1.UpdateOptions{})
	assert.NilError(h.t, err)
}

func merge(t testing.TB, obj any, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		raw, err := yaml.YAMLToJSON([]byte(f))
		assert.NilError(t, err)
		assert.NilError(t, json.Unmarshal(raw, obj))
	}
}

// checkRun is the newest check run of a commit in the simulator.
func (h *harness) checkRun(sha string) *github.CheckRun {
	h.t.Helper()
	runs := h.sim.CheckRuns(testRepo, sha)
	assert.Assert(h.t, len(runs) > 0, "no check run for %s", sha)
	return runs[len(runs)-1]
}

// comment is the bot's report comment in the simulator.
func (h *harness) comment() *github.IssueComment {
	h.t.Helper()
	var found []*github.IssueComment
	for _, c := range h.sim.Comments(testRepo, 1) {
		if c.GetUser().GetLogin() == h.sim.BotLogin() {
			found = append(found, c)
		}
	}
	assert.Equal(h.t, len(found), 1, "want exactly one report comment")
	return found[0]
}

func (h *harness) namespace() *corev1.Namespace {
	h.t.Helper()
	ns, err := h.kube.CoreV1().Namespaces().Get(h.t.Context(), testNS, metav1.GetOptions{})
	assert.NilError(h.t, err)
	return ns
}

func (h *harness) run(name string) *pipelinev1.PipelineRun {
	h.t.Helper()
	pr, err := h.tekton.TektonV1().PipelineRuns(testNS).Get(h.t.Context(), name, metav1.GetOptions{})
	assert.NilError(h.t, err)
	return pr
}
