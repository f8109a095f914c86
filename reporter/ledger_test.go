package reporter

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/preview"
)

const run1 = "deploy-4f1c2d3e5a6b-1"

// A successful deployment from queued to healthy costs at most 6 GitHub writes (one per phase
// per surface), task-by-task progress costs none, and unchanged or redelivered state costs no
// call at all.
func TestAPIEconomyOfOneSuccessfulDeployment(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	steps := []struct {
		name       string
		change     func()
		writes     int // GitHub writes this step may cost
		status     string
		conclusion string
		heading    string
	}{
		{"queued", func() { h.setRun(run1, runPending) }, 2, "queued", "", "queued (position 3)"},
		{"build running", func() {
			h.setRun(run1, runRunning, `metadata: {annotations: {catalyst.dev/queue-position: null}}`)
			h.setTaskRun("build", trRunning("31"))
		}, 2, "in_progress", "", "deploying (build"},
		{"deploy running, progress paced", func() {
			h.setTaskRun("build", trSucceeded("31", "32"))
			h.setTaskRun("deploy", trRunning("32"))
		}, 0, "in_progress", "", "deploying (build"},
		{"healthcheck running, progress paced", func() {
			h.setTaskRun("deploy", trSucceeded("32", "33"))
			h.setTaskRun("healthcheck", trRunning("33"))
		}, 0, "in_progress", "", "deploying (build"},
		{"healthy", func() {
			h.setTaskRun("healthcheck", trSucceeded("33", "33"))
			h.setRun(run1, runSucceeded)
		}, 2, "completed", "success", "preview ready"},
	}
	for _, s := range steps {
		before := h.sim.WriteCalls()
		s.change()
		h.mustReconcile()
		assert.Equal(t, h.sim.WriteCalls()-before, s.writes, "step %s", s.name)
		cr := h.checkRun(testSHA)
		assert.Equal(t, cr.GetStatus(), s.status, "step %s", s.name)
		assert.Equal(t, cr.GetConclusion(), s.conclusion, "step %s", s.name)
		assert.Check(t, is.Contains(h.comment().GetBody(), "Catalyst Preview: "+s.heading), "step %s", s.name)
	}
	assert.Assert(t, h.sim.WriteCalls() <= 6, "a successful deployment cost %d writes", h.sim.WriteCalls())
	t.Logf("successful deployment: %d GitHub writes, %d calls in all", h.sim.WriteCalls(), len(h.sim.Calls()))

	assert.Equal(t, len(h.sim.CheckRuns(testRepo, testSHA)), 1, "one check run per commit")
	assert.Check(t, is.Contains(h.comment().GetBody(), "https://1-shop.preview.example.com"))
	assert.Equal(t, h.checkRun(testSHA).GetExternalID(), testNS+"/"+testSHA)
	run := h.run(run1)
	assert.Equal(t, phaseOfEntry(run.Annotations[preview.AnnotationReportHash]), PhaseSucceeded)
	ns := h.namespace()
	assert.Equal(t, phaseOfEntry(ns.Annotations[preview.AnnotationCommentHash]), PhaseSucceeded)
	assert.DeepEqual(t, ns.Finalizers, []string{preview.FinalizerReport})

	// Unchanged state, redelivered events, a restarted reporter: no call at all.
	h.sim.ResetCalls()
	for range 3 {
		h.mustReconcile()
	}
	h.setRun(run1, `metadata: {labels: {touched: "yes"}}`)
	h.mustReconcile()
	assert.Equal(t, len(h.sim.Calls()), 0, "unchanged state cost %d calls", len(h.sim.Calls()))
}

// A new commit supersedes the running one: the old check run concludes neutral naming the new
// commit, the new commit gets its own check run, and the comment moves to the new commit.
func TestSupersededCommit(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.setRun(run1, runRunning)
	h.setTaskRun("build", trRunning("31"))
	h.mustReconcile()

	// The trigger records the push and stops the old run; no run for the new head yet.
	h.setNamespace(`metadata: {annotations: {catalyst.dev/head-sha: ` + nextSHA + `}}`)
	h.setRun(run1, supersededBy, `spec: {status: Cancelled}`)
	before := h.sim.WriteCalls()
	h.mustReconcile()
	assert.Equal(t, h.sim.WriteCalls()-before, 1, "only the old check run is concluded")
	old := h.checkRun(testSHA)
	assert.Equal(t, old.GetConclusion(), "neutral")
	assert.Equal(t, old.GetOutput().GetTitle(), "superseded by 9b8a7c6")
	assert.Check(t, is.Contains(h.comment().GetBody(), "4f1c2d3"), "the comment waits for the new commit's run")

	h.setRun("deploy-9b8a7c6d5e4f-1", `metadata: {labels: {catalyst.dev/sha: `+nextSHA+`}}`, runPending)
	h.mustReconcile()
	assert.Equal(t, h.checkRun(nextSHA).GetStatus(), "queued")
	body := h.comment().GetBody()
	assert.Check(t, is.Contains(body, "9b8a7c6"))
	assert.Check(t, !strings.Contains(body, "4f1c2d3"), "the comment describes the latest commit only")
}

// A retry for the same commit reuses the commit's check run, found on the sibling attempt;
// a lost annotation is recovered by one lookup by external ID, never a duplicate.
func TestAttemptsShareTheCommitsCheckRun(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.setRun(run1, runFailed, classInfra)
	h.setTaskRun("deploy", trFailed("pod-deploy", "PodEvicted", "The node was low on resource: memory."))
	h.mustReconcile()
	first := h.checkRun(testSHA)
	assert.Equal(t, first.GetStatus(), "in_progress", "a retry is scheduled: no verdict yet")
	assert.Check(t, is.Contains(first.GetOutput().GetTitle(), "retrying at"))

	h.setRun("deploy-4f1c2d3e5a6b-2", `metadata: {annotations: {catalyst.dev/attempt: "2", catalyst.dev/cause: retry}}`, runRunning)
	h.mustReconcile()
	h.setRun("deploy-4f1c2d3e5a6b-2", runSucceeded)
	// The ledger annotations of both attempts are lost (say, restored from a backup).
	for _, name := range []string{run1, "deploy-4f1c2d3e5a6b-2"} {
		h.setRun(name, `metadata: {annotations: {catalyst.dev/check-run-id: null, catalyst.dev/report-hash: null}}`)
	}
	h.sim.ResetCalls()
	h.mustReconcile()
	assert.Equal(t, h.sim.CountCalls(http.MethodGet, ghsim.RouteRefCheckRuns), 1, "one lookup by external ID")
	assert.Equal(t, len(h.sim.CheckRuns(testRepo, testSHA)), 1, "no duplicate check run")
	assert.Equal(t, h.checkRun(testSHA).GetConclusion(), "success")
	assert.Equal(t, h.run("deploy-4f1c2d3e5a6b-2").Annotations[preview.AnnotationCheckRunID], strconv.FormatInt(first.GetID(), 10))
}

// GitHub answers 5xx for a while: the breaker opens and calls stop, nothing is lost, and on
// recovery only the latest state is sent, once.
func TestGitHubOutageSendsOnlyTheLatestStateOnRecovery(t *testing.T) {
	h := newHarness(t, githubapp.Policy{MaxAttempts: 2, BreakerThreshold: 3, BreakerCooldown: time.Minute})
	h.setRun(run1, runRunning)
	h.setTaskRun("build", trRunning("31"))
	h.mustReconcile()
	assert.Equal(t, h.sim.WriteCalls(), 2)

	h.sim.FailFor(10*time.Minute, http.StatusBadGateway)
	h.sim.ResetCalls()
	// Progress that does not change a report costs nothing, outage or not.
	h.setTaskRun("build", trSucceeded("31", "32"))
	h.setTaskRun("deploy", trRunning("32"))
	h.mustReconcile()
	assert.Equal(t, len(h.sim.Calls()), 0)

	// The deployment succeeds while GitHub fails: attempts until the breaker opens.
	h.setTaskRun("deploy", trSucceeded("32", "33"))
	h.setTaskRun("healthcheck", trSucceeded("33", "33"))
	h.setRun(run1, runSucceeded)
	var retryAfter time.Duration
	for i := 0; ; i++ {
		assert.Assert(t, i < 5, "the breaker never opened")
		_, err := h.reconcile()
		assert.Assert(t, err != nil)
		assert.Assert(t, githubapp.IsRetryable(err), "%v", err)
		if d, ok := githubapp.RetryAfter(err); ok {
			retryAfter = d
			break
		}
	}
	assert.Assert(t, retryAfter > 0)
	failed := len(h.sim.Calls())
	assert.Equal(t, failed, 3, "calls until the breaker opened")
	for range 3 { // requeues while the breaker is open: refused locally
		_, err := h.reconcile()
		_, ok := githubapp.RetryAfter(err)
		assert.Assert(t, ok, "%v", err)
	}
	assert.Equal(t, len(h.sim.Calls()), failed, "no call while the breaker is open")
	assert.Equal(t, h.checkRun(testSHA).GetStatus(), "in_progress", "GitHub still shows the last state sent")

	h.clock.Advance(11 * time.Minute) // the outage and the cool-down are over
	h.sim.ResetCalls()
	h.mustReconcile()
	assert.Equal(t, h.sim.WriteCalls(), 2, "one check run update and one comment edit")
	assert.Equal(t, h.sim.CountCalls(http.MethodPatch, ghsim.RouteCheckRun), 1)
	assert.Equal(t, h.sim.CountCalls(http.MethodPatch, ghsim.RouteIssueComment), 1)
	assert.Equal(t, h.checkRun(testSHA).GetConclusion(), "success")
	assert.Check(t, is.Contains(h.comment().GetBody(), "preview ready"))
	h.sim.ResetCalls()
	h.mustReconcile()
	assert.Equal(t, len(h.sim.Calls()), 0)
}

// A failure is reported once the trigger has classified it, not three times on the way.
func TestFailureWaitsForClassification(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.setRun(run1, runRunning)
	h.setTaskRun("deploy", trRunning("32"))
	h.mustReconcile()
	writes := h.sim.WriteCalls()

	h.clock.Set(time.Date(2026, 11, 28, 12, 32, 31, 0, time.UTC)) // a second after the run failed
	h.setTaskRun("deploy", trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`))
	h.setRun(run1, runFailed)
	after, err := h.reconcile()
	assert.NilError(t, err)
	assert.Equal(t, after, 4*time.Second, "look again when the classification wait ends")
	assert.Equal(t, h.sim.WriteCalls(), writes, "nothing sent before the classification")

	h.logs.set("pod-deploy", "step-helm", "Error: UPGRADE FAILED: hunter2-db-password rejected\n")
	assert.NilError(t, h.kube.Tracker().Add(secret("shop-db", map[string]string{"password": "hunter2-db-password"})))
	h.setRun(run1, classApplication)
	h.mustReconcile()
	assert.Equal(t, h.sim.WriteCalls()-writes, 2)
	cr := h.checkRun(testSHA)
	assert.Equal(t, cr.GetConclusion(), "failure")
	assert.Equal(t, cr.GetOutput().GetTitle(), "failed in deploy (application error)")
	assert.Check(t, is.Contains(cr.GetOutput().GetText(), "Error: UPGRADE FAILED: *** rejected"))
	assert.Check(t, is.Contains(h.comment().GetBody(), "/retest"))
	assert.Check(t, !strings.Contains(h.comment().GetBody(), "hunter2"))
	assert.Equal(t, h.logs.reads, 1, "the log is read once for both surfaces")
}

// The namespace is deleted: the comment says so a last time, then the finalizer goes; the
// stuck-terminating check tells operators when deletion hangs.
func TestEnvironmentRemoved(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.setRun(run1, runSucceeded)
	h.mustReconcile()
	assert.DeepEqual(t, h.namespace().Finalizers, []string{preview.FinalizerReport})

	removedAt := h.clock.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	h.setNamespace(`metadata: {deletionTimestamp: "` + removedAt + `"}`)
	writes := h.sim.WriteCalls()
	after, err := h.reconcile()
	assert.NilError(t, err)
	assert.Equal(t, h.sim.WriteCalls()-writes, 1, "one comment edit")
	assert.Check(t, is.Contains(h.comment().GetBody(), "environment removed"))
	ns := h.namespace()
	assert.Equal(t, len(ns.Finalizers), 0)
	assert.Equal(t, ns.Annotations[preview.AnnotationRemovalReported], "true")
	assert.Equal(t, after, 9*time.Minute, "look again when deletion would count as stuck")

	h.clock.Advance(10 * time.Minute)
	h.sim.ResetCalls()
	_, err = h.reconcile()
	assert.NilError(t, err)
	assert.Equal(t, len(h.sim.Calls()), 0)
	assert.Check(t, is.Contains(<-h.events.Events, "Warning StuckTerminating namespace deleting for 11m0s"))
}

// A pull request that GitHub no longer has cannot hold its namespace forever.
func TestRemovalReleasesNamespaceWhenGitHubRefusesForGood(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.setRun(run1, runSucceeded)
	h.mustReconcile()
	h.setNamespace(`metadata: {deletionTimestamp: "` + h.clock.Now().UTC().Format(time.RFC3339) + `", labels: {catalyst.dev/pr: "99"}}`) // a PR the simulator does not know: 404
	_, err := h.reconcile()
	assert.NilError(t, err)
	assert.Equal(t, len(h.namespace().Finalizers), 0)
	assert.Check(t, is.Contains(<-h.events.Events, "Warning FinalReportFailed"))
}

// Tekton's controller may write back, with its stale copy winning, the report-hash it read
// before the reporter's last patch. The per-phase key keeps the report from being sent again.
func TestTektonRevertingReportHashCostsNothing(t *testing.T) {
	h := newHarness(t, githubapp.Policy{})
	h.setRun(run1, runPending)
	h.mustReconcile()
	queued := h.run(run1).Annotations[preview.AnnotationReportHash]
	h.setRun(run1, runRunning)
	h.mustReconcile()
	assert.Equal(t, phaseOfEntry(h.run(run1).Annotations[preview.AnnotationReportHash]), PhaseRunning)

	h.setRun(run1, `metadata: {annotations: {catalyst.dev/report-hash: "`+queued+`"}}`)
	h.sim.ResetCalls()
	h.mustReconcile()
	assert.Equal(t, h.sim.WriteCalls(), 0)
	assert.Equal(t, phaseOfEntry(h.run(run1).Annotations[preview.AnnotationReportHash]), PhaseRunning, "the record is repaired")
}
