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

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektoninformers "github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/e2e/podfate"
	"github.com/catalyst-preview/catalyst/e2e/system"
	"github.com/catalyst-preview/catalyst/preview"
)

type options struct {
	Levels       string
	Environments int
	Out          string
}

// Result is one level's figures; durations in milliseconds.
type Result struct {
	PRs                    int        `json:"prs"`
	WebhookToPipelineRun   Percentile `json:"webhook_to_pipelinerun_ms"`
	WebhookToFirstCheckRun Percentile `json:"webhook_to_first_check_run_ms"`
	CompletionToComment    Percentile `json:"pipelinerun_completed_to_comment_ms"`
	RawObjectWrites        Percentile `json:"raw_object_writes_ms"`
	OverheadRatioP50       float64    `json:"overhead_ratio_p50"`
	GitHubCallsPerDeploy   float64    `json:"github_calls_per_deployment"`
	GitHubWritesPerDeploy  float64    `json:"github_write_calls_per_deployment"`
	// StatusWritesPerDeploy counts what the PR author sees change: check runs and comments.
	// The other writes are installation-token mints (the pipeline's git token, the clients' own).
	StatusWritesPerDeploy  float64        `json:"github_status_writes_per_deployment"`
	GitHubCallsByRoute     map[string]int `json:"github_calls_by_route"`
	APIServerRequestsPerPR float64        `json:"apiserver_requests_per_pr"`
	TriggerPeakRSSMiB      float64        `json:"trigger_peak_rss_mib"`
	ReporterPeakRSSMiB     float64        `json:"reporter_peak_rss_mib"`
	TriggerRequestsPerPR   float64        `json:"trigger_apiserver_requests_per_pr"`
	ReporterRequestsPerPR  float64        `json:"reporter_apiserver_requests_per_pr"`
}

// Percentile summarises a sample.
type Percentile struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Max float64 `json:"max"`
	N   int     `json:"n"`
}

// Report is the whole run.
type Report struct {
	Date         time.Time `json:"date"`
	Machine      string    `json:"machine"`
	Levels       []Result  `json:"levels"`
	Environments int       `json:"environments"`
	// Memory with the environments in place, after both components caught up.
	TriggerRSSMiBAtEnvironments   float64 `json:"trigger_rss_mib_at_environments"`
	ReporterRSSMiBAtEnvironments  float64 `json:"reporter_rss_mib_at_environments"`
	TriggerPeakMiBAtEnvironments  float64 `json:"trigger_peak_rss_mib_at_environments"`
	ReporterPeakMiBAtEnvironments float64 `json:"reporter_peak_rss_mib_at_environments"`
	// RSS splits into anonymous memory (heap, caches: what grows with environments) and pages
	// of the binary itself (shared, evictable).
	TriggerAnonMiBAtEnvironments  float64 `json:"trigger_rss_anon_mib_at_environments"`
	ReporterAnonMiBAtEnvironments float64 `json:"reporter_rss_anon_mib_at_environments"`
	TriggerFileMiBAtEnvironments  float64 `json:"trigger_rss_file_mib_at_environments"`
	ReporterFileMiBAtEnvironments float64 `json:"reporter_rss_file_mib_at_environments"`
}

const repo = "acme/bench"

func run(ctx context.Context, o options) error {
	var levels []int
	for _, s := range strings.Split(o.Levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("--levels: %q is not a positive number", s)
		}
		levels = append(levels, n)
	}
	fmt.Println("bench: starting the local control plane and the system (the first run builds it)...")
	sys, err := system.Start(ctx, system.Options{
		Repositories: []string{repo},
		// The bench measures the trigger and the reporter: every task succeeds at once,
		// simulated, without the real step code (which e2e/scenarios runs).
		Policy:   podfate.Succeed(0),
		Progress: os.Stderr,
		Configure: func(c *config.Config) {
			c.Preview.Concurrency.Global, c.Preview.Concurrency.PerRepository = 500, 500
		},
	})
	if err != nil {
		return err
	}
	defer func() { _ = sys.Stop() }()
	w := newWatcher(sys)
	go w.run(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), w.synced) {
		return ctx.Err()
	}

	report := Report{Date: time.Now().UTC(), Machine: machine(), Environments: o.Environments}
	for _, n := range levels {
		// Fresh processes per level, so that peak memory is the level's own.
		for _, p := range []*system.Process{sys.Trigger, sys.Reporter} {
			p.Stop()
			if err := p.Start(ctx); err != nil {
				return err
			}
		}
		sys.Sim.SetWebhookURL(sys.Trigger.URL + "/webhook")
		// One pull request first, unmeasured: the new processes take the leases and fill their
		// caches; the level then measures the steady state.
		if _, err := level(ctx, sys, w, 1); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		r, err := level(ctx, sys, w, n)
		if err != nil {
			return err
		}
		report.Levels = append(report.Levels, r)
		printLevel(r)
	}
	if o.Environments > 0 {
		if err := environments(ctx, sys, o.Environments, &report); err != nil {
			return err
		}
	}
	printSummary(report)
	return write(o.Out, report)
}

// level opens n pull requests at once and waits until every one shows its preview URL.
func level(ctx context.Context, sys *system.System, w *watcher, n int) (Result, error) {
	r := Result{PRs: n}
	callsBefore := len(sys.Sim.Calls())
	trigBefore, err := kubeRequests(sys.Trigger)
	if err != nil {
		return r, err
	}
	repBefore, err := kubeRequests(sys.Reporter)
	if err != nil {
		return r, err
	}
	type pr struct {
		number int
		sha    string
		sent   time.Time
	}
	prs := make([]pr, n)
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
			prs[i] = pr{number: d.Number, sha: d.HeadSHA, sent: sent}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return r, err
	}
	var toRun, toCheck, toComment []time.Duration
	deadline := time.Now().Add(10 * time.Minute)
	pending := map[int]bool{}
	for i := range prs {
		pending[i] = true
	}
	checkSeen := map[int]time.Time{}
	commentSeen := map[int]time.Time{}
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			return r, fmt.Errorf("level %d: %d pull requests not reported after 10 minutes", n, len(pending))
		}
		now := time.Now()
		for i := range pending {
			p := prs[i]
			if _, ok := checkSeen[i]; !ok && len(sys.Sim.CheckRuns(repo, p.sha)) > 0 {
				checkSeen[i] = now
			}
			if _, ok := commentSeen[i]; !ok {
				for _, c := range sys.Sim.Comments(repo, p.number) {
					if strings.Contains(c.GetBody(), "preview ready") && strings.Contains(c.GetBody(), p.sha[:7]) {
						commentSeen[i] = now
					}
				}
			}
			ns := preview.NamespaceName(repo, p.number)
			created, done, ok := w.times(ns)
			if ok && !done.IsZero() && !commentSeen[i].IsZero() && !checkSeen[i].IsZero() {
				toRun = append(toRun, created.Sub(p.sent))
				toCheck = append(toCheck, checkSeen[i].Sub(p.sent))
				toComment = append(toComment, commentSeen[i].Sub(done))
				delete(pending, i)
			}
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	r.WebhookToPipelineRun = percentiles(toRun)
	r.WebhookToFirstCheckRun = percentiles(toCheck)
	r.CompletionToComment = percentiles(toComment)

	// Count once the reporter has made its last writes.
	if err := waitQuiet(ctx, sys, 2*time.Second); err != nil {
		return r, err
	}
	calls := sys.Sim.Calls()[callsBefore:]
	writes, status := 0, 0
	r.GitHubCallsByRoute = map[string]int{}
	for _, c := range calls {
		r.GitHubCallsByRoute[c.Method+" "+c.Route]++
		if c.Method != "GET" {
			writes++
			if strings.Contains(c.Route, "check-runs") || strings.Contains(c.Route, "comments") {
				status++
			}
		}
	}
	r.StatusWritesPerDeploy = float64(status) / float64(n)
	r.GitHubCallsPerDeploy = float64(len(calls)) / float64(n)
	r.GitHubWritesPerDeploy = float64(writes) / float64(n)
	trigAfter, err := kubeRequests(sys.Trigger)
	if err != nil {
		return r, err
	}
	repAfter, err := kubeRequests(sys.Reporter)
	if err != nil {
		return r, err
	}
	r.TriggerRequestsPerPR = (trigAfter - trigBefore) / float64(n)
	r.ReporterRequestsPerPR = (repAfter - repBefore) / float64(n)
	r.APIServerRequestsPerPR = r.TriggerRequestsPerPR + r.ReporterRequestsPerPR
	r.TriggerPeakRSSMiB = peakRSS(sys.Trigger.Pid())
	r.ReporterPeakRSSMiB = peakRSS(sys.Reporter.Pid())

	raw, err := baseline(ctx, sys, preview.NamespaceName(repo, prs[0].number), n)
	if err != nil {
		return r, err
	}
	r.RawObjectWrites = percentiles(raw)
	if r.RawObjectWrites.P50 > 0 {
		r.OverheadRatioP50 = r.WebhookToPipelineRun.P50 / r.RawObjectWrites.P50
	}
	return r, nil
}

// watcher notes when the bench first sees each namespace's deploy PipelineRun created and done.
type watcher struct {
	mu      sync.Mutex
	created map[string]time.Time
	done    map[string]time.Time
	synced  cache.InformerSynced
	factory tektoninformers.SharedInformerFactory
}

func newWatcher(sys *system.System) *watcher {
	w := &watcher{created: map[string]time.Time{}, done: map[string]time.Time{}}
	w.factory = tektoninformers.NewSharedInformerFactoryWithOptions(sys.Tekton, 0,
		tektoninformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = preview.LabelKind + "=" + preview.KindDeploy }))
	inf := w.factory.Tekton().V1().PipelineRuns().Informer()
	see := func(obj any) {
		pr, ok := obj.(*pipelinev1.PipelineRun)
		if !ok {
			return
		}
		now := time.Now()
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.created[pr.Namespace]; !ok {
			w.created[pr.Namespace] = now
		}
		if _, ok := w.done[pr.Namespace]; !ok && pr.IsDone() {
			w.done[pr.Namespace] = now
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: see, UpdateFunc: func(_, o any) { see(o) }})
	w.synced = inf.HasSynced
	return w
}

func (w *watcher) run(ctx context.Context) { w.factory.Start(ctx.Done()) }

func (w *watcher) times(ns string) (created, done time.Time, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	created, ok = w.created[ns]
	return created, w.done[ns], ok
}

func percentiles(ds []time.Duration) Percentile {
	if len(ds) == 0 {
		return Percentile{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	at := func(q float64) time.Duration {
		i := int(q*float64(len(ds))+0.5) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(ds) {
			i = len(ds) - 1
		}
		return ds[i]
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

func machine() string {
	host, _ := os.Hostname()
	raw, _ := os.ReadFile("/proc/cpuinfo")
	return fmt.Sprintf("%s, %d CPUs", host, strings.Count(string(raw), "processor\t:"))
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

func printLevel(r Result) {
	fmt.Printf("\n== %d concurrent PRs ==\n", r.PRs)
	row := func(name string, p Percentile) {
		fmt.Printf("  %-40s p50 %8.1f ms   p95 %8.1f ms   max %8.1f ms\n", name, p.P50, p.P95, p.Max)
	}
	row("webhook -> PipelineRun created", r.WebhookToPipelineRun)
	row("raw client-go writes of the same objects", r.RawObjectWrites)
	row("webhook -> first Check Run", r.WebhookToFirstCheckRun)
	row("PipelineRun completed -> comment updated", r.CompletionToComment)
	fmt.Printf("  overhead (p50 / raw p50): %.2fx\n", r.OverheadRatioP50)
	fmt.Printf("  GitHub calls per deployment: %.1f (writes %.1f, of which check runs and comments %.1f)\n", r.GitHubCallsPerDeploy, r.GitHubWritesPerDeploy, r.StatusWritesPerDeploy)
	routes := make([]string, 0, len(r.GitHubCallsByRoute))
	for k := range r.GitHubCallsByRoute {
		routes = append(routes, k)
	}
	sort.Strings(routes)
	for _, k := range routes {
		fmt.Printf("    %-60s %d\n", k, r.GitHubCallsByRoute[k])
	}
	fmt.Printf("  API server requests per PR: %.1f (trigger %.1f, reporter %.1f)\n", r.APIServerRequestsPerPR, r.TriggerRequestsPerPR, r.ReporterRequestsPerPR)
	fmt.Printf("  peak RSS: trigger %.1f MiB, reporter %.1f MiB\n", r.TriggerPeakRSSMiB, r.ReporterPeakRSSMiB)
}

func printSummary(r Report) {
	fmt.Println("\n== summary ==")
	if len(r.Levels) > 1 {
		first, last := r.Levels[0], r.Levels[len(r.Levels)-1]
		if first.WebhookToPipelineRun.P95 > 0 {
			fmt.Printf("  p95 webhook -> PipelineRun at %d PRs / at %d PR: %.2fx (target <= 1.2x)\n", last.PRs, first.PRs, last.WebhookToPipelineRun.P95/first.WebhookToPipelineRun.P95)
		}
		fmt.Printf("  overhead at %d PR: %.2fx raw writes (target <= 1.5x)\n", first.PRs, first.OverheadRatioP50)
	}
	if r.Environments > 0 {
		fmt.Printf("  with %d environments: trigger %.1f MiB (peak %.1f; anonymous %.1f, binary pages %.1f), reporter %.1f MiB (peak %.1f; anonymous %.1f, binary pages %.1f) (target <= 64 MiB)\n",
			r.Environments, r.TriggerRSSMiBAtEnvironments, r.TriggerPeakMiBAtEnvironments, r.TriggerAnonMiBAtEnvironments, r.TriggerFileMiBAtEnvironments,
			r.ReporterRSSMiBAtEnvironments, r.ReporterPeakMiBAtEnvironments, r.ReporterAnonMiBAtEnvironments, r.ReporterFileMiBAtEnvironments)
	}
}
