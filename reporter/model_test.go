package reporter

import (
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
)

// fixture is one state of a PR namespace, for the model and the golden files.
type fixture struct {
	ns       []string // fragments over namespaceYAML
	run      []string // fragments over runYAML; nil: no run
	taskRuns map[string]string
	logs     string // the failed step's log, "" when unreadable
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
	"removed":              {ns: []string{`metadata: {deletionTimestamp: "2026-11-28T12:40:00Z", finalizers: [catalyst.dev/report]}`}},
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
func (f fixture) report(t *testing.T) Report {
	t.Helper()
	ns := namespace(t, 42, f.ns...)
	rec, ok := recordOf(ns)
	assert.Assert(t, ok)
	switch {
	case rec.Terminating != nil:
		return prReport(rec, PhaseRemoved, fixtureNow)
	case f.run == nil:
		return prReport(rec, PhaseWaiting, fixtureNow)
	}
	run := pipelineRun(t, f.run...)
	var trs []*pipelinev1.TaskRun
	for task, state := range f.taskRuns {
		trs = append(trs, taskRun(t, task, state))
	}
	r := buildReport(rec, run, trs, testConfig(t).GitHub.DetailsURL, fixtureNow)
	logs := &fakeLogs{}
	if f.logs != "" {
		logs.set("pod-deploy", "step-helm", f.logs)
	}
	c := newTestController(t, logs, secret("shop-db", map[string]string{"password": "hunter2-db-password"}),
		secret("catalyst-git-token", map[string]string{"token": "ghs_SECRETTOKEN123"}))
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
		"superseded": {phase: PhaseSuperseded, current: "build", stopReason: "superseded", supersede: nextSHA,
			tasks: []string{"running", "cancelled", "cancelled"}, started: "12:31:00"},
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

func TestFingerprintCoversPhasesNotProgress(t *testing.T) {
	running := fixtures["running"].report(t)
	later := running
	later.CurrentTask, later.Tasks = "healthcheck", nil
	later.At = later.At.Add(time.Minute)
	assert.Equal(t, fingerprint(running, surfaceCheckRun), fingerprint(later, surfaceCheckRun), "task progress is not a new report")

	queued := fixtures["queued"].report(t)
	moved := queued
	moved.QueuePosition = 1
	assert.Equal(t, fingerprint(queued, surfaceCheckRun), fingerprint(moved, surfaceCheckRun), "queue moves do not touch the check run")
	assert.Assert(t, fingerprint(queued, surfaceComment) != fingerprint(moved, surfaceComment), "the comment follows the queue position")

	for _, other := range []string{"queued", "succeeded", "failed-application", "superseded"} {
		assert.Assert(t, fingerprint(running, surfaceComment) != fingerprint(fixtures[other].report(t), surfaceComment), other)
	}
	failed := fixtures["failed-application"].report(t)
	retried := failed
	retried.RetryAt = time.Now()
	assert.Assert(t, fingerprint(failed, surfaceCheckRun) != fingerprint(retried, surfaceCheckRun), "a scheduled retry is news")
	assert.Assert(t, fingerprint(failed, surfaceCheckRun) != fingerprint(failed, surfaceComment), "surfaces have their own entries")
	assert.Equal(t, phaseOfEntry(fingerprint(failed, surfaceComment)), PhaseFailed)
}

func TestSettleWait(t *testing.T) {
	finished := time.Date(2026, 11, 28, 12, 32, 30, 0, time.UTC)
	tests := map[string]struct {
		r    Report
		now  time.Time
		want time.Duration
	}{
		"succeeded":                        {r: Report{Phase: PhaseSucceeded, Finished: finished}, now: finished},
		"running":                          {r: Report{Phase: PhaseRunning}, now: finished},
		"unclassified, just finished":      {r: Report{Phase: PhaseFailed, Finished: finished}, now: finished.Add(time.Second), want: 9 * time.Second},
		"unclassified, window over":        {r: Report{Phase: PhaseFailed, Finished: finished}, now: finished.Add(11 * time.Second)},
		"application":                      {r: Report{Phase: PhaseFailed, FailureClass: "application", Finished: finished}, now: finished},
		"infrastructure, retry not known":  {r: Report{Phase: PhaseFailed, FailureClass: "infrastructure", Finished: finished}, now: finished, want: 10 * time.Second},
		"infrastructure, retry scheduled":  {r: Report{Phase: PhaseFailed, FailureClass: "infrastructure", RetryAt: finished.Add(time.Minute), Finished: finished}, now: finished},
		"failed, no completion time":       {r: Report{Phase: PhaseFailed}, now: finished},
		"queued, no position yet":          {r: Report{Phase: PhaseQueued, Queued: finished}, now: finished.Add(2 * time.Second), want: 8 * time.Second},
		"queued, no position, window over": {r: Report{Phase: PhaseQueued, Queued: finished}, now: finished.Add(time.Minute)},
		"queued with a position":           {r: Report{Phase: PhaseQueued, Queued: finished, QueuePosition: 2}, now: finished},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, settleWait(tc.r, 10*time.Second, tc.now), tc.want)
		})
	}
}
