package scenarios

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/e2e/podfate"
	"github.com/catalyst-preview/catalyst/e2e/steprunner"
	"github.com/catalyst-preview/catalyst/preview"
)

// 1. A PR opened on a configured repository gets its environment, a successful Check Run and one
// comment with the preview URL, the commit and timestamps.
func TestScenarioOpenToPreview(t *testing.T) {
	s := scenario(t)
	const repo = "acme/happy"
	opened := time.Now()
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	host := preview.PreviewHost(repo, d.Number, s.Config.Preview.Domain)
	url := "http://" + host
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

	// The real step code did it: helm installed the chart with the pipeline's ServiceAccount,
	// the health check reached the preview through the ingress stand-in.
	dep, err := s.Kube.AppsV1().Deployments(ns).Get(ctx, "preview-example-app", metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(dep.Status.AvailableReplicas, int32(1)))
	image, digest := runImage(t, ns)
	assert.Check(t, is.Equal(dep.Spec.Template.Spec.Containers[0].Image, image[:strings.LastIndexByte(image, ':')]+"@"+digest),
		"the chart deploys the built image by digest")
	deploy := realStep(t, ns, "deploy", "step-deploy")
	assert.Check(t, is.Equal(deploy.Outcome.ExitCode, 0))
	assert.Check(t, is.Contains(deploy.Outcome.Log, "Open it at:"), "helm's notes from the real deploy")
	health := realStep(t, ns, "healthcheck", "step-healthcheck")
	assert.Check(t, is.Contains(health.Outcome.Log, "preview is healthy: "+url+"/healthz"))
	var checked bool
	for _, h := range s.Ingress.Hits(host) {
		checked = checked || (h.Path == "/healthz" && h.Status == http.StatusOK)
	}
	assert.Check(t, checked, "the health check went through the ingress stand-in: %v", s.Ingress.Hits(host))
	code, page := browse(t, host, "/")
	assert.Check(t, is.Equal(code, http.StatusOK))
	assert.Check(t, is.Contains(page, "This is not the application"), "the stand-in says what it is")
}

// runImage is the image the trigger asked the pipeline to build and deploy, and the digest
// the (simulated) build reported.
func runImage(t *testing.T, ns string) (image, digest string) {
	t.Helper()
	runs := runsIn(t, ns)
	assert.Assert(t, is.Len(runs, 1))
	for _, p := range runs[0].Spec.Params {
		if p.Name == "image" {
			image = p.Value.StringVal
		}
	}
	for _, r := range runs[0].Status.Results {
		if r.Name == "image-digest" {
			digest = r.Value.StringVal
		}
	}
	assert.Assert(t, image != "" && digest != "", "image %q, digest %q", image, digest)
	return image, digest
}

// realStep is the one real run of a task's step container in a namespace.
func realStep(t *testing.T, ns, task, container string) steprunner.Record {
	t.Helper()
	var found []steprunner.Record
	for _, r := range sys.Runner.Records(ns) {
		if r.Task == task && r.Container == container && r.Real {
			found = append(found, r)
		}
	}
	assert.Assert(t, is.Len(found, 1), "real runs of %s/%s in %s", task, container, ns)
	return found[0]
}

// 2. A push while building cancels that run; a push while deploying stops it gracefully (the
// deploy task finishes, nothing new starts); the newest commit deploys, the comment describes
// it and the superseded check runs say so.
func TestScenarioPushSupersedes(t *testing.T) {
	scenario(t)
	const repo = "acme/supersede"
	ctx := t.Context()
	// The deploy of the newest commit is held until the stopped run has ended: the trigger
	// starts the new run at once, and two real helm operations on one release collide (the
	// second fails: "another deploy may still be running"). Here the build between them takes
	// no time; a real build usually outlasts the stopped deploy.
	releaseBuild, releaseDeploy, releaseNewest := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var stoppedSHA string
	setPolicy(t, repo, func(task podfate.Task) podfate.Fate {
		var held chan struct{}
		switch task.Task {
		case "build":
			held = releaseBuild
		case "deploy":
			mu.Lock()
			held = releaseNewest
			if task.Param("revision") == stoppedSHA {
				held = releaseDeploy
			}
			mu.Unlock()
		}
		if held != nil {
			select {
			case <-held:
			default:
				return podfate.Fate{Hold: true}
			}
		}
		return podfate.Default(task, 0)
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

	mu.Lock()
	stoppedSHA = d2.HeadSHA
	mu.Unlock()
	close(releaseBuild)
	sys.Driver.Reconsider()
	waitTask(t, ns, deployRun(d2.HeadSHA, 1), "deploy")
	d3, err := sys.Sim.Push(ctx, repo, d1.Number)
	assert.NilError(t, err)
	wait(t, "graceful stop requested", func() (bool, string, error) {
		pr, err := getRun(t.Context(), ns, deployRun(d2.HeadSHA, 1))
		if err != nil || pr == nil {
			return false, "no run", err
		}
		return pr.Spec.Status == pipelinev1.PipelineRunSpecStatusStoppedRunFinally, string(pr.Spec.Status), nil
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
	close(releaseNewest)
	sys.Driver.Reconsider()
	waitRun(t, ns, deployRun(d3.HeadSHA, 1), "Succeeded")
	waitComment(t, repo, d1.Number, short(d3.HeadSHA), "preview ready")
	waitCheckRun(t, repo, d2.HeadSHA, "neutral")
}

func waitTask(t *testing.T, ns, run, task string) {
	t.Helper()
	wait(t, "task "+task+" of "+run+" started", func() (bool, string, error) {
		pr, err := getRun(t.Context(), ns, run)
		if err != nil || pr == nil {
			return false, "no run", err
		}
		for _, c := range pr.Status.ChildReferences {
			if c.PipelineTaskName == task {
				return true, "", nil
			}
		}
		return false, "not yet", nil
	})
}

// failWith fails a task, simulated, with an exit code and its steps' log.
func failWith(task podfate.Task, code int, log string) podfate.Fate {
	return podfate.Fate{ExitCode: code, Results: podfate.Results(task), Log: log}
}

// 3. A build failure and a health-check failure fail the Check Run with the log excerpt and tell
// the author about /retest; /retest and the Checks "Re-run" start new attempts.
func TestScenarioFailuresAndRetest(t *testing.T) {
	scenario(t)
	const repo = "acme/failure"
	ctx := t.Context()
	setPolicy(t, repo, func(task podfate.Task) podfate.Fate {
		attempt := task.PipelineRun.Annotations[preview.AnnotationAttempt]
		switch {
		case attempt == "1" && task.Task == "build":
			return failWith(task, 1, "#7 [build 3/4] RUN go build ./...\nmain.go:12:2: undefined: greeting\nERROR: process \"/bin/sh -c go build ./...\" did not complete successfully: exit code: 1")
		case attempt == "2" && task.Task == "healthcheck":
			// The real health check would retry for its 5 minutes: this failure is simulated.
			return failWith(task, 1, "GET http://42-failure.preview.localtest.me/healthz: 503 Service Unavailable\nhealth check failed after 2m0s")
		}
		return podfate.Default(task, 0)
	})
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	cr := waitCheckRun(t, repo, d.HeadSHA, "failure")
	assert.Check(t, is.Contains(cr.GetOutput().GetText()+cr.GetOutput().GetSummary(), "undefined: greeting"), "log excerpt in the check run")
	body := waitComment(t, repo, d.Number, "/retest", "undefined: greeting")
	assert.Check(t, is.Contains(body, "failed in build"))
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
	scenario(t)
	const repo = "acme/retry"
	setPolicy(t, repo, func(task podfate.Task) podfate.Fate {
		if task.Task == "build" {
			return podfate.Fate{Evict: true}
		}
		return podfate.Default(task, 0)
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
	wait(t, "third attempt classified", func() (bool, string, error) {
		var err error
		if last, err = getRun(t.Context(), ns, deployRun(d.HeadSHA, 3)); err != nil || last == nil {
			return false, "no run", err
		}
		return last.Annotations[preview.AnnotationFailureClass] == "infrastructure", last.Annotations[preview.AnnotationFailureClass], nil
	})
	assert.Equal(t, last.Annotations[preview.AnnotationRetryAfter], "", "no retry scheduled after the third attempt")
	assert.Check(t, pipelineRun(t, ns, deployRun(d.HeadSHA, 4)) == nil, "at most 3 attempts")
}

// 4. Closing stops the runs, runs the cleanup pipeline, deletes the namespace and leaves a final
// comment.
func TestScenarioClose(t *testing.T) {
	s := scenario(t)
	const repo = "acme/close"
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	host := preview.PreviewHost(repo, d.Number, s.Config.Preview.Domain)
	waitComment(t, repo, d.Number, "preview ready")
	code, _ := browse(t, host, "/healthz")
	assert.Check(t, is.Equal(code, http.StatusOK), "the preview answers before the close")
	closed := time.Now()
	_, err := sys.Sim.ClosePR(t.Context(), repo, d.Number)
	assert.NilError(t, err)
	wait(t, "namespace "+ns+" gone", func() (bool, string, error) {
		_, err := sys.Kube.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, "still there", err
	})
	// The real cleanup step uninstalled the release before the namespace went.
	cleanup := realStep(t, ns, "cleanup", "step-cleanup")
	assert.Check(t, is.Equal(cleanup.Outcome.ExitCode, 0), cleanup.Outcome.Log)
	assert.Check(t, is.Contains(cleanup.Outcome.Log, "release preview removed"))
	code, _ = browse(t, host, "/healthz")
	assert.Check(t, is.Equal(code, http.StatusNotFound), "the preview no longer answers")
	t.Logf("measured: PR closed -> namespace gone in %s (goal: 5 minutes)", time.Since(closed).Round(time.Millisecond))
	waitComment(t, repo, d.Number, "environment removed")
}

// 5a. The same delivery five times makes one PipelineRun.
func TestScenarioRedelivery(t *testing.T) {
	scenario(t)
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
	scenario(t)
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
	scenario(t)
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
	s := scenario(t)
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
	s := scenario(t)
	const repo = "acme/reporter-down"
	ctx := t.Context()
	s.Reporter.Stop()
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	name := deployRun(d.HeadSHA, 1)
	waitRun(t, ns, name, "Succeeded")
	assert.Equal(t, writesFor(repo), 0, "nothing reported while the reporter was down")
	assert.NilError(t, s.Reporter.Start(ctx))
	waitComment(t, repo, d.Number, "preview ready")
	waitCheckRun(t, repo, d.HeadSHA, "success")

	// Settled: the reporter's ledger records the final report on both surfaces. Then one more
	// reconcile, asked for by touching the namespace and the run, must write nothing.
	wait(t, "the final report recorded in the ledger", func() (bool, string, error) {
		pr, err := getRun(ctx, ns, name)
		if err != nil || pr == nil {
			return false, "no run", err
		}
		nsObj, err := s.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		run, comment := pr.Annotations[preview.AnnotationReportHash], nsObj.Annotations[preview.AnnotationCommentHash]
		return strings.HasPrefix(run, "succeeded/") && strings.HasPrefix(comment, "succeeded/"), "run " + run + ", comment " + comment, nil
	})
	reconciles := reporterReconciles(t)
	nudge := []byte(`{"metadata":{"annotations":{"e2e.catalyst.dev/nudge":"` + time.Now().Format(time.RFC3339Nano) + `"}}}`)
	_, err := s.Kube.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, nudge, metav1.PatchOptions{})
	assert.NilError(t, err)
	_, err = s.Tekton.TektonV1().PipelineRuns(ns).Patch(ctx, name, types.MergePatchType, nudge, metav1.PatchOptions{})
	assert.NilError(t, err)
	wait(t, "the reporter reconciled after the nudge", func() (bool, string, error) {
		n, err := reporterReconcilesErr()
		return n > reconciles, fmt.Sprint(n, " reconciles"), err
	})
	assert.Equal(t, writesFor(repo), 2, "final state reported once: one check run, one comment")
}

// writesFor counts the successful writes to a repository.
func writesFor(repo string) int {
	n := 0
	for _, c := range sys.Sim.Calls() {
		if c.Method != "GET" && strings.Contains(c.Path, "/repos/"+repo+"/") && c.Status < 400 {
			n++
		}
	}
	return n
}

func reporterReconciles(t *testing.T) float64 {
	t.Helper()
	n, err := reporterReconcilesErr()
	assert.NilError(t, err)
	return n
}

// reporterReconcilesErr reads catalyst_reporter_reconciles_total (every result) from the
// reporter's /metrics.
func reporterReconcilesErr() (float64, error) {
	resp, err := http.Get(sys.Reporter.URL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var n float64
	found := false
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "catalyst_reporter_reconciles_total{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		n, found = n+v, true
	}
	if !found {
		return 0, errors.New("no catalyst_reporter_reconciles_total on the reporter's /metrics")
	}
	return n, nil
}

// 5f. GitHub rate-limiting and then failing with 503: the rate limit is waited out (no retries
// before the reset), the outage does not cause a storm, and the final state is reported after
// recovery. The repository has an installation of its own, so that its spent budget touches no
// other scenario.
func TestScenarioGitHubOutage(t *testing.T) {
	s := scenario(t)
	const repo = "outage/app"
	inst := s.Sim.InstallationID("outage")
	from := len(s.Sim.Calls())
	reset := time.Now().Add(8 * time.Second)
	s.Sim.ExhaustRateLimit(inst, reset)
	d := open(t, repo, ghsim.PROptions{})
	ns := preview.NamespaceName(repo, d.Number)
	// the installation's calls: with its token, or for its token
	ours := func(c ghsim.Call) bool {
		return c.InstallationID == inst || strings.Contains(c.Path, fmt.Sprintf("/installations/%d/", inst))
	}
	served := func(fault string) []ghsim.Call {
		var out []ghsim.Call
		for _, c := range s.Sim.Calls()[from:] {
			if c.Fault == fault && ours(c) {
				out = append(out, c)
			}
		}
		return out
	}
	// The reporter's first call (it reads before it writes) meets the spent rate limit.
	wait(t, "a call refused by the rate limit (403)", func() (bool, string, error) {
		return len(served("primary_rate_limit")) > 0, "none yet", nil
	})
	// From now until after the reset, GitHub fails: the calls due at the reset meet it.
	s.Sim.FailFor(12*time.Second, http.StatusServiceUnavailable)
	wait(t, "a call failed by the outage (503)", func() (bool, string, error) {
		return len(served("server_error")) > 0, "none yet", nil
	})
	waitRun(t, ns, deployRun(d.HeadSHA, 1), "Succeeded")
	waitComment(t, repo, d.Number, "preview ready")
	waitCheckRun(t, repo, d.HeadSHA, "success")

	limited := served("primary_rate_limit")
	assert.Check(t, len(limited) <= 4, "the rate limit is waited out, not retried: %d refused calls", len(limited))
	var calls []string
	for _, c := range s.Sim.Calls()[from:] {
		if ours(c) || strings.Contains(c.Path, "/repos/"+repo+"/") {
			calls = append(calls, fmt.Sprintf("%s %s %s %d %s", c.Time.Format("15:04:05.000"), c.Method, c.Route, c.Status, c.Fault))
		}
	}
	t.Logf("measured: %d GitHub calls for %s during an 8 s rate limit and a 12 s outage (%d refused with 403, %d with 503)",
		len(calls), repo, len(limited), len(served("server_error")))
	assert.Check(t, len(calls) < 30, "no call storm: %d calls:\n%s", len(calls), strings.Join(calls, "\n"))
}

// 5g. A repository without configuration gets one explanatory comment.
func TestScenarioUnconfiguredRepository(t *testing.T) {
	scenario(t)
	const repo = "acme/not-configured"
	sys.Sim.AddRepo(repo)
	d := open(t, repo, ghsim.PROptions{})
	wait(t, "notice", func() (bool, string, error) {
		cs := sys.Sim.Comments(repo, d.Number)
		return len(cs) == 1 && strings.Contains(cs[0].GetBody(), "not configured"), fmt.Sprint(len(cs), " comments"), nil
	})
	assert.NilError(t, sys.Sim.Redeliver(t.Context(), d.ID))
	p, err := sys.Sim.Push(t.Context(), repo, d.Number)
	assert.NilError(t, err)
	// The push is recorded (the pending record holds its head) before the comments are counted.
	record := preview.NamespaceName(repo, d.Number)
	wait(t, "push recorded", func() (bool, string, error) {
		cm, err := sys.Kube.CoreV1().ConfigMaps("catalyst-system").Get(t.Context(), record, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "no record yet", nil
		}
		if err != nil {
			return false, "", err
		}
		return cm.Annotations[preview.AnnotationHeadSHA] == p.HeadSHA, cm.Annotations[preview.AnnotationHeadSHA], nil
	})
	assert.Check(t, is.Len(sys.Sim.Comments(repo, d.Number), 1), "one notice after a redelivery and a push")
}

// 5h. An untrusted fork runs nothing until a collaborator comments /ok-to-test.
func TestScenarioUntrustedFork(t *testing.T) {
	scenario(t)
	const repo = "acme/fork"
	ctx := t.Context()
	sys.Sim.SetCollaborator(repo, "bob", "write")
	d := open(t, repo, ghsim.PROptions{Author: "mallory", AuthorAssociation: "FIRST_TIME_CONTRIBUTOR", Fork: true})
	ns := preview.NamespaceName(repo, d.Number)
	wait(t, "approval notice", func() (bool, string, error) {
		for _, c := range sys.Sim.Comments(repo, d.Number) {
			if strings.Contains(c.GetBody(), "/ok-to-test") {
				return true, "", nil
			}
		}
		return false, "no notice", nil
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
	scenario(t)
	const repo = "acme/queue" // concurrency: 1
	release := make(chan struct{})
	setPolicy(t, repo, holdUntil("build", release))
	var prs []ghsim.Delivery
	for range 3 {
		prs = append(prs, open(t, repo, ghsim.PROptions{}))
	}
	// One run holds the slot; the other two wait with positions 1 and 2.
	byPosition := map[string]ghsim.Delivery{}
	wait(t, "one running and two queued", func() (bool, string, error) {
		byPosition = map[string]ghsim.Delivery{}
		for _, d := range prs {
			pr, err := getRun(t.Context(), preview.NamespaceName(repo, d.Number), deployRun(d.HeadSHA, 1))
			switch {
			case err != nil:
				return false, "", err
			case pr == nil:
				return false, "a run is missing", nil
			case pr.Spec.Status == pipelinev1.PipelineRunSpecStatusPending:
				byPosition[pr.Annotations[preview.AnnotationQueuePosition]] = d
			default:
				byPosition["running"] = d
			}
		}
		_, one := byPosition["1"]
		_, two := byPosition["2"]
		_, running := byPosition["running"]
		return one && two && running, fmt.Sprint(len(byPosition), " states"), nil
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
