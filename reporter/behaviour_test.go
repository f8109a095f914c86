package reporter

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/preview"
)

// The first report of a deployment goes out at once, with no settle window, and costs one
// read (the comment search GitHub needs once per pull request); a run that starts at once is
// reported as deploying, never as queued, so a whole deployment costs four writes.
func TestFirstReportIsImmediateAndCheap(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.mustReconcile() // nothing yet: the bot login is resolved on the first comment only
	h.setRun(run1)    // created, not picked up by Tekton yet, not held by the queue
	h.mustReconcile()
	assert.Equal(t, h.checkRun(testSHA).GetStatus(), "in_progress")
	assert.Check(t, is.Contains(h.comment().GetBody(), "Catalyst Preview: deploying"))
	reads := 0
	for _, c := range h.sim.Calls() {
		if c.Method == http.MethodGet && c.Route != ghsim.RouteApp {
			reads++
		}
	}
	assert.Equal(t, reads, 1, "one comment search: %v", h.sim.Calls())
	h.setRun(run1, runSucceeded)
	h.mustReconcile()
	assert.Equal(t, h.sim.WriteCalls(), 4, "%v", writes(h.sim))
}

// A run whose commit was superseded before anyone was told about it costs nothing, queued or
// stopped; once reported, it is concluded.
func TestRunSupersededBeforeItWasReportedCostsNothing(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.setNamespace(`metadata: {annotations: {catalyst.dev/head-sha: ` + nextSHA + `}}`)
	h.setRun(run1, runPending)
	h.mustReconcile()
	h.setRun(run1, supersededBy, `spec: {status: Cancelled}`)
	h.mustReconcile()
	assert.Equal(t, len(h.sim.Calls()), 0, "%v", h.sim.Calls())
}

// Live progress: the current task and elapsed time are edited in at most once per interval
// per surface, while a state change goes out at once.
func TestLiveProgressIsPaced(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	start := h.clock.Now()
	h.setRun(run1, runRunning)
	h.setTaskRun("build", fmt.Sprintf(`status: {podName: pod-x, startTime: %q, conditions: [{type: Succeeded, status: Unknown, reason: Running}]}`, start.Format(time.RFC3339)))
	after, err := h.reconcile()
	assert.NilError(t, err)
	assert.Equal(t, after, 30*time.Second, "look again for progress")
	base := h.sim.WriteCalls()

	h.clock.Advance(10 * time.Second)
	h.setTaskRun("deploy", fmt.Sprintf(`status: {podName: pod-y, startTime: %q, conditions: [{type: Succeeded, status: Unknown, reason: Running}]}`, h.clock.Now().Format(time.RFC3339)))
	h.setTaskRun("build", trSucceeded("31", "32"))
	after, err = h.reconcile()
	assert.NilError(t, err)
	assert.Equal(t, h.sim.WriteCalls(), base, "a new task within the interval waits")
	assert.Equal(t, after, 20*time.Second)

	h.clock.Advance(21 * time.Second)
	h.mustReconcile()
	assert.Equal(t, h.sim.WriteCalls(), base+2, "one progress edit per surface")
	assert.Check(t, is.Contains(h.comment().GetBody(), "task `deploy` is running (for 21s)"))
	assert.Check(t, is.Contains(h.comment().GetBody(), "| Updated | "+stamp(h.clock.Now())))
	assert.Check(t, is.Contains(h.checkRun(testSHA).GetOutput().GetTitle(), "deploying (deploy, 21s)"))

	h.clock.Advance(time.Second)
	h.setRun(run1, runSucceeded)
	h.mustReconcile()
	assert.Equal(t, h.sim.WriteCalls(), base+4, "the verdict is not paced")
}

// Draining a queue of n pull requests costs O(n) comment edits: positions are shown in
// buckets, not at every move (which cost about n²/2 = 435 edits for n = 30).
func TestQueueDrainCostsLinearCommentEdits(t *testing.T) {
	const n = 30
	h := newHarness(t, githubapp.Policy{ContentPerMinute: -1, ContentPerHour: -1, WritesPerMinute: -1})
	inst := h.sim.InstallationID("acme")
	names := []string{testNS}
	for i := 2; i <= n; i++ {
		_, err := h.sim.OpenPR(t.Context(), testRepo, ghsim.PROptions{})
		assert.NilError(t, err)
		ns := namespace(t, inst, fmt.Sprintf(`metadata: {name: pr-shop-%d, labels: {catalyst.dev/pr: "%d"}}`, i, i))
		assert.NilError(t, h.kube.Tracker().Add(ns))
		names = append(names, ns.Name)
	}
	runs := h.tekton.TektonV1().PipelineRuns
	for i, ns := range names {
		r := pipelineRun(t, runPending, fmt.Sprintf(`metadata: {annotations: {catalyst.dev/queue-position: "%d"}}`, i+1))
		r.Namespace = ns
		_, err := runs(ns).Create(t.Context(), r, metav1.CreateOptions{})
		assert.NilError(t, err)
	}
	reconcileAll := func() {
		h.sync()
		for _, ns := range names {
			_, err := h.c.Reconcile(t.Context(), ns)
			assert.NilError(t, err)
		}
	}
	reconcileAll()
	h.sim.ResetCalls()
	// One slot: the head of the queue starts when the one before it succeeds, everyone else
	// moves up by one, a minute later (the progress interval never holds an edit back here).
	for head := range names {
		h.clock.Advance(time.Minute)
		if head > 0 {
			r, err := runs(names[head-1]).Get(t.Context(), run1, metav1.GetOptions{})
			assert.NilError(t, err)
			merge(t, r, runSucceeded)
			_, err = runs(names[head-1]).Update(t.Context(), r, metav1.UpdateOptions{})
			assert.NilError(t, err)
		}
		for i, ns := range names[head:] {
			r, err := runs(ns).Get(t.Context(), run1, metav1.GetOptions{})
			assert.NilError(t, err)
			if i == 0 {
				merge(t, r, runRunning, `metadata: {annotations: {catalyst.dev/queue-position: null}}`)
			} else {
				merge(t, r, fmt.Sprintf(`metadata: {annotations: {catalyst.dev/queue-position: "%d"}}`, i))
			}
			_, err = runs(ns).Update(t.Context(), r, metav1.UpdateOptions{})
			assert.NilError(t, err)
		}
		reconcileAll()
	}
	edits := h.sim.CountCalls(http.MethodPatch, ghsim.RouteIssueComment)
	// Each: running and succeeded (2n in all, the last one still running), plus at most two
	// position buckets (within 5, next).
	t.Logf("draining %d queued pull requests: %d comment edits in all, %d of them for positions", n, edits, edits-(2*n-1))
	assert.Assert(t, edits <= 4*n, "%d comment edits to drain %d", edits, n)
	assert.Assert(t, edits >= 2*n-1, "every pull request is told it runs and succeeds")
}

// GitHub refusing a report for good (422) is an Event and a metric, and is not retried until
// the report changes.
func TestRefusedReportIsNotRetriedUntilItChanges(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.setRun(run1, runRunning)
	h.mustReconcile()
	h.setRun(run1, runSucceeded)
	h.sim.ResetCalls()
	h.sim.FailNext(1, http.StatusUnprocessableEntity)
	h.mustReconcile()
	assert.Check(t, is.Contains(<-h.events.Events, "Warning GitHubRefused GitHub refused the check run for commit 4f1c2d3 (HTTP 422)"))
	assert.Equal(t, testutil.ToFloat64(h.c.Metrics.refusals.WithLabelValues(surfaceCheckRun, "422")), 1.0)
	assert.Check(t, is.Contains(h.comment().GetBody(), "preview ready"), "the other surface is not held back")
	h.sim.ResetCalls()
	for range 3 {
		h.mustReconcile()
	}
	assert.Equal(t, len(h.sim.Calls()), 0, "not retried: %v", h.sim.Calls())

	h.setRun(run1, `metadata: {annotations: {catalyst.dev/attempt: "2"}}`) // the report changes
	h.mustReconcile()
	assert.Equal(t, h.sim.CountCalls(http.MethodPatch, ghsim.RouteCheckRun), 1)
}

// The deployment counter counts a verdict once, even when the ledger patch after the GitHub
// write fails and the report is sent again.
func TestDeploymentCountedOnceWhenTheLedgerPatchFails(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.setRun(run1, runRunning)
	h.mustReconcile()
	h.setRun(run1, runSucceeded)
	failed := false
	h.tekton.PrependReactor("patch", "pipelineruns", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if p := a.(k8stesting.PatchAction); !failed && strings.Contains(string(p.GetPatch()), preview.AnnotationReportedPhase+"succeeded") {
			failed = true
			return true, nil, apierrors.NewServiceUnavailable("etcd leader changed")
		}
		return false, nil, nil
	})
	_, err := h.reconcile()
	assert.ErrorContains(t, err, "etcd leader changed")
	counted := func() float64 {
		return testutil.ToFloat64(h.c.Metrics.deployments.WithLabelValues("acme.shop", "succeeded"))
	}
	assert.Equal(t, counted(), 0.0, "not recorded, not counted yet")
	h.mustReconcile()
	h.mustReconcile()
	assert.Equal(t, counted(), 1.0)
	assert.Equal(t, h.sim.CountCalls(http.MethodPatch, ghsim.RouteCheckRun), 2, "succeeded, and again after the failed patch")
}

// A run deleted before it finished, or the namespace going, closes the commit's check run
// (neutral); the removal comment waits for that and keeps the last verdict.
func TestCheckRunsAreNeverLeftOpen(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.setRun(run1, runRunning)
	h.mustReconcile()
	assert.Equal(t, h.namespace().Annotations[preview.AnnotationOpenCheckRuns], fmt.Sprintf(`{"%s":%d}`, testSHA, h.checkRun(testSHA).GetID()))
	assert.NilError(t, h.tekton.TektonV1().PipelineRuns(testNS).Delete(t.Context(), run1, metav1.DeleteOptions{}))
	h.mustReconcile()
	cr := h.checkRun(testSHA)
	assert.Equal(t, cr.GetConclusion(), "neutral")
	assert.Equal(t, cr.GetOutput().GetTitle(), "deployment removed")
	assert.Equal(t, h.namespace().Annotations[preview.AnnotationOpenCheckRuns], "")

	// The next commit runs; the namespace is deleted while it does.
	h.setNamespace(`metadata: {annotations: {catalyst.dev/head-sha: ` + nextSHA + `}}`)
	h.setRun("deploy-9b8a7c6d5e4f-1", `metadata: {labels: {catalyst.dev/sha: `+nextSHA+`}}`, runRunning)
	h.mustReconcile()
	h.setNamespace(`metadata: {deletionTimestamp: "` + h.clock.Now().UTC().Format(time.RFC3339) + `"}`)
	h.mustReconcile()
	next := h.checkRun(nextSHA)
	assert.Equal(t, next.GetConclusion(), "neutral")
	assert.Equal(t, next.GetOutput().GetTitle(), "environment removed")
	assert.Equal(t, len(h.namespace().Finalizers), 0, "released once nothing is left open")
	body := h.comment().GetBody()
	assert.Check(t, is.Contains(body, "environment removed"))
}

// The removal comment keeps the last verdict and the URL, collapsed.
func TestRemovalCommentKeepsTheLastVerdict(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.setRun(run1, runSucceeded)
	h.mustReconcile()
	h.setNamespace(`metadata: {deletionTimestamp: "` + h.clock.Now().UTC().Format(time.RFC3339) + `"}`)
	h.mustReconcile()
	body := h.comment().GetBody()
	assert.Check(t, is.Contains(body, "<details><summary>Last deployment: ✅ succeeded</summary>"))
	assert.Check(t, is.Contains(body, "The preview was served at <https://1-shop.preview.example.com>."))
}

// The same commit in two pull requests gets two check runs GitHub tells apart: the first pull
// request keeps the plain name.
func TestSameCommitInTwoPullRequests(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	_, err := h.sim.OpenPR(t.Context(), testRepo, ghsim.PROptions{})
	assert.NilError(t, err)
	other := namespace(t, h.sim.InstallationID("acme"), `metadata: {name: pr-shop-2, labels: {catalyst.dev/pr: "2"}}`)
	assert.NilError(t, h.kube.Tracker().Add(other))
	r := pipelineRun(t, runRunning)
	r.Namespace = other.Name
	_, err = h.tekton.TektonV1().PipelineRuns(other.Name).Create(t.Context(), r, metav1.CreateOptions{})
	assert.NilError(t, err)
	h.setRun(run1, runRunning)
	h.sync()
	for _, ns := range []string{testNS, other.Name} {
		_, err := h.c.Reconcile(t.Context(), ns)
		assert.NilError(t, err)
	}
	runs := h.sim.CheckRuns(testRepo, testSHA)
	assert.Equal(t, len(runs), 2)
	names := map[string]string{}
	for _, cr := range runs {
		names[cr.GetExternalID()] = cr.GetName()
	}
	assert.DeepEqual(t, names, map[string]string{testNS + "/" + testSHA: CheckRunName, "pr-shop-2/" + testSHA: CheckRunName + " (#2)"})
}

// With a token instead of an App, only the comment is written.
func TestCommentOnly(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.c.CommentOnly = true
	h.setRun(run1, runRunning)
	h.mustReconcile()
	assert.Equal(t, len(h.sim.CheckRuns(testRepo, testSHA)), 0)
	assert.Check(t, is.Contains(h.comment().GetBody(), "deploying"))
}

// Secrets that cannot be read mean no excerpt: the report says the logs are withheld.
func TestForbiddenSecretWithholdsTheExcerpt(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.logs.set("pod-deploy", "step-helm", "Error: token ghs_LEAKED rejected\n")
	h.kube.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "shop-db", errors.New("RBAC"))
	})
	h.setTaskRun("deploy", trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`))
	h.setRun(run1, runFailed, classApplication)
	h.mustReconcile()
	for _, text := range []string{h.comment().GetBody(), h.checkRun(testSHA).GetOutput().GetText()} {
		assert.Check(t, !strings.Contains(text, "ghs_LEAKED"))
		assert.Check(t, !strings.Contains(text, "UPGRADE FAILED"), "the step's own message is withheld too")
		assert.Check(t, is.Contains(text, "The log excerpt is withheld"))
		assert.Check(t, is.Contains(text, "[the logs](https://tekton.example.com/"))
	}
	assert.Equal(t, h.logs.reads, 0, "the log is not even read")
}

func writes(s *ghsim.Sim) []string {
	var out []string
	for _, c := range s.Calls() {
		if c.Write() {
			out = append(out, fmt.Sprintf("%s %s %d", c.Method, c.Route, c.Status))
		}
	}
	return out
}
