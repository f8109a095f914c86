package trigger

import (
	"sort"
	"sync"
	"time"
)

// queuedRun is a deploy PipelineRun as the global queue sees it.
type queuedRun struct {
	Namespace string
	Name      string
	Repo      string
	Queued    time.Time // creation time: first in, first out
	Running   bool      // started and not finished
	Pending   bool      // PipelineRunPending and not finished
	Position  int       // queue position currently written on the run (0: none)
}

// limits are the concurrency limits: 0 means unlimited.
type limits struct {
	Global  int
	PerRepo func(repo string) int
}

// queuePlan starts the oldest pending runs that fit and renumbers the rest.
type queuePlan struct {
	Start     []queuedRun
	Positions map[string]int // namespace/name -> new position, only where it changed
	Pending   int
	Running   int
}

// planQueue is first-in first-out with one exception: a run whose repository is at its own
// limit does not block runs of other repositories behind it (it keeps its place).
func planQueue(runs []queuedRun, l limits) queuePlan {
	running := 0
	perRepo := map[string]int{}
	var pending []queuedRun
	for _, r := range runs {
		switch {
		case r.Running:
			running++
			perRepo[r.Repo]++
		case r.Pending:
			pending = append(pending, r)
		}
	}
	sort.SliceStable(pending, func(i, j int) bool {
		if !pending[i].Queued.Equal(pending[j].Queued) {
			return pending[i].Queued.Before(pending[j].Queued)
		}
		return pending[i].Namespace+"/"+pending[i].Name < pending[j].Namespace+"/"+pending[j].Name
	})
	plan := queuePlan{Positions: map[string]int{}}
	position := 0
	for _, r := range pending {
		if fits(l, running, perRepo[r.Repo], r.Repo) {
			plan.Start = append(plan.Start, r)
			running++
			perRepo[r.Repo]++
			continue
		}
		position++
		if r.Position != position {
			plan.Positions[r.Namespace+"/"+r.Name] = position
		}
	}
	plan.Pending = position
	plan.Running = running
	return plan
}

func fits(l limits, running, repoRunning int, repo string) bool {
	if l.Global > 0 && running >= l.Global {
		return false
	}
	if l.PerRepo != nil {
		if max := l.PerRepo(repo); max > 0 && repoRunning >= max {
			return false
		}
	}
	return true
}

// slots remembers runs this process started in the last moments. The informer cache lags
// behind our own writes; without this two reconciles could both take the last free slot.
type slots struct {
	mu     sync.Mutex
	recent map[string]recentStart // namespace/name
}

type recentStart struct {
	repo string
	at   time.Time
}

const recentStartTTL = time.Minute

func newSlots() *slots { return &slots{recent: map[string]recentStart{}} }

// overlay returns the cached runs with our recent starts applied: a run the cache still shows as
// pending, or does not show at all, counts as running.
func (s *slots) overlay(cached []queuedRun, now time.Time) []queuedRun {
	out := make([]queuedRun, 0, len(cached)+len(s.recent))
	seen := map[string]bool{}
	for _, r := range cached {
		k := r.Namespace + "/" + r.Name
		seen[k] = true
		if _, ok := s.recent[k]; ok {
			if r.Pending {
				r.Pending, r.Running = false, true
			} else {
				delete(s.recent, k) // the cache caught up
			}
		}
		out = append(out, r)
	}
	for k, rs := range s.recent {
		if now.Sub(rs.at) > recentStartTTL {
			delete(s.recent, k)
			continue
		}
		if !seen[k] {
			out = append(out, queuedRun{Name: k, Repo: rs.repo, Running: true})
		}
	}
	return out
}

// admit says whether a new run of repo may start at once; when it may, the start is remembered.
// A new run never overtakes a queued one.
func (s *slots) admit(cached []queuedRun, l limits, key, repo string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	running, repoRunning := 0, 0
	for _, r := range s.overlay(cached, now) {
		if r.Pending {
			return false
		}
		if r.Running {
			running++
			if r.Repo == repo {
				repoRunning++
			}
		}
	}
	if !fits(l, running, repoRunning, repo) {
		return false
	}
	s.recent[key] = recentStart{repo: repo, at: now}
	return true
}

// planStarts plans the queue over the overlaid view and remembers the starts it decides, all
// under one lock so that a concurrent admit sees them.
func (s *slots) planStarts(cached []queuedRun, l limits, now time.Time) queuePlan {
	s.mu.Lock()
	defer s.mu.Unlock()
	plan := planQueue(s.overlay(cached, now), l)
	for _, r := range plan.Start {
		s.recent[r.Namespace+"/"+r.Name] = recentStart{repo: r.Repo, at: now}
	}
	return plan
}

// forget drops a start that failed, so its slot is free again.
func (s *slots) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recent, key)
}
