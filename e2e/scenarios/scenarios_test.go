package scenarios

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/e2e/podfate"
	"github.com/catalyst-preview/catalyst/preview"
)

// 1. A PR opened on a configured repository gets its environment, a successful Check Run and one
// comment with the preview URL, the commit and timestamps.
func TestScenarioOpenToPreview(t *testing.T) {
	s := requireSystem(t)
	const repo = "acme/happy"
	opened := time.Now()
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	url := "http://" + preview.PreviewHost(repo, d.Number, s.Config.Preview.Domain)
	body := waitComment(t, repo, d.Number, url, short(d.HeadSHA), "preview ready")
	t.Logf("measured: PR opened -> comment with the preview URL in %s", time.Since(opened).Round(time.Millisecond))
	assert.Check(t, is.Contains(body, "Time to preview"))
	cr := waitCheckRun(t, repo, d.HeadSHA, "success")
	assert.Equal(t, cr.GetExternalID(), ns+"/"+d.HeadSHA)
	assert.Check(t, is.Contains(cr.GetDetailsURL(), ns))

	ctx := t.Context()
	_, err := s.Kube.CoreV1().ResourceQuotas(ns).Get(ctx, "catalyst-quota", metav1.GetOptions{})
	assert.Check(t, err)
	_, err = s.Kube.CoreV1().LimitRanges(ns).Get(ctx, "catalyst-limits", metav1.GetOptions{})
	assert.Check(t, err)
	nps, err := s.Kube.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	assert.NilError(t, err)
	assert.Check(t, len(nps.Items) >= 5, "default deny plus the allowed paths")
	_, err = s.Kube.CoreV1().ServiceAccounts(ns).Get(ctx, "catalyst-pipeline", metav1.GetOptions{})
	assert.Check(t, err)
	runs := runsIn(t, ns)
	assert.Check(t, is.Len(runs, 1))
	assert.Check(t, is.Len(sys.Sim.Comments(repo, d.Number), 1), "one comment, no notice")
}

// 2. A push while building cancels that run; a push while deploying stops it gracefully (the
// deploy task finishes, nothing new starts); the newest commit deploys, the comment describes
// it and the superseded check runs say so.
func TestScenarioPushSupersedes(t *testing.T) {
	requireSystem(t)
	const repo = "acme/supersede"
	ctx := t.Context()
	releaseBuild, releaseDeploy := make(chan struct{}), make(chan struct{})
	setPolicy(t, repo, func(task podfate.Task) podfate.Fate {
		held := map[string]chan struct{}{"build": releaseBuild, "deploy": releaseDeploy}[task.Task]
		if held != nil {
			select {
			case <-held:
			default:
				return podfate.Fate{Hold: true}
			}
		}
		return podfate.Fate{Results: podfate.Results(task)}
	})
	d1 := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d1.Number)
	waitTask(t, ns, deployRun(d1.HeadSHA, 1), "build")

	d2, err := sys.Sim.Push(ctx, repo, d1.Number)
	assert.NilError(t, err)
	old := waitRun(t, ns, deployRun(d1.HeadSHA, 1), "Cancelled")
	assert.Equal(t, old.Annotations[preview.AnnotationSupersededBy], d2.HeadSHA)
	cr := waitCheckRun(t, repo, d1.HeadSHA, "neutral")
	assert.Check(t, is.Contains(cr.GetOutput().GetTitle(), "superseded by "+short(d2.HeadSHA)))

	close(releaseBuild)
	sys.Driver.Reconsider()
	waitTask(t, ns, deployRun(d2.HeadSHA, 1), "deploy")
	d3, err := sys.Sim.Push(ctx, repo, d1.Number)
	assert.NilError(t, err)
	wait(t, "graceful stop requested", func() (bool, string) {
		pr := pipelineRun(t, ns, deployRun(d2.HeadSHA, 1))
		return pr.Spec.Status == pipelinev1.PipelineRunSpecStatusStoppedRunFinally, string(pr.Spec.Status)
	})
	assert.Check(t, !pipelineRun(t, ns, deployRun(d2.HeadSHA, 1)).IsDone(), "helm is not killed halfway")
	close(releaseDeploy)
	sys.Driver.Reconsider()
	stopped := waitRun(t, ns, deployRun(d2.HeadSHA, 1), "Cancelled")
	for _, c := range stopped.Status.ChildReferences {
		if c.PipelineTaskName == "deploy" {
			tr, err := sys.Tekton.TektonV1().TaskRuns(ns).Get(ctx, c.Name, metav1.GetOptions{})
			assert.NilError(t, err)
			assert.Equal(t, tr.Status.GetCondition("Succeeded").Reason, "Succeeded", "the deploy task ran to its end")
		}
		assert.Check(t, c.PipelineTaskName != "healthcheck", "nothing new starts after a graceful stop")
	}
	waitRun(t, ns, deployRun(d3.HeadSHA, 1), "Succeeded")
	waitComment(t, repo, d1.Number, short(d3.HeadSHA), "preview ready")
	waitCheckRun(t, repo, d2.HeadSHA, "neutral")
}

func waitTask(t *testing.T, ns, run, task string) {
	t.Helper()
	wait(t, "task "+task+" of "+run+" started", func() (bool, string) {
		pr := pipelineRun(t, ns, run)
		if pr == nil {
			return false, "no run"
		}
		for _, c := range pr.Status.ChildReferences {
			if c.PipelineTaskName == task {
				return true, ""
			}
		}
		return false, "not yet"
	})
}

// failWith fails a task with an exit code, after writing its steps' log.
func failWith(t *testing.T, task podfate.Task, code int, log string) podfate.Fate {
	for _, c := range task.Pod.Spec.Containers {
		if err := sys.Cluster.SetPodLogs(context.Background(), task.Namespace, task.Pod.Name, c.Name, log); err != nil {
			t.Errorf("set pod log: %v", err)
		}
	}
	// KWOK learns a log from a watch: wait until the API serves it before the pod ends.
	for i := 0; i < 100; i++ {
		raw, err := sys.Kube.CoreV1().Pods(task.Namespace).GetLogs(task.Pod.Name, &corev1.PodLogOptions{Container: task.Pod.Spec.Containers[0].Name}).Do(context.Background()).Raw()
		if err == nil && strings.Contains(string(raw), strings.Split(log, "\n")[0]) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return podfate.Fate{ExitCode: code, Results: podfate.Results(task)}
}

// 3. A build failure and a health-check failure fail the Check Run with the log excerpt and tell
// the author about /retest; /retest and the Checks "Re-run" start new attempts.
func TestScenarioFailuresAndRetest(t *testing.T) {
	requireSystem(t)
	const repo = "acme/failure"
	ctx := t.Context()
	setPolicy(t, repo, func(task podfate.Task) podfate.Fate {
		attempt := task.PipelineRun.Annotations[preview.AnnotationAttempt]
		switch {
		case attempt == "1" && task.Task == "build":
			return failWith(t, task, 1, "#7 [build 3/4] RUN go build ./...\nmain.go:12:2: undefined: greeting\nERROR: process \"/bin/sh -c go build ./...\" did not complete successfully: exit code: 1")
		case attempt == "2" && task.Task == "healthcheck":
			return failWith(t, task, 1, "GET http://42-failure.preview.localtest.me/healthz: 503 Service Unavailable\nhealth check failed after 2m0s")
		}
		return podfate.Fate{Results: podfate.Results(task)}
	})
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	cr := waitCheckRun(t, repo, d.HeadSHA, "failure")
	assert.Check(t, is.Contains(cr.GetOutput().GetText()+cr.GetOutput().GetSummary(), "undefined: greeting"), "log excerpt in the check run")
	body := waitComment(t, repo, d.Number, "/retest", "undefined: greeting")
	assert.Check(t, is.Contains(body, "build"))
	assert.Equal(t, pipelineRun(t, ns, deployRun(d.HeadSHA, 1)).Annotations[preview.AnnotationFailureClass], "application")
	assert.Check(t, pipelineRun(t, ns, deployRun(d.HeadSHA, 2)) == nil, "an application failure waits for a person")

	_, err := sys.Sim.Comment(ctx, repo, d.Number, "alice", "/retest")
	assert.NilError(t, err)
	waitRun(t, ns, deployRun(d.HeadSHA, 2), "Failed")
	waitComment(t, repo, d.Number, "healthcheck", "503 Service Unavailable")

	_, err = sys.Sim.RerunCheckRun(ctx, repo, checkRun(repo, d.HeadSHA).GetID(), "alice")
	assert.NilError(t, err)
	waitRun(t, ns, deployRun(d.HeadSHA, 3), "Succeeded")
	waitCheckRun(t, repo, d.HeadSHA, "success")
	waitComment(t, repo, d.Number, "preview ready", "attempt 3")
}

// 3b. A pod failure classified as infrastructure is retried automatically, 3 attempts in all,
// with backoff, before the run is called failed.
func TestScenarioInfrastructureRetries(t *testing.T) {
	requireSystem(t)
	const repo = "acme/retry"
	setPolicy(t, repo, func(task podfate.Task) podfate.Fate {
		if task.Task == "build" {
			return podfate.Fate{Evict: true}
		}
		return podfate.Fate{Results: podfate.Results(task)}
	})
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	var finished []time.Time
	for attempt := 1; attempt <= 3; attempt++ {
		pr := waitRun(t, ns, deployRun(d.HeadSHA, attempt), "Failed")
		finished = append(finished, pr.Status.CompletionTime.Time)
		if attempt > 1 {
			assert.Equal(t, pr.Annotations[preview.AnnotationCause], preview.CauseRetry)
			gap := pr.CreationTimestamp.Sub(finished[attempt-2])
			assert.Check(t, gap >= time.Duration(attempt-1)*time.Second-500*time.Millisecond, "attempt %d started %s after the failure: backoff", attempt, gap)
		}
	}
	// The third failure is final: the trigger schedules no retry on it (it annotates a failed
	// run with retry-after when it does), so the reporter concludes the check run failed.
	cr := waitCheckRun(t, repo, d.HeadSHA, "failure")
	assert.Check(t, is.Contains(strings.ToLower(cr.GetOutput().GetSummary()+cr.GetOutput().GetTitle()), "infrastructure"))
	var last *pipelinev1.PipelineRun
	wait(t, "third attempt classified", func() (bool, string) {
		last = pipelineRun(t, ns, deployRun(d.HeadSHA, 3))
		return last.Annotations[preview.AnnotationFailureClass] == "infrastructure", last.Annotations[preview.AnnotationFailureClass]
	})
	assert.Equal(t, last.Annotations[preview.AnnotationRetryAfter], "", "no retry scheduled after the third attempt")
	assert.Check(t, pipelineRun(t, ns, deployRun(d.HeadSHA, 4)) == nil, "at most 3 attempts")
}

// 4. Closing stops the runs, runs the cleanup pipeline, deletes the namespace and leaves a final
// comment.
func TestScenarioClose(t *testing.T) {
	requireSystem(t)
	const repo = "acme/close"
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	waitComment(t, repo, d.Number, "preview ready")
	closed := time.Now()
	_, err := sys.Sim.ClosePR(t.Context(), repo, d.Number)
	assert.NilError(t, err)
	wait(t, "namespace "+ns+" gone", func() (bool, string) {
		_, err := sys.Kube.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), "still there"
	})
	t.Logf("measured: PR closed -> namespace gone in %s (goal: 5 minutes)", time.Since(closed).Round(time.Millisecond))
	waitComment(t, repo, d.Number, "environment removed")
}

// 5a. The same delivery five times makes one PipelineRun.
func TestScenarioRedelivery(t *testing.T) {
	requireSystem(t)
	const repo = "acme/redeliver"
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	for range 4 {
		assert.NilError(t, sys.Sim.Redeliver(t.Context(), d.ID))
	}
	waitRun(t, ns, deployRun(d.HeadSHA, 1), "Succeeded")
	waitComment(t, repo, d.Number, "preview ready")
	assert.Check(t, is.Len(runsIn(t, ns), 1))
}

// 5b. Synchronize events delivered out of order: the newest SHA wins.
func TestScenarioOutOfOrder(t *testing.T) {
	requireSystem(t)
	const repo = "acme/ordering"
	ctx := t.Context()
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	waitComment(t, repo, d.Number, "preview ready")
	sys.Sim.HoldWebhooks(true)
	p1, err := sys.Sim.Push(ctx, repo, d.Number)
	assert.NilError(t, err)
	p2, err := sys.Sim.Push(ctx, repo, d.Number)
	assert.NilError(t, err)
	sys.Sim.HoldWebhooks(false)
	assert.NilError(t, sys.Sim.DeliverPending(ctx, true))
	waitComment(t, repo, d.Number, short(p2.HeadSHA), "preview ready")
	assert.Check(t, pipelineRun(t, ns, deployRun(p1.HeadSHA, 1)) == nil, "the older push arrived last and changed nothing")
	nsObj, err := sys.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Equal(t, nsObj.Annotations[preview.AnnotationHeadSHA], p2.HeadSHA)
}

// 5c. A webhook that never arrives is repaired by the resync (10 s here, 5 min by default).
func TestScenarioLostWebhook(t *testing.T) {
	requireSystem(t)
	const repo = "acme/lost"
	sys.Sim.DropWebhooks(1)
	dropped := time.Now()
	d := open(t, repo, ghsim.PROptions{})
	waitComment(t, repo, d.Number, "preview ready")
	t.Logf("measured: dropped webhook -> preview via resync in %s", time.Since(dropped).Round(time.Millisecond))
}

// 5d. The trigger killed after persisting a delivery and before reconciling it converges when
// it comes back. A replica that is not the leader persists webhooks without reconciling; it is
// killed, and the next trigger takes over once the lease expires.
func TestScenarioTriggerKilledBetweenPersistAndReconcile(t *testing.T) {
	s := requireSystem(t)
	const repo = "acme/restart"
	ctx := t.Context()
	s.Trigger.Stop()
	holdLease(t, "catalyst-trigger")
	assert.NilError(t, s.Trigger.Start(ctx))
	s.Sim.SetWebhookURL(s.Trigger.URL + "/webhook")
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	_, err := s.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	assert.NilError(t, err, "the webhook was persisted")
	assert.Check(t, is.Len(runsIn(t, ns), 0), "nothing reconciled it yet")
	s.Trigger.Kill()
	assert.NilError(t, s.Trigger.Start(ctx))
	s.Sim.SetWebhookURL(s.Trigger.URL + "/webhook")
	waitComment(t, repo, d.Number, "preview ready")
	assert.Check(t, is.Len(runsIn(t, ns), 1))
}

// holdLease takes the named Lease for a holder that never renews, as a crashed leader would.
func holdLease(t *testing.T, name string) {
	t.Helper()
	ctx := t.Context()
	leases := sys.Kube.CoordinationV1().Leases("catalyst-system")
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	assert.NilError(t, err)
	holder, dur := "crashed-leader", int32(15)
	now := metav1.NewMicroTime(time.Now())
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.AcquireTime, l.Spec.RenewTime = &holder, &dur, &now, &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	assert.NilError(t, err)
}

// 5e. The reporter down while runs finish reports the final state once it is back, once.
func TestScenarioReporterDown(t *testing.T) {
	s := requireSystem(t)
	const repo = "acme/reporter-down"
	ctx := t.Context()
	s.Reporter.Stop()
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	waitRun(t, ns, deployRun(d.HeadSHA, 1), "Succeeded")
	before := writesFor(repo)
	assert.NilError(t, s.Reporter.Start(ctx))
	waitComment(t, repo, d.Number, "preview ready")
	waitCheckRun(t, repo, d.HeadSHA, "success")
	// Leader election takes the lease over from the stopped reporter; give it time to settle,
	// then count: one check run and one comment created, nothing else.
	wait(t, "reporter idle", func() (bool, string) { return writesFor(repo)-before >= 2, "" })
	after := writesFor(repo)
	assert.Equal(t, after-before, 2, "final state reported once: one check run, one comment")
}

func writesFor(repo string) int {
	n := 0
	for _, c := range sys.Sim.Calls() {
		if c.Method != "GET" && strings.Contains(c.Path, "/repos/"+repo+"/") && c.Status < 400 {
			n++
		}
	}
	return n
}

// 5f. GitHub answering 503 for a while and then rate-limiting: no call storm, and the final
// state is reported after recovery.
func TestScenarioGitHubOutage(t *testing.T) {
	requireSystem(t)
	const repo = "acme/outage"
	before := len(sys.Sim.Calls())
	sys.Sim.FailFor(15*time.Second, 503)
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	waitRun(t, ns, deployRun(d.HeadSHA, 1), "Succeeded")
	inst := sys.Sim.InstallationID("acme")
	sys.Sim.ExhaustRateLimit(inst, time.Now().Add(10*time.Second))
	body := waitComment(t, repo, d.Number, "preview ready")
	assert.Check(t, body != "")
	waitCheckRun(t, repo, d.HeadSHA, "success")
	calls := len(sys.Sim.Calls()) - before
	t.Logf("measured: %d GitHub calls in all during a 15 s outage and a 10 s rate limit", calls)
	assert.Check(t, calls < 60, "no call storm: %d calls", calls)
}

// 5g. A repository without configuration gets one explanatory comment.
func TestScenarioUnconfiguredRepository(t *testing.T) {
	requireSystem(t)
	const repo = "acme/not-configured"
	sys.Sim.AddRepo(repo)
	d := open(t, repo, ghsim.PROptions{})
	wait(t, "notice", func() (bool, string) {
		cs := sys.Sim.Comments(repo, d.Number)
		return len(cs) == 1 && strings.Contains(cs[0].GetBody(), "not configured"), ""
	})
	assert.NilError(t, sys.Sim.Redeliver(t.Context(), d.ID))
	p, err := sys.Sim.Push(t.Context(), repo, d.Number)
	assert.NilError(t, err)
	// The push is recorded (the pending record holds its head) before the comments are counted.
	record := preview.NamespaceName(repo, d.Number)
	wait(t, "push recorded", func() (bool, string) {
		cm, err := sys.Kube.CoreV1().ConfigMaps("catalyst-system").Get(t.Context(), record, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return cm.Annotations[preview.AnnotationHeadSHA] == p.HeadSHA, cm.Annotations[preview.AnnotationHeadSHA]
	})
	assert.Check(t, is.Len(sys.Sim.Comments(repo, d.Number), 1), "one notice after a redelivery and a push")
}

// 5h. An untrusted fork runs nothing until a collaborator comments /ok-to-test.
func TestScenarioUntrustedFork(t *testing.T) {
	requireSystem(t)
	const repo = "acme/fork"
	ctx := t.Context()
	sys.Sim.SetCollaborator(repo, "bob", "write")
	d := open(t, repo, ghsim.PROptions{Author: "mallory", AuthorAssociation: "FIRST_TIME_CONTRIBUTOR", Fork: true})
	ns := preview.NamespaceName(repo, d.Number)
	wait(t, "approval notice", func() (bool, string) {
		for _, c := range sys.Sim.Comments(repo, d.Number) {
			if strings.Contains(c.GetBody(), "/ok-to-test") {
				return true, ""
			}
		}
		return false, ""
	})
	_, err := sys.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	assert.Check(t, apierrors.IsNotFound(err), "no namespace before approval")
	_, err = sys.Sim.Comment(ctx, repo, d.Number, "bob", "/ok-to-test")
	assert.NilError(t, err)
	waitComment(t, repo, d.Number, "preview ready")
}

// 5i. Over the concurrency limit runs wait as Pending, the comment shows the queue position, and
// they start in order.
func TestScenarioQueue(t *testing.T) {
	requireSystem(t)
	const repo = "acme/queue" // concurrency: 1
	release := make(chan struct{})
	setPolicy(t, repo, holdUntil("build", release))
	var prs []ghsim.Delivery
	for range 3 {
		prs = append(prs, open(t, repo, ghsim.PROptions{}))
	}
	// One run holds the slot; the other two wait with positions 1 and 2.
	byPosition := map[string]ghsim.Delivery{}
	wait(t, "one running and two queued", func() (bool, string) {
		byPosition = map[string]ghsim.Delivery{}
		for _, d := range prs {
			pr := pipelineRun(t, preview.NamespaceName(repo, d.Number), deployRun(d.HeadSHA, 1))
			switch {
			case pr == nil:
				return false, "a run is missing"
			case pr.Spec.Status == pipelinev1.PipelineRunSpecStatusPending:
				byPosition[pr.Annotations[preview.AnnotationQueuePosition]] = d
			default:
				byPosition["running"] = d
			}
		}
		_, one := byPosition["1"]
		_, two := byPosition["2"]
		_, running := byPosition["running"]
		return one && two && running, fmt.Sprint(len(byPosition), " states")
	})
	waitComment(t, repo, byPosition["1"].Number, "queued (position 1)")
	waitComment(t, repo, byPosition["2"].Number, "queued (position 2)")
	close(release)
	sys.Driver.Reconsider()
	var started []time.Time
	for _, key := range []string{"running", "1", "2"} {
		d := byPosition[key]
		pr := waitRun(t, preview.NamespaceName(repo, d.Number), deployRun(d.HeadSHA, 1), "Succeeded")
		started = append(started, pr.Status.StartTime.Time)
		waitComment(t, repo, d.Number, "preview ready")
	}
	assert.Check(t, !started[1].Before(started[0]) && !started[2].Before(started[1]), "started first in, first out: %v", started)
}
