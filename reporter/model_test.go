package reporter

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"knative.dev/pkg/apis"

	"github.com/catalyst-preview/catalyst/preview"

	"gotest.tools/v3/assert"
)

// fixture is one state of a PR namespace, for the model and the golden files.
type fixture struct {
	ns       []string // fragments over namespaceYAML
	run      []string // fragments over runYAML; nil: no run
	taskRuns map[string]string
	logs     string // the failed step's log, "" when unreadable
	// diagnostics are written as the failed task's diagnostics result, encoded as the step
	// encodes them.
	diagnostics []preview.Diagnostic
	// stepResult, when set, names the diagnostics result the real preview-step wrote in its
	// e2e test (step/testdata/diagnostics/NAME.json), used instead of diagnostics.
	stepResult    string
	forbidSecrets bool // reading secrets is Forbidden: the excerpt is withheld
	runRemoved    bool // the check run of a run deleted before it finished
}

var fixtures = map[string]fixture{
	"queued": {run: []string{runPending}},
	"running": {run: []string{runRunning}, taskRuns: map[string]string{
		"build": trSucceeded("31", "32"), "deploy": trRunning("32"),
	}},
	"succeeded": {run: []string{runSucceeded}, taskRuns: map[string]string{
		"build": trSucceeded("31", "32"), "deploy": trSucceeded("32", "33"), "healthcheck": trSucceeded("33", "33"),
	}},
	"failed-application": {run: []string{runFailed, classApplication}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`),
	}, logs: "Release \"preview\" does not exist. Installing it now.\nconnecting to postgres://shop:hunter2-db-password@db:5432/shop\nError: INSTALLATION FAILED: context deadline exceeded\n"},
	"failed-infrastructure-retrying": {run: []string{runFailed, classInfra}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-deploy", "PodEvicted", "The node was low on resource: memory."),
	}},
	"failed-unclassified-log-unreadable": {run: []string{runFailed}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-gone", "Failed", `"step-helm" exited with code 3: Error`),
	}},
	"failed-long-log": {run: []string{runFailed, classApplication}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`),
	}, logs: longLog()},
	"superseded": {ns: []string{`metadata: {annotations: {catalyst.dev/head-sha: ` + nextSHA + `}}`},
		run: []string{runRunning, supersededBy, `spec: {status: Cancelled}`}, taskRuns: map[string]string{"build": trRunning("31")}},
	"cancelled-pr-closed":  {run: []string{runCancelled, closedStop}, taskRuns: map[string]string{"build": trSucceeded("31", "31")}},
	"cancelled-on-request": {run: []string{runCancelled, userStop}, taskRuns: map[string]string{"build": trSucceeded("31", "31")}},
	"cancelled-by-hand":    {run: []string{runCancelled}, taskRuns: map[string]string{"build": trSucceeded("31", "31")}},
	"waiting-for-approval": {ns: []string{`metadata: {annotations: {catalyst.dev/gate: approval, catalyst.dev/comment-id: "7"}}`}},
	"removed":              {ns: []string{`metadata: {deletionTimestamp: "2026-11-28T12:40:00Z", finalizers: [catalyst.dev/report], annotations: {catalyst.dev/last-verdict: '{"phase":"succeeded","sha":"4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d","title":"preview ready","url":"https://1-shop.preview.example.com","at":"2026-11-28T12:33:10Z"}'}}`}},
	"run-removed":          {runRemoved: true},
	"failed-template": {run: []string{runFailed, classApplication}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`),
	}, logs: "Error: chart deploy/chart does not render\n", stepResult: "template"},
	"failed-values": {run: []string{runFailed, classApplication}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`),
	}, logs: "Error: values do not match the chart's schema\n", stepResult: "values"},
	"failed-manifest": {run: []string{runFailed, classApplication}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`),
	}, logs: "Error: Service/preview-webapp was refused by the API server: services \"preview-webapp\" is forbidden: exceeded quota: catalyst-quota\n", stepResult: "manifest"},
	"failed-health": {run: []string{runFailed, classApplication}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trSucceeded("31", "32"), "healthcheck": trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`),
	}, logs: "      | listening on :80\n      | GET /healthz 500 (12ms)\n      | panic: connect to postgres at db:5432: connection refused\n\nError: health check of http://17-shop.preview.example.com/healthz failed after 3s\n", stepResult: "health"},
	"failed-dependency": {run: []string{runFailed, classApplication}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`),
	}, logs: "Error: dependency common 1.x.x (file://../common) is not vendored under deploy/chart/charts/\n", stepResult: "dependency"},
	"failed-routing": {run: []string{runFailed, classApplication}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`),
	}, logs: "Error: no Ingress in namespace pr-shop-1 routes 1-shop.preview.example.com to a Service port (found: nothing)\n", stepResult: "routing"},
	"failed-rollout": {run: []string{runFailed, classApplication}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`),
	}, logs: "Error: Service preview-webapp has no load balancer address (type LoadBalancer: no load balancer controller has assigned one)\n", stepResult: "rollout"},
	"failed-config": {run: []string{runFailed, classApplication}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`),
	}, logs: "Error: chart deploy/nochart not found in the repository at this commit\n", stepResult: "config"},
	"failed-log-withheld": {run: []string{runFailed, classApplication}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-deploy", "Failed", `"step-helm" exited with code 3: Error`),
	}, logs: "token ghs_SECRETTOKEN123\n", forbidSecrets: true, stepResult: "template"},
	"failed-hostile": {run: []string{runFailed, classApplication}, taskRuns: map[string]string{
		"build": trSucceeded("31", "31"), "deploy": trFailed("pod-deploy", "Failed", "@octocat <img src=x onerror=alert(1)> [click](https://evil.example) #1 ` | |"),
	}, logs: "\x1b[31m@octocat\x1b[0m see https://evil.example/x\n```\n</details>\n# heading\n", diagnostics: []preview.Diagnostic{
		{Kind: preview.DiagnosticTemplate, Path: "charts/app/templates/x.yaml", Line: 3, Message: "@admin <b>bold</b> ](javascript:alert(1)) | ``` "},
		{Kind: preview.DiagnosticManifest, Path: "../../etc/passwd", Message: "escaping path"},
	}},
}

// stepDiagnostics are hand-written, two per kind (one with a via location), for what the real
// results in step/testdata/diagnostics (one finding each) do not show: several findings at once.
var stepDiagnostics = map[string][]preview.Diagnostic{
	preview.DiagnosticTemplate: {
		{Kind: preview.DiagnosticTemplate, Path: "charts/example-app/templates/deployment.yaml", Line: 24,
			Message: `executing "example-app/templates/deployment.yaml" at <.Values.nothing.port>: nil pointer evaluating interface {}.port`},
		{Kind: preview.DiagnosticTemplate, Path: "charts/example-app/templates/ingress.yaml", Line: 7,
			Message: `function "nosuchfunc" not defined`, Via: &preview.Location{Path: "charts/example-app/templates/_helpers.tpl", Line: 12}},
	},
	preview.DiagnosticValues: {
		{Kind: preview.DiagnosticValues, Path: "deploy/preview.yaml", Line: 3,
			Message: "values do not match charts/example-app/values.schema.json: at '/replicaCount': got string, want integer"},
		{Kind: preview.DiagnosticValues, Path: "deploy/preview.yaml", Line: 1,
			Message: "values do not match charts/example-app/values.schema.json: at '': additional properties 'replicas' not allowed"},
	},
	preview.DiagnosticManifest: {
		{Kind: preview.DiagnosticManifest, Path: "charts/example-app/templates/config.yaml",
			Message: "rendered output is not valid YAML (line 7 of the rendered output): yaml: line 7: mapping values are not allowed in this context"},
	},
	preview.DiagnosticHealth: {
		{Kind: preview.DiagnosticRollout, Message: "Deployment/preview-web: 0/2 available (ImagePullBackOff)"},
		{Kind: preview.DiagnosticHealth, Message: "GET https://1-shop.preview.example.com/healthz: 503 Service Unavailable after 30 attempts"},
	},
}

// readStepResult is a diagnostics result the real preview-step wrote (go test ./cmd/preview-step
// -run TestE2EDiagnosticsResults -update records them), checked to decode as the reporter will.
func readStepResult(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "step", "testdata", "diagnostics", name+".json"))
	assert.NilError(t, err)
	ds, err := preview.DecodeDiagnostics(string(data))
	assert.NilError(t, err)
	assert.Assert(t, len(ds) > 0, "%s.json has no diagnostics", name)
	return string(data)
}

// longLog is far more than GitHub takes, even its last 40 lines: 100 lines of 2000 bytes, the
// secret in the last one.
func longLog() string {
	line := make([]byte, 2000)
	for i := range line {
		line[i] = 'x'
	}
	var s string
	for i := range 100 {
		s += time.Duration(i).String() + " " + string(line) + "\n"
	}
	return s + "fatal: token ghs_SECRETTOKEN123 rejected\n"
}

// report builds the fixture's report as Reconcile does, excerpt included.
func (f fixture) report(t testing.TB) Report {
	t.Helper()
	ns := namespace(t, 42, f.ns...)
	rec, ok := recordOf(ns)
	assert.Assert(t, ok)
	switch {
	case f.runRemoved:
		r := removedReport(rec, testSHA, stopRunRemoved)
		r.At = fixtureNow
		return r
	case rec.Terminating != nil:
		return prReport(rec, PhaseRemoved, fixtureNow)
	case f.run == nil:
		return prReport(rec, PhaseWaiting, fixtureNow)
	}
	run := pipelineRun(t, f.run...)
	var children []child
	for task, state := range f.taskRuns {
		tr := taskRun(t, task, state)
		if (f.diagnostics != nil || f.stepResult != "") && tr.Status.GetCondition(apis.ConditionSucceeded).IsFalse() {
			encoded, err := preview.EncodeDiagnostics(f.diagnostics)
			assert.NilError(t, err)
			if f.stepResult != "" {
				encoded = readStepResult(t, f.stepResult)
			}
			tr.Status.Results = append(tr.Status.Results, pipelinev1.TaskRunResult{Name: preview.ResultDiagnostics,
				Type: pipelinev1.ResultsTypeString, Value: *pipelinev1.NewStructuredValues(encoded)})
		}
		children = append(children, childOfTaskRun(tr))
	}
	r := buildReport(rec, run, children, testConfig(t).GitHub.DetailsURL, fixtureNow)
	logs := &fakeLogs{}
	if f.logs != "" {
		logs.set("pod-deploy", "step-helm", f.logs)
	}
	c := newTestController(t, logs, secret("shop-db", map[string]string{"password": "hunter2-db-password"}),
		secret("catalyst-git-token", map[string]string{"token": "ghs_SECRETTOKEN123"}))
	if f.forbidSecrets {
		c.Kube.(*kubefake.Clientset).PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(corev1.Resource("secrets"), "shop-db", errors.New("RBAC: access denied"))
		})
	}
	c.attachExcerpt(t.Context(), &r)
	return r
}

func TestBuildReport(t *testing.T) {
	retry := time.Date(2026, 11, 28, 12, 33, 30, 0, time.UTC)
	tests := map[string]struct {
		phase                        Phase
		current, failedTask, step    string
		class, stopReason, supersede string
		retryAt                      time.Time
		url                          string
		tasks                        []string // status per task, in pipeline order
		started, finished            string
	}{
		"queued":  {phase: PhaseQueued, tasks: []string{"pending", "pending", "pending"}},
		"running": {phase: PhaseRunning, current: "deploy", tasks: []string{"succeeded", "running", "pending"}, started: "12:31:00"},
		"succeeded": {phase: PhaseSucceeded, url: "https://1-shop.preview.example.com",
			tasks: []string{"succeeded", "succeeded", "succeeded"}, started: "12:31:00", finished: "12:33:10"},
		"failed-application": {phase: PhaseFailed, failedTask: "deploy", step: "helm", class: "application",
			tasks: []string{"succeeded", "failed", "skipped"}, started: "12:31:00", finished: "12:32:30"},
		"failed-infrastructure-retrying": {phase: PhaseFailed, failedTask: "deploy", step: "helm", class: "infrastructure", retryAt: retry,
			tasks: []string{"succeeded", "failed", "skipped"}, started: "12:31:00", finished: "12:32:30"},
		"superseded": {phase: PhaseSuperseded, stopReason: "superseded", supersede: nextSHA,
			tasks: []string{"cancelled", "cancelled", "cancelled"}, started: "12:31:00"},
		"cancelled-pr-closed": {phase: PhaseCancelled, stopReason: "closed",
			tasks: []string{"succeeded", "cancelled", "cancelled"}, started: "12:31:00", finished: "12:31:40"},
		"cancelled-by-hand":    {phase: PhaseCancelled, tasks: []string{"succeeded", "cancelled", "cancelled"}, started: "12:31:00", finished: "12:31:40"},
		"waiting-for-approval": {phase: PhaseWaiting},
		"removed":              {phase: PhaseRemoved},
	}
	at := func(s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		t, _ := time.Parse(time.DateTime, "2026-11-28 "+s)
		return t
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := fixtures[name].report(t)
			assert.Equal(t, r.Phase, tc.phase)
			assert.Equal(t, r.CurrentTask, tc.current)
			assert.Equal(t, r.FailedTask, tc.failedTask)
			assert.Equal(t, r.FailedStep, tc.step)
			assert.Equal(t, r.FailureClass, tc.class)
			assert.Equal(t, r.StopReason, tc.stopReason)
			assert.Equal(t, r.SupersededBy, tc.supersede)
			assert.Equal(t, r.RetryAt, tc.retryAt)
			assert.Equal(t, r.Started, at(tc.started))
			assert.Equal(t, r.Finished, at(tc.finished))
			if tc.url != "" {
				assert.Equal(t, r.PreviewURL, tc.url)
			}
			var got []string
			for _, row := range r.Tasks {
				got = append(got, row.Status)
			}
			assert.DeepEqual(t, got, tc.tasks)
		})
	}
}

func TestFingerprintSeparatesStateFromProgress(t *testing.T) {
	const interval = 30 * time.Second
	fp := func(r Report, surface string) string { return fingerprint(r, surface, interval) }
	running := fixtures["running"].report(t)
	later := running
	later.At = later.At.Add(10 * time.Second)
	assert.Equal(t, fp(running, surfaceCheckRun), fp(later, surfaceCheckRun), "within an interval nothing moves")
	later.CurrentTask = "healthcheck"
	assert.Assert(t, fp(running, surfaceCheckRun) != fp(later, surfaceCheckRun), "a new task is progress")
	assert.Equal(t, stateOfEntry(fp(running, surfaceCheckRun)), stateOfEntry(fp(later, surfaceCheckRun)), "but not a new state")
	later = running
	later.At = later.At.Add(interval)
	assert.Equal(t, stateOfEntry(fp(running, surfaceCheckRun)), stateOfEntry(fp(later, surfaceCheckRun)))
	assert.Assert(t, fp(running, surfaceCheckRun) != fp(later, surfaceCheckRun), "elapsed time moves in steps of the interval")

	queued := fixtures["queued"].report(t) // position 3
	for pos, same := range map[int]bool{2: true, 5: true, 1: false, 9: false} {
		moved := queued
		moved.QueuePosition = pos
		assert.Equal(t, fp(queued, surfaceCheckRun), fp(moved, surfaceCheckRun), "queue moves do not touch the check run")
		assert.Equal(t, fp(queued, surfaceComment) == fp(moved, surfaceComment), same, "comment at position %d", pos)
		assert.Equal(t, stateOfEntry(fp(queued, surfaceComment)), stateOfEntry(fp(moved, surfaceComment)), "a move is progress")
	}
	unknown := queued
	unknown.QueuePosition = 0
	assert.Assert(t, stateOfEntry(fp(queued, surfaceComment)) != stateOfEntry(fp(unknown, surfaceComment)), "learning the position is news")

	for _, other := range []string{"queued", "succeeded", "failed-application", "superseded"} {
		assert.Assert(t, stateOfEntry(fp(running, surfaceComment)) != stateOfEntry(fp(fixtures[other].report(t), surfaceComment)), other)
	}
	failed := fixtures["failed-application"].report(t)
	retried := failed
	retried.RetryAt = time.Now()
	assert.Assert(t, stateOfEntry(fp(failed, surfaceCheckRun)) != stateOfEntry(fp(retried, surfaceCheckRun)), "a scheduled retry is news")
	assert.Assert(t, fp(failed, surfaceCheckRun) != fp(failed, surfaceComment), "surfaces have their own entries")
	assert.Equal(t, phaseOfEntry(fp(failed, surfaceComment)), PhaseFailed)
	renamed := failed
	renamed.CheckRunName = CheckRunName + " (#2)"
	assert.Assert(t, stateOfEntry(fp(failed, surfaceCheckRun)) != stateOfEntry(fp(renamed, surfaceCheckRun)), "a new name is sent")
}

func TestDue(t *testing.T) {
	now := fixtureNow
	tests := map[string]struct {
		recorded, entry string
		lastAt          time.Time
		want            writeKind
		wait            time.Duration
	}{
		"unchanged":                {recorded: "running/a/x", entry: "running/a/x", lastAt: now.Add(-time.Hour)},
		"never written":            {entry: "queued/a/-", want: writeState},
		"new state":                {recorded: "queued/a/-", entry: "running/b/x", lastAt: now, want: writeState},
		"progress, interval over":  {recorded: "running/a/x", entry: "running/a/y", lastAt: now.Add(-31 * time.Second), want: writeProgress},
		"progress, too soon":       {recorded: "running/a/x", entry: "running/a/y", lastAt: now.Add(-10 * time.Second), wait: 20 * time.Second},
		"old two-part entry":       {recorded: "running/0123456789abcdef", entry: "running/a/y", lastAt: now, want: writeState},
		"same state, other phase?": {recorded: "failed/a/-", entry: "failed/b/-", lastAt: now, want: writeState},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kind, wait := due(tc.recorded, tc.entry, tc.lastAt, now, 30*time.Second)
			assert.Equal(t, kind, tc.want)
			assert.Equal(t, wait, tc.wait)
		})
	}
}

func TestClassifyWait(t *testing.T) {
	finished := time.Date(2026, 11, 28, 12, 32, 30, 0, time.UTC)
	tests := map[string]struct {
		r    Report
		now  time.Time
		want time.Duration
	}{
		"succeeded":                       {r: Report{Phase: PhaseSucceeded, Finished: finished}, now: finished},
		"running":                         {r: Report{Phase: PhaseRunning}, now: finished},
		"queued is never held":            {r: Report{Phase: PhaseQueued, Queued: finished}, now: finished},
		"unclassified, just finished":     {r: Report{Phase: PhaseFailed, Finished: finished}, now: finished.Add(time.Second), want: 4 * time.Second},
		"unclassified, window over":       {r: Report{Phase: PhaseFailed, Finished: finished}, now: finished.Add(6 * time.Second)},
		"application":                     {r: Report{Phase: PhaseFailed, FailureClass: "application", Finished: finished}, now: finished},
		"infrastructure, retry not known": {r: Report{Phase: PhaseFailed, FailureClass: "infrastructure", Finished: finished}, now: finished, want: 5 * time.Second},
		"infrastructure, retry scheduled": {r: Report{Phase: PhaseFailed, FailureClass: "infrastructure", RetryAt: finished.Add(time.Minute), Finished: finished}, now: finished},
		"failed, no completion time":      {r: Report{Phase: PhaseFailed}, now: finished},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, classifyWait(tc.r, 5*time.Second, tc.now), tc.want)
		})
	}
}
