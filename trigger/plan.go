package trigger

import (
	"sort"
	"time"

	"github.com/catalyst-preview/catalyst/preview"
)

// runInfo is what planning needs to know of one PipelineRun of a PR namespace.
type runInfo struct {
	Name      string
	Kind      string // preview.KindDeploy | preview.KindCleanup
	SHA       string
	Attempt   int
	Cause     string // preview.CauseEvent | CauseRetest | CauseRetry
	Nonce     string // retest nonce this attempt answers
	Created   time.Time
	Finished  time.Time // zero while unfinished
	Done      bool
	Succeeded bool
	// SpecStatus is the requested state: "", PipelineRunPending, Cancelled, StoppedRunFinally, ...
	SpecStatus string
	// InGraceful: a graceful task (helm deploy) has started, so stopping must let it finish.
	InGraceful bool
	// Infrastructure: the run failed for a reason outside the user's code (eviction, image pull,
	// quota, unschedulable) and deserves an automatic new attempt.
	Infrastructure bool
	// Unsettled: a child TaskRun or CustomRun of a finished run is not finished in the cache
	// yet (the PipelineRun's event came first), so its failure cannot be classified yet.
	Unsettled bool
}

func (r runInfo) stopping() bool { return r.SpecStatus != "" && r.SpecStatus != specPending }

const specPending = "PipelineRunPending"

// observedPR is the namespace's record and its runs, as read from the informer caches.
type observedPR struct {
	Now             time.Time
	Head            string
	State           string // open | closed | merged
	Gate            string
	Teardown        bool // closed, or a gate that removes the environment
	RetestSHA       string
	RetestNonce     string
	CancelSHA       string
	Runs            []runInfo
	MaxAttempts     int
	RetryBaseDelay  time.Duration
	CleanupPipeline string
}

// runPlan is the set of writes that converge one PR namespace. Executing it twice is harmless:
// names are deterministic and the plan of the resulting state is empty.
type runPlan struct {
	Create          *newRun
	Stop            []stopRun
	CreateCleanup   bool
	DeleteNamespace bool
	RequeueAfter    time.Duration
	// MarkRetry records on a failed run when its automatic retry is due, for the reporter.
	MarkRetry *markRetry
}

type newRun struct {
	SHA     string
	Attempt int
	Cause   string
	Nonce   string
}

type stopRun struct {
	Name         string
	Graceful     bool // StoppedRunFinally: running tasks end, nothing new starts
	Reason       string
	SupersededBy string
}

type markRetry struct {
	Name string
	At   time.Time
}

// planRuns decides, from observed state only, which PipelineRuns to create or stop and whether
// the environment is to be torn down.
func planRuns(o observedPR) runPlan {
	var p runPlan
	deploys, cleanup := splitRuns(o.Runs)

	if o.Teardown {
		waiting := false
		for _, r := range deploys {
			if r.Done {
				continue
			}
			if !r.stopping() {
				p.Stop = append(p.Stop, stopRun{Name: r.Name, Graceful: r.InGraceful, Reason: preview.StopClosed})
			}
			// A helm upgrade that is finishing must not race the uninstall.
			if r.InGraceful {
				waiting = true
			}
		}
		switch {
		case waiting:
			p.RequeueAfter = 5 * time.Second
		case o.CleanupPipeline != "" && deployedOnce(deploys):
			switch {
			case cleanup == nil:
				p.CreateCleanup = true
			case cleanup.Done:
				p.DeleteNamespace = true
			}
		default:
			p.DeleteNamespace = true
		}
		return p
	}

	for _, r := range deploys {
		if r.Done || r.stopping() || r.SHA == o.Head {
			continue
		}
		p.Stop = append(p.Stop, stopRun{Name: r.Name, Graceful: r.InGraceful, Reason: preview.StopSuperseded, SupersededBy: o.Head})
	}

	head := runsFor(deploys, o.Head)
	latest := lastAttempt(head)

	if o.CancelSHA == o.Head {
		for _, r := range head {
			if !r.Done && !r.stopping() {
				p.Stop = append(p.Stop, stopRun{Name: r.Name, Graceful: r.InGraceful, Reason: preview.StopByUser})
			}
		}
		return p
	}
	if o.Gate != "" || o.Head == "" {
		return p
	}

	switch {
	case latest == nil:
		p.Create = &newRun{SHA: o.Head, Attempt: 1, Cause: preview.CauseEvent}
	case o.RetestSHA == o.Head && o.RetestNonce != "" && !answered(head, o.RetestNonce):
		if !latest.Done && !latest.stopping() {
			p.Stop = append(p.Stop, stopRun{Name: latest.Name, Graceful: latest.InGraceful, Reason: preview.StopSuperseded, SupersededBy: o.Head})
		}
		p.Create = &newRun{SHA: o.Head, Attempt: latest.Attempt + 1, Cause: preview.CauseRetest, Nonce: o.RetestNonce}
	case latest.Done && !latest.Succeeded && latest.Infrastructure && !latest.stopping():
		if attemptsSinceManual(head) >= o.MaxAttempts {
			break
		}
		due := latest.Finished.Add(backoff(o.RetryBaseDelay, retriesSoFar(head)))
		if o.Now.Before(due) {
			p.RequeueAfter = due.Sub(o.Now)
			p.MarkRetry = &markRetry{Name: latest.Name, At: due}
			break
		}
		p.Create = &newRun{SHA: o.Head, Attempt: latest.Attempt + 1, Cause: preview.CauseRetry}
	}
	return p
}

func splitRuns(runs []runInfo) (deploys []runInfo, cleanup *runInfo) {
	for i := range runs {
		switch runs[i].Kind {
		case preview.KindCleanup:
			cleanup = &runs[i]
		default:
			deploys = append(deploys, runs[i])
		}
	}
	return deploys, cleanup
}

// deployedOnce: a run reached its deploy task, so a helm release may exist to uninstall.
func deployedOnce(deploys []runInfo) bool {
	for _, r := range deploys {
		if r.InGraceful || r.Succeeded {
			return true
		}
	}
	return false
}

func runsFor(runs []runInfo, sha string) []runInfo {
	var out []runInfo
	for _, r := range runs {
		if r.SHA == sha {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Attempt < out[j].Attempt })
	return out
}

func lastAttempt(sorted []runInfo) *runInfo {
	if len(sorted) == 0 {
		return nil
	}
	return &sorted[len(sorted)-1]
}

func answered(runs []runInfo, nonce string) bool {
	for _, r := range runs {
		if r.Nonce == nonce {
			return true
		}
	}
	return false
}

// attemptsSinceManual counts the attempts since the last one a person asked for (the push or
// the last /retest): automatic retries are bounded per request, not per commit.
func attemptsSinceManual(sorted []runInfo) int {
	n := 0
	for i := len(sorted) - 1; i >= 0; i-- {
		n++
		if sorted[i].Cause != preview.CauseRetry {
			break
		}
	}
	return n
}

func retriesSoFar(sorted []runInfo) int { return attemptsSinceManual(sorted) - 1 }

// backoff doubles per automatic retry already made: base, 2×base, 4×base, ...
func backoff(base time.Duration, retries int) time.Duration {
	if retries < 0 {
		retries = 0
	}
	if retries > 10 {
		retries = 10
	}
	return base << retries
}
