package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/e2e/podfate"
	"github.com/catalyst-preview/catalyst/e2e/system"
	"github.com/catalyst-preview/catalyst/preview"
)

type options struct {
	Levels       string
	Runs         int
	Latency      time.Duration
	Environments int
	Out          string
	Command      string
}

// Sample is one run of one level; durations in milliseconds.
type Sample struct {
	Run                    int        `json:"run"`
	WebhookToPipelineRun   Percentile `json:"webhook_to_pipelinerun_ms"`
	WebhookToFirstCheckRun Percentile `json:"webhook_to_first_check_run_ms"`
	CompletionToComment    Percentile `json:"pipelinerun_completed_to_comment_ms"`
	// Baseline: the same objects written by plain client-go, with the trigger's concurrency, to
	// the same end point, in namespaces the product ignores; measured right after the level.
	Baseline              Percentile `json:"baseline_same_objects_to_pipelinerun_ms"`
	OverheadRatioP50      float64    `json:"overhead_ratio_p50"`
	GitHubCallsPerDeploy  float64    `json:"github_calls_per_deployment"`
	GitHubWritesPerDeploy float64    `json:"github_write_calls_per_deployment"`
	// StatusWritesPerDeploy counts what the PR author sees change: check runs and comments.
	// The other writes are installation-token mints (the pipeline's git token, the clients' own).
	StatusWritesPerDeploy  float64        `json:"github_status_writes_per_deployment"`
	GitHubCallsByRoute     map[string]int `json:"github_calls_by_route"`
	APIServerRequestsPerPR float64        `json:"apiserver_requests_per_pr"`
	TriggerRequestsPerPR   float64        `json:"trigger_apiserver_requests_per_pr"`
	ReporterRequestsPerPR  float64        `json:"reporter_apiserver_requests_per_pr"`
	TriggerPeakRSSMiB      float64        `json:"trigger_peak_rss_mib"`
	ReporterPeakRSSMiB     float64        `json:"reporter_peak_rss_mib"`
	// LoadAverage is /proc/loadavg (1, 5, 15 minutes) when the run started: the machine is shared.
	LoadAverage [3]float64 `json:"load_average"`
}

// Level is every run of one level and the spread of its percentiles over the runs.
type Level struct {
	PRs     int                `json:"prs"`
	Runs    []Sample           `json:"runs"`
	Summary map[string]Summary `json:"summary"`
}

// Summary is the spread over runs of one measure's p50 and p95 (and of plain figures in P50).
type Summary struct {
	P50 Spread `json:"p50"`
	P95 Spread `json:"p95"`
}

// Spread is the median, smallest and largest of one figure over the runs.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Percentile summarises a sample.
type Percentile struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Max float64 `json:"max"`
	N   int     `json:"n"`
}

// Target is one of the README's targets and where this run stands.
type Target struct {
	What     string  `json:"what"`
	Source   string  `json:"source"`
	Limit    float64 `json:"limit"`
	Unit     string  `json:"unit"`
	Measured float64 `json:"measured"` // the median over runs where there are runs
	Spread   string  `json:"spread,omitempty"`
	Met      bool    `json:"met"`
	Verdict  string  `json:"verdict"` // "met" or "missed"
}

// Report is the whole invocation.
type Report struct {
	Date            time.Time     `json:"date"`
	Command         string        `json:"command"`
	Machine         string        `json:"machine"`
	GitHubLatencyMS float64       `json:"github_latency_ms"`
	RunsPerLevel    int           `json:"runs_per_level"`
	LoadStart       [3]float64    `json:"load_average_start"`
	LoadEnd         [3]float64    `json:"load_average_end"`
	Levels          []Level       `json:"levels"`
	Environments    *Environments `json:"environments,omitempty"`
	Targets         []Target      `json:"targets"`
}

const repo = "acme/bench"

// triggerWorkers is the trigger's --workers default (cmd/internal/setup), which the system runs
// with: how many pull requests it provisions at once. The baseline writes with the same.
const triggerWorkers = 8

func run(ctx context.Context, o options) error {
	var levels []int
	for _, s := range strings.Split(o.Levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("--levels: %q is not a positive number", s)
		}
		levels = append(levels, n)
	}
	if o.Runs < 1 {
		return fmt.Errorf("--runs: %d is not a positive number", o.Runs)
	}
	report := Report{Date: time.Now().UTC(), Command: o.Command, Machine: machine(), LoadStart: loadAverage(),
		GitHubLatencyMS: float64(o.Latency.Microseconds()) / 1000, RunsPerLevel: o.Runs}
	fmt.Printf("bench: %s\nload average at start: %v\n", report.Command, report.LoadStart)
	fmt.Println("bench: starting the local control plane and the system (the first run builds it)...")
	noRace := false
	sys, err := system.Start(ctx, system.Options{
		Repositories: []string{repo},
		// The bench measures the trigger and the reporter: every task succeeds at once,
		// simulated, without the real step code (which e2e/scenarios runs).
		Policy:   podfate.Succeed(0),
		Race:     &noRace,
		Progress: os.Stderr,
		Configure: func(c *config.Config) {
			c.Preview.Concurrency.Global, c.Preview.Concurrency.PerRepository = 500, 500
		},
	})
	if err != nil {
		return err
	}
	defer func() { _ = sys.Stop() }()
	sys.Sim.SetLatency(o.Latency)
	w := newWatcher(sys)
	if err := w.start(ctx); err != nil {
		return err
	}
	gh := newGitHubWatch(sys.Sim)

	samples := map[int][]Sample{}
	// Runs go round the levels (1, 10, 50, 1, 10, 50, ...) so that each level's runs meet the
	// environments the earlier runs left at different sizes, and the spread shows it.
	for runNo := 1; runNo <= o.Runs; runNo++ {
		for _, n := range levels {
			s, err := measureLevel(ctx, sys, w, gh, n)
			if err != nil {
				return fmt.Errorf("run %d of %d PRs: %w", runNo, n, err)
			}
			s.Run = runNo
			samples[n] = append(samples[n], s)
			printSample(n, s)
		}
	}
	for _, n := range levels {
		report.Levels = append(report.Levels, summarise(n, samples[n]))
	}
	if o.Environments > 0 {
		env, err := environments(ctx, sys, o.Environments)
		if err != nil {
			return err
		}
		report.Environments = env
	}
	report.LoadEnd = loadAverage()
	report.Targets = targets(report)
	printSummary(report)
	return write(o.Out, report)
}

// measureLevel restarts both processes (so that peak memory is the level's own), warms them up
// with one unmeasured pull request, opens n at once and waits until every one shows its preview
// URL, then writes the same objects as the baseline.
func measureLevel(ctx context.Context, sys *system.System, w *watcher, gh *githubWatch, n int) (Sample, error) {
	s := Sample{LoadAverage: loadAverage()}
	for _, p := range []*system.Process{sys.Trigger, sys.Reporter} {
		p.Stop()
		if err := p.Start(ctx); err != nil {
			return s, err
		}
	}
	sys.Sim.SetWebhookURL(sys.Trigger.URL + "/webhook")
	// The new processes take the leases and fill their caches; the level then measures the
	// steady state.
	first, err := openPRs(ctx, sys, w, gh, 1)
	if err != nil {
		return s, fmt.Errorf("warm-up: %w", err)
	}
	if err := waitQuiet(ctx, sys, 2*time.Second); err != nil {
		return s, err
	}
	callsBefore := len(sys.Sim.Calls())
	trigBefore, err := kubeRequests(sys.Trigger)
	if err != nil {
		return s, err
	}
	repBefore, err := kubeRequests(sys.Reporter)
	if err != nil {
		return s, err
	}
	prs, err := openPRs(ctx, sys, w, gh, n)
	if err != nil {
		return s, err
	}
	var toRun, toCheck, toComment []time.Duration
	for _, p := range prs {
		toRun = append(toRun, p.run.Sub(p.sent))
		toCheck = append(toCheck, p.check.Sub(p.sent))
		toComment = append(toComment, p.comment.Sub(p.done))
	}
	s.WebhookToPipelineRun = percentiles(toRun)
	s.WebhookToFirstCheckRun = percentiles(toCheck)
	s.CompletionToComment = percentiles(toComment)

	// Count once the reporter has made its last writes.
	if err := waitQuiet(ctx, sys, 2*time.Second); err != nil {
		return s, err
	}
	calls := sys.Sim.Calls()[callsBefore:]
	writes, status := 0, 0
	s.GitHubCallsByRoute = map[string]int{}
	for _, c := range calls {
		s.GitHubCallsByRoute[c.Method+" "+c.Route]++
		if c.Method != "GET" {
			writes++
			if strings.Contains(c.Route, "check-runs") || strings.Contains(c.Route, "comments") {
				status++
			}
		}
	}
	s.StatusWritesPerDeploy = float64(status) / float64(n)
	s.GitHubCallsPerDeploy = float64(len(calls)) / float64(n)
	s.GitHubWritesPerDeploy = float64(writes) / float64(n)
	trigAfter, err := kubeRequests(sys.Trigger)
	if err != nil {
		return s, err
	}
	repAfter, err := kubeRequests(sys.Reporter)
	if err != nil {
		return s, err
	}
	s.TriggerRequestsPerPR = (trigAfter - trigBefore) / float64(n)
	s.ReporterRequestsPerPR = (repAfter - repBefore) / float64(n)
	s.APIServerRequestsPerPR = s.TriggerRequestsPerPR + s.ReporterRequestsPerPR
	s.TriggerPeakRSSMiB = peakRSS(sys.Trigger.Pid())
	s.ReporterPeakRSSMiB = peakRSS(sys.Reporter.Pid())

	raw, err := baseline(ctx, sys, w, preview.NamespaceName(repo, first[0].number), n)
	if err != nil {
		return s, fmt.Errorf("baseline: %w", err)
	}
	s.Baseline = percentiles(raw)
	if s.Baseline.P50 > 0 {
		s.OverheadRatioP50 = s.WebhookToPipelineRun.P50 / s.Baseline.P50
	}
	return s, nil
}

// openedPR is one measured pull request: when its webhook was sent, when the bench's informer saw
// its PipelineRun created and done, when GitHub got its first Check Run and its "preview ready"
// comment.
type openedPR struct {
	number                          int
	sha                             string
	sent, run, done, check, comment time.Time
}

// openPRs opens n pull requests at once and waits until every one has its PipelineRun done, a
// Check Run, and the comment with its preview URL.
func openPRs(ctx context.Context, sys *system.System, w *watcher, gh *githubWatch, n int) ([]openedPR, error) {
	prs := make([]openedPR, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			d, err := sys.Sim.OpenPR(ctx, repo, ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
			if err != nil {
				errs <- err
				return
			}
			prs[i] = openedPR{number: d.Number, sha: d.HeadSHA, sent: sent}
			gh.watch(d.Number, d.HeadSHA)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		pending := 0
		for i := range prs {
			p := &prs[i]
			if p.check.IsZero() {
				p.check = gh.firstCheckRun(p.sha)
			}
			if p.comment.IsZero() {
				p.comment = gh.ready(p.number)
			}
			p.run, p.done, _ = w.times(preview.NamespaceName(repo, p.number))
			if p.check.IsZero() || p.comment.IsZero() || p.done.IsZero() {
				pending++
			}
		}
		if pending == 0 {
			return prs, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d pull requests not reported after 10 minutes", pending, n)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-gh.changed:
		case <-w.changed:
		case <-time.After(time.Second):
		}
	}
}

// githubWatch stamps, when GitHub answers a write, the first Check Run of each commit and the
// first "preview ready" comment of each pull request. It reads the simulator only after a
// successful write of a check run or a comment (Sim.Observe), never by polling it.
type githubWatch struct {
	sim     *ghsim.Sim
	changed chan struct{}

	mu       sync.Mutex
	checkAt  map[string]time.Time // by head SHA
	readyAt  map[int]time.Time    // by pull request number
	watching map[int]string       // pull requests of repo without a ready comment yet: number → short SHA
}

func newGitHubWatch(sim *ghsim.Sim) *githubWatch {
	g := &githubWatch{sim: sim, changed: make(chan struct{}, 1),
		checkAt: map[string]time.Time{}, readyAt: map[int]time.Time{}}
	sim.Observe(g.observe)
	return g
}

func (g *githubWatch) observe(c ghsim.Call) {
	if !c.Write() || c.Status >= 400 || !strings.HasPrefix(c.Path, "/repos/"+repo+"/") {
		return
	}
	now := time.Now()
	switch {
	case c.Route == ghsim.RouteCheckRuns: // a new Check Run
		for _, sha := range g.unseenChecks() {
			if len(g.sim.CheckRuns(repo, sha)) > 0 {
				g.mu.Lock()
				if _, ok := g.checkAt[sha]; !ok {
					g.checkAt[sha] = now
				}
				g.mu.Unlock()
			}
		}
	case c.Route == ghsim.RouteIssueComments || c.Route == ghsim.RouteIssueComment:
		for number, sha := range g.unreadyComments() {
			for _, cm := range g.sim.Comments(repo, number) {
				if strings.Contains(cm.GetBody(), "preview ready") && strings.Contains(cm.GetBody(), sha) {
					g.mu.Lock()
					if _, ok := g.readyAt[number]; !ok {
						g.readyAt[number] = now
					}
					g.mu.Unlock()
				}
			}
		}
	default:
		return
	}
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// watch registers a pull request once its webhook was answered. The reporter writes only after
// the trigger's PipelineRun exists, so nothing is missed; should a write have come first anyway,
// it is stamped now (late, never early).
func (g *githubWatch) watch(number int, sha string) {
	g.mu.Lock()
	if g.watching == nil {
		g.watching = map[int]string{}
	}
	g.watching[number] = sha
	g.mu.Unlock()
	g.observe(ghsim.Call{Method: "POST", Route: ghsim.RouteCheckRuns, Path: "/repos/" + repo + "/check-runs", Status: 201})
	g.observe(ghsim.Call{Method: "POST", Route: ghsim.RouteIssueComments, Path: "/repos/" + repo + "/issues", Status: 201})
}

func (g *githubWatch) unseenChecks() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, sha := range g.watching {
		if _, ok := g.checkAt[sha]; !ok {
			out = append(out, sha)
		}
	}
	return out
}

func (g *githubWatch) unreadyComments() map[int]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[int]string{}
	for n, sha := range g.watching {
		if _, ok := g.readyAt[n]; !ok {
			out[n] = sha[:7]
		}
	}
	return out
}

func (g *githubWatch) firstCheckRun(sha string) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.checkAt[sha]
}

func (g *githubWatch) ready(number int) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.readyAt[number]
}

func summarise(n int, samples []Sample) Level {
	l := Level{PRs: n, Runs: samples, Summary: map[string]Summary{}}
	pick := func(name string, f func(Sample) Percentile) {
		var p50, p95 []float64
		for _, s := range samples {
			p50, p95 = append(p50, f(s).P50), append(p95, f(s).P95)
		}
		l.Summary[name] = Summary{P50: spread(p50), P95: spread(p95)}
	}
	pick("webhook_to_pipelinerun_ms", func(s Sample) Percentile { return s.WebhookToPipelineRun })
	pick("baseline_same_objects_to_pipelinerun_ms", func(s Sample) Percentile { return s.Baseline })
	pick("webhook_to_first_check_run_ms", func(s Sample) Percentile { return s.WebhookToFirstCheckRun })
	pick("pipelinerun_completed_to_comment_ms", func(s Sample) Percentile { return s.CompletionToComment })
	plain := func(name string, f func(Sample) float64) {
		var v []float64
		for _, s := range samples {
			v = append(v, f(s))
		}
		l.Summary[name] = Summary{P50: spread(v)}
	}
	plain("overhead_ratio_p50", func(s Sample) float64 { return s.OverheadRatioP50 })
	plain("github_status_writes_per_deployment", func(s Sample) float64 { return s.StatusWritesPerDeploy })
	plain("github_write_calls_per_deployment", func(s Sample) float64 { return s.GitHubWritesPerDeploy })
	plain("apiserver_requests_per_pr", func(s Sample) float64 { return s.APIServerRequestsPerPR })
	plain("trigger_peak_rss_mib", func(s Sample) float64 { return s.TriggerPeakRSSMiB })
	plain("reporter_peak_rss_mib", func(s Sample) float64 { return s.ReporterPeakRSSMiB })
	return l
}

func spread(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[len(s)-1]}
}

func (s Spread) String() string {
	return fmt.Sprintf("%s (%s–%s)", num(s.Median), num(s.Min), num(s.Max))
}

func num(f float64) string {
	switch {
	case f >= 100:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case f >= 10:
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

// targets are the README's targets (from the bench's issue #6 and the reporter's #11), each
// judged on the median over runs; the spread is given beside it.
func targets(r Report) []Target {
	var out []Target
	level := func(n int) *Level {
		for i := range r.Levels {
			if r.Levels[i].PRs == n {
				return &r.Levels[i]
			}
		}
		return nil
	}
	add := func(t Target) {
		t.Met = t.Measured <= t.Limit
		t.Verdict = map[bool]string{true: "met", false: "missed"}[t.Met]
		out = append(out, t)
	}
	one, ten, fifty := level(1), level(10), level(50)
	if one != nil {
		s := one.Summary["overhead_ratio_p50"].P50
		add(Target{What: "webhook → PipelineRun p50 at 1 PR, as a multiple of the baseline (same objects, same concurrency, same end point)",
			Source: "#6", Limit: 1.5, Unit: "×", Measured: s.Median, Spread: s.String()})
	}
	if one != nil && fifty != nil {
		a, b := fifty.Summary["webhook_to_pipelinerun_ms"].P95, one.Summary["webhook_to_pipelinerun_ms"].P95
		if b.Median > 0 {
			add(Target{What: "webhook → PipelineRun p95 at 50 PRs, as a multiple of the p95 at 1 PR",
				Source: "#6", Limit: 1.2, Unit: "×", Measured: a.Median / b.Median,
				Spread: fmt.Sprintf("p95 at 50: %s ms; at 1: %s ms", a, b)})
		}
	}
	if ten != nil {
		s := ten.Summary["webhook_to_first_check_run_ms"].P95
		add(Target{What: "webhook → first Check Run p95 at 10 PRs", Source: "#11", Limit: 2000, Unit: "ms", Measured: s.Median, Spread: s.String()})
	}
	if fifty != nil {
		s := fifty.Summary["webhook_to_first_check_run_ms"].P95
		add(Target{What: "webhook → first Check Run p95 at 50 PRs", Source: "#11", Limit: 5000, Unit: "ms", Measured: s.Median, Spread: s.String()})
	}
	for _, l := range r.Levels {
		s := l.Summary["github_write_calls_per_deployment"].P50
		add(Target{What: fmt.Sprintf("GitHub write calls per deployment at %d PRs (token mints included)", l.PRs), Source: "#6", Limit: 6, Unit: "calls", Measured: s.Median, Spread: s.String()})
	}
	if e := r.Environments; e != nil {
		add(Target{What: fmt.Sprintf("trigger RSS with %d environments", e.Count), Source: "#6", Limit: 64, Unit: "MiB", Measured: e.Trigger.RSSMiB,
			Spread: fmt.Sprintf("anonymous %.1f, Go heap %.1f, peak %.1f", e.Trigger.AnonMiB, e.Trigger.HeapMiB, e.Trigger.PeakMiB)})
		add(Target{What: fmt.Sprintf("reporter RSS with %d environments", e.Count), Source: "#6", Limit: 64, Unit: "MiB", Measured: e.Reporter.RSSMiB,
			Spread: fmt.Sprintf("anonymous %.1f, Go heap %.1f, peak %.1f", e.Reporter.AnonMiB, e.Reporter.HeapMiB, e.Reporter.PeakMiB)})
	}
	return out
}

func percentiles(ds []time.Duration) Percentile {
	if len(ds) == 0 {
		return Percentile{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	// nearest rank: with fewer than 20 samples the p95 is the largest one.
	at := func(q float64) time.Duration {
		i := int(q*float64(len(ds))+0.999999) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return Percentile{P50: ms(at(0.50)), P95: ms(at(0.95)), Max: ms(ds[len(ds)-1]), N: len(ds)}
}

func peakRSS(pid int) float64 { return procStatus(pid, "VmHWM:") }

func procStatus(pid int, field string) float64 {
	if pid == 0 {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, field) {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func loadAverage() [3]float64 {
	var out [3]float64
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	f := strings.Fields(string(raw))
	for i := 0; i < 3 && i < len(f); i++ {
		out[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return out
}

func machine() string {
	host, _ := os.Hostname()
	raw, _ := os.ReadFile("/proc/cpuinfo")
	return fmt.Sprintf("%s, %d CPUs (shared)", host, strings.Count(string(raw), "processor\t:"))
}

func write(dir string, r Report) error {
	root, err := cluster.RepoRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, r.Date.Format("2006-01-02T150405Z")+".json")
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Println("results written to", path)
	return nil
}

func printSample(n int, s Sample) {
	fmt.Printf("\n== %d concurrent PRs, run %d (load %v) ==\n", n, s.Run, s.LoadAverage)
	row := func(name string, p Percentile) {
		fmt.Printf("  %-46s p50 %8.1f ms   p95 %8.1f ms   max %8.1f ms\n", name, p.P50, p.P95, p.Max)
	}
	row("webhook -> PipelineRun (seen by an informer)", s.WebhookToPipelineRun)
	row("baseline: same objects -> PipelineRun", s.Baseline)
	row("webhook -> first Check Run", s.WebhookToFirstCheckRun)
	row("PipelineRun completed -> comment updated", s.CompletionToComment)
	fmt.Printf("  overhead (p50 / baseline p50): %.2fx\n", s.OverheadRatioP50)
	fmt.Printf("  GitHub calls per deployment: %.1f (writes %.1f, of which check runs and comments %.1f)\n", s.GitHubCallsPerDeploy, s.GitHubWritesPerDeploy, s.StatusWritesPerDeploy)
	fmt.Printf("  API server requests per PR: %.1f (trigger %.1f, reporter %.1f)\n", s.APIServerRequestsPerPR, s.TriggerRequestsPerPR, s.ReporterRequestsPerPR)
	fmt.Printf("  peak RSS: trigger %.1f MiB, reporter %.1f MiB\n", s.TriggerPeakRSSMiB, s.ReporterPeakRSSMiB)
}

func printSummary(r Report) {
	fmt.Printf("\n== summary: median (min–max) over %d runs; GitHub answers after %.0f ms ==\n", r.RunsPerLevel, r.GitHubLatencyMS)
	for _, l := range r.Levels {
		fmt.Printf("  %d PRs:\n", l.PRs)
		for _, k := range []string{"webhook_to_pipelinerun_ms", "baseline_same_objects_to_pipelinerun_ms", "webhook_to_first_check_run_ms", "pipelinerun_completed_to_comment_ms"} {
			s := l.Summary[k]
			fmt.Printf("    %-44s p50 %-26s p95 %s\n", k, s.P50, s.P95)
		}
		for _, k := range []string{"overhead_ratio_p50", "github_write_calls_per_deployment", "github_status_writes_per_deployment", "apiserver_requests_per_pr"} {
			fmt.Printf("    %-44s %s\n", k, l.Summary[k].P50)
		}
	}
	if e := r.Environments; e != nil {
		fmt.Printf("  with %d environments (%d objects): trigger RSS %.1f MiB (anonymous %.1f, Go heap %.1f, peak %.1f), reporter RSS %.1f MiB (anonymous %.1f, Go heap %.1f, peak %.1f)\n",
			e.Count, e.Objects, e.Trigger.RSSMiB, e.Trigger.AnonMiB, e.Trigger.HeapMiB, e.Trigger.PeakMiB,
			e.Reporter.RSSMiB, e.Reporter.AnonMiB, e.Reporter.HeapMiB, e.Reporter.PeakMiB)
	}
	fmt.Println("  targets:")
	for _, t := range r.Targets {
		fmt.Printf("    %-7s %s: %s %s (limit %s; %s) [%s]\n", t.Verdict, t.What, num(t.Measured), t.Unit, num(t.Limit), t.Spread, t.Source)
	}
	fmt.Printf("  load average: start %v, end %v\n", r.LoadStart, r.LoadEnd)
}
