package trigger

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/catalyst-preview/catalyst/preview"
)

func TestPlanRuns(t *testing.T) {
	t0 := testNow.Add(-time.Hour)
	building := func(sha string, attempt int) runInfo {
		return runInfo{Name: preview.PipelineRunName(preview.KindDeploy, sha, attempt), Kind: preview.KindDeploy, SHA: sha, Attempt: attempt, Cause: preview.CauseEvent, Created: t0}
	}
	deploying := func(sha string, attempt int) runInfo {
		r := building(sha, attempt)
		r.InGraceful = true
		return r
	}
	failed := func(r runInfo, infra bool) runInfo {
		r.Done, r.Infrastructure, r.Finished = true, infra, testNow.Add(-time.Second)
		return r
	}
	succeeded := func(r runInfo) runInfo {
		r.Done, r.Succeeded, r.Finished = true, true, testNow.Add(-time.Minute)
		return r
	}
	cause := func(r runInfo, c, nonce string) runInfo { r.Cause, r.Nonce = c, nonce; return r }
	open := func(head string, runs ...runInfo) observedPR {
		return observedPR{Now: testNow, Head: head, State: "open", Runs: runs, MaxAttempts: 3, RetryBaseDelay: 30 * time.Second, CleanupPipeline: "catalyst-cleanup"}
	}
	with := func(o observedPR, f func(*observedPR)) observedPR { f(&o); return o }

	tests := map[string]struct {
		observed observedPR
		want     runPlan
	}{
		"first open creates attempt 1": {
			observed: open(sha1),
			want:     runPlan{Create: &newRun{SHA: sha1, Attempt: 1, Cause: preview.CauseEvent}},
		},
		"redelivery of the same SHA creates nothing": {
			observed: open(sha1, building(sha1, 1)),
			want:     runPlan{},
		},
		"redelivery after success creates nothing": {
			observed: open(sha1, succeeded(building(sha1, 1))),
			want:     runPlan{},
		},
		"new SHA while building cancels the old run": {
			observed: open(sha2, building(sha1, 1)),
			want: runPlan{
				Stop:   []stopRun{{Name: "deploy-4f1c2d3e5a6b-1", Reason: preview.StopSuperseded, SupersededBy: sha2}},
				Create: &newRun{SHA: sha2, Attempt: 1, Cause: preview.CauseEvent},
			},
		},
		"new SHA while deploying stops gracefully": {
			observed: open(sha2, deploying(sha1, 1)),
			want: runPlan{
				Stop:   []stopRun{{Name: "deploy-4f1c2d3e5a6b-1", Graceful: true, Reason: preview.StopSuperseded, SupersededBy: sha2}},
				Create: &newRun{SHA: sha2, Attempt: 1, Cause: preview.CauseEvent},
			},
		},
		"a run already being stopped is not stopped again": {
			observed: open(sha2, with1(building(sha1, 1), func(r *runInfo) { r.SpecStatus = "Cancelled" }), building(sha2, 1)),
			want:     runPlan{},
		},
		"out-of-order synchronize: the recorded head is the newer SHA, so nothing regresses": {
			// The store refused the stale delivery; the record still says sha2.
			observed: open(sha2, building(sha2, 1)),
			want:     runPlan{},
		},
		"close while running stops the run and waits for the graceful stop before cleanup": {
			observed: with(open(sha1, deploying(sha1, 1)), func(o *observedPR) { o.State, o.Teardown, o.Gate = "closed", true, preview.GateClosed }),
			want: runPlan{
				Stop:         []stopRun{{Name: "deploy-4f1c2d3e5a6b-1", Graceful: true, Reason: preview.StopClosed}},
				RequeueAfter: 5 * time.Second,
			},
		},
		"close while building cancels and deletes at once (no release yet)": {
			observed: with(open(sha1, building(sha1, 1)), func(o *observedPR) { o.State, o.Teardown = "closed", true }),
			want: runPlan{
				Stop:            []stopRun{{Name: "deploy-4f1c2d3e5a6b-1", Reason: preview.StopClosed}},
				DeleteNamespace: true,
			},
		},
		"close after a deploy starts the cleanup pipeline": {
			observed: with(open(sha1, succeeded(deploying(sha1, 1))), func(o *observedPR) { o.State, o.Teardown = "merged", true }),
			want:     runPlan{CreateCleanup: true},
		},
		"close waits for a running cleanup": {
			observed: with(open(sha1, succeeded(deploying(sha1, 1)), runInfo{Name: "cleanup-4f1c2d3e5a6b", Kind: preview.KindCleanup, SHA: sha1}), func(o *observedPR) { o.State, o.Teardown = "closed", true }),
			want:     runPlan{},
		},
		"close deletes the namespace once cleanup finished, even failed": {
			observed: with(open(sha1, succeeded(deploying(sha1, 1)), runInfo{Name: "cleanup-4f1c2d3e5a6b", Kind: preview.KindCleanup, SHA: sha1, Done: true}), func(o *observedPR) { o.State, o.Teardown = "closed", true }),
			want:     runPlan{DeleteNamespace: true},
		},
		"close without cleanup pipeline deletes at once": {
			observed: with(open(sha1, succeeded(deploying(sha1, 1))), func(o *observedPR) { o.State, o.Teardown, o.CleanupPipeline = "closed", true, "" }),
			want:     runPlan{DeleteNamespace: true},
		},
		"draft deploys nothing new": {
			observed: with(open(sha2, succeeded(building(sha1, 1))), func(o *observedPR) { o.Gate = preview.GateDraft }),
			want:     runPlan{},
		},
		"draft still stops superseded runs": {
			observed: with(open(sha2, building(sha1, 1)), func(o *observedPR) { o.Gate = preview.GateDraft }),
			want:     runPlan{Stop: []stopRun{{Name: "deploy-4f1c2d3e5a6b-1", Reason: preview.StopSuperseded, SupersededBy: sha2}}},
		},
		"label mode without the label tears down": {
			observed: with(open(sha1, succeeded(deploying(sha1, 1))), func(o *observedPR) { o.Gate, o.Teardown = preview.GateLabel, true }),
			want:     runPlan{CreateCleanup: true},
		},
		"untrusted author before /ok-to-test: nothing runs": {
			observed: with(open(sha1), func(o *observedPR) { o.Gate = preview.GateApproval }),
			want:     runPlan{},
		},
		"untrusted author after /ok-to-test: attempt 1": {
			observed: open(sha1),
			want:     runPlan{Create: &newRun{SHA: sha1, Attempt: 1, Cause: preview.CauseEvent}},
		},
		"/retest after an application failure makes a new attempt": {
			observed: with(open(sha1, failed(building(sha1, 1), false)), func(o *observedPR) { o.RetestSHA, o.RetestNonce = sha1, "d9" }),
			want:     runPlan{Create: &newRun{SHA: sha1, Attempt: 2, Cause: preview.CauseRetest, Nonce: "d9"}},
		},
		"/retest already answered does nothing": {
			observed: with(open(sha1, failed(building(sha1, 1), false), cause(succeeded(building(sha1, 2)), preview.CauseRetest, "d9")), func(o *observedPR) { o.RetestSHA, o.RetestNonce = sha1, "d9" }),
			want:     runPlan{},
		},
		"/retest while running replaces the run": {
			observed: with(open(sha1, building(sha1, 1)), func(o *observedPR) { o.RetestSHA, o.RetestNonce = sha1, "d9" }),
			want: runPlan{
				Stop:   []stopRun{{Name: "deploy-4f1c2d3e5a6b-1", Reason: preview.StopSuperseded, SupersededBy: sha1}},
				Create: &newRun{SHA: sha1, Attempt: 2, Cause: preview.CauseRetest, Nonce: "d9"},
			},
		},
		"/retest for an older SHA does nothing": {
			observed: with(open(sha2, failed(building(sha2, 1), false)), func(o *observedPR) { o.RetestSHA, o.RetestNonce = sha1, "d9" }),
			want:     runPlan{},
		},
		"application failure waits for a person": {
			observed: open(sha1, failed(building(sha1, 1), false)),
			want:     runPlan{},
		},
		"infrastructure failure is retried after the backoff": {
			observed: with(open(sha1, failed(building(sha1, 1), true)), func(o *observedPR) { o.Now = testNow.Add(time.Minute) }),
			want:     runPlan{Create: &newRun{SHA: sha1, Attempt: 2, Cause: preview.CauseRetry}},
		},
		"infrastructure failure before the backoff requeues": {
			observed: open(sha1, failed(building(sha1, 1), true)),
			want:     runPlan{RequeueAfter: 29 * time.Second, MarkRetry: &markRetry{Name: "deploy-4f1c2d3e5a6b-1", At: testNow.Add(29 * time.Second)}},
		},
		"second retry waits twice as long": {
			observed: open(sha1, failed(building(sha1, 1), true), failed(cause(building(sha1, 2), preview.CauseRetry, ""), true)),
			want:     runPlan{RequeueAfter: 59 * time.Second, MarkRetry: &markRetry{Name: "deploy-4f1c2d3e5a6b-2", At: testNow.Add(59 * time.Second)}},
		},
		"third infrastructure failure is final": {
			observed: with(open(sha1, failed(building(sha1, 1), true), failed(cause(building(sha1, 2), preview.CauseRetry, ""), true), failed(cause(building(sha1, 3), preview.CauseRetry, ""), true)), func(o *observedPR) { o.Now = testNow.Add(time.Hour) }),
			want:     runPlan{},
		},
		"/retest resets the automatic retry budget": {
			observed: with(open(sha1, failed(building(sha1, 1), true), failed(cause(building(sha1, 2), preview.CauseRetry, ""), true), failed(cause(building(sha1, 3), preview.CauseRetry, ""), true), failed(cause(building(sha1, 4), preview.CauseRetest, "d9"), true)), func(o *observedPR) { o.Now = testNow.Add(time.Hour) }),
			want:     runPlan{Create: &newRun{SHA: sha1, Attempt: 5, Cause: preview.CauseRetry}},
		},
		"/cancel stops the head's run and creates nothing": {
			observed: with(open(sha1, deploying(sha1, 1)), func(o *observedPR) { o.CancelSHA = sha1 }),
			want:     runPlan{Stop: []stopRun{{Name: "deploy-4f1c2d3e5a6b-1", Graceful: true, Reason: preview.StopByUser}}},
		},
		"/cancel of an older SHA does not hold back the new head": {
			observed: with(open(sha2), func(o *observedPR) { o.CancelSHA = sha1 }),
			want:     runPlan{Create: &newRun{SHA: sha2, Attempt: 1, Cause: preview.CauseEvent}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := planRuns(tc.observed)
			assert.DeepEqual(t, got, tc.want)
			// Level-triggered: planning the same observation twice gives the same writes.
			assert.DeepEqual(t, planRuns(tc.observed), got)
		})
	}
}

func with1(r runInfo, f func(*runInfo)) runInfo { f(&r); return r }

func TestPlanQueue(t *testing.T) {
	at := func(s int) time.Time { return testNow.Add(time.Duration(s) * time.Second) }
	run := func(ns, repo string, s int, running bool) queuedRun {
		return queuedRun{Namespace: ns, Name: "deploy-x-1", Repo: repo, Queued: at(s), Running: running, Pending: !running}
	}
	perRepo := func(n int) func(string) int { return func(string) int { return n } }
	tests := map[string]struct {
		runs      []queuedRun
		limits    limits
		start     []string
		positions map[string]int
	}{
		"free slots start the oldest first": {
			runs:      []queuedRun{run("pr-b-2", "acme.b", 2, false), run("pr-a-1", "acme.a", 1, false), run("pr-c-3", "acme.c", 3, false)},
			limits:    limits{Global: 2},
			start:     []string{"pr-a-1", "pr-b-2"},
			positions: map[string]int{"pr-c-3/deploy-x-1": 1},
		},
		"queue full: nothing starts, positions in arrival order": {
			runs:      []queuedRun{run("pr-r-1", "acme.r", 0, true), run("pr-b-2", "acme.b", 2, false), run("pr-a-1", "acme.a", 1, false)},
			limits:    limits{Global: 1},
			positions: map[string]int{"pr-a-1/deploy-x-1": 1, "pr-b-2/deploy-x-1": 2},
		},
		"a repository at its limit does not block others": {
			runs:      []queuedRun{run("pr-a-1", "acme.a", 0, true), run("pr-a-2", "acme.a", 1, false), run("pr-b-1", "acme.b", 2, false)},
			limits:    limits{Global: 5, PerRepo: perRepo(1)},
			start:     []string{"pr-b-1"},
			positions: map[string]int{"pr-a-2/deploy-x-1": 1},
		},
		"unchanged positions are not rewritten": {
			runs:   []queuedRun{run("pr-r-1", "acme.r", 0, true), func() queuedRun { r := run("pr-a-1", "acme.a", 1, false); r.Position = 1; return r }()},
			limits: limits{Global: 1},
		},
		"unlimited": {
			runs:   []queuedRun{run("pr-a-1", "acme.a", 1, false), run("pr-b-1", "acme.b", 2, false)},
			start:  []string{"pr-a-1", "pr-b-1"},
			limits: limits{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := planQueue(tc.runs, tc.limits)
			var started []string
			for _, r := range p.Start {
				started = append(started, r.Namespace)
			}
			assert.DeepEqual(t, started, tc.start)
			want := tc.positions
			if want == nil {
				want = map[string]int{}
			}
			assert.DeepEqual(t, p.Positions, want)
		})
	}
}

func TestSlotsCountRecentStartsTheCacheHasNotSeen(t *testing.T) {
	s := newSlots()
	l := limits{Global: 2}
	assert.Assert(t, s.admit(nil, l, "ns1/r", "acme.a", testNow))
	assert.Assert(t, s.admit(nil, l, "ns2/r", "acme.b", testNow), "second slot free")
	assert.Assert(t, !s.admit(nil, l, "ns3/r", "acme.c", testNow), "the cache is empty, but two runs were just started")
	// The cache catches up and one run finishes: one slot is free again.
	cached := []queuedRun{{Namespace: "ns1", Name: "r", Running: true}, {Namespace: "ns2", Name: "r"}}
	assert.Assert(t, s.admit(cached, l, "ns3/r", "acme.c", testNow))
	// A new run never overtakes a queued one.
	cached = append(cached, queuedRun{Namespace: "ns4", Name: "r", Pending: true})
	assert.Assert(t, !s.admit(cached, limits{}, "ns5/r", "acme.e", testNow))
	// Recent starts expire so that a start that never showed up does not hold a slot forever.
	assert.Assert(t, s.admit([]queuedRun{{Namespace: "ns1", Name: "r", Running: true}}, l, "ns6/r", "acme.f", testNow.Add(2*recentStartTTL)))
}
