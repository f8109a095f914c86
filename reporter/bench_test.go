package reporter

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/githubapp"
)

// The decision and rendering path of one report, without I/O.
//
//	go test ./reporter -run '^$' -bench 'Render|Mask|Decide' -benchmem
func BenchmarkRenderFailedReport(b *testing.B) {
	r := fixtures["failed-template"].report(b)
	for b.Loop() {
		_ = renderComment(r)
		_ = renderCheckRun(r)
	}
}

func BenchmarkMask(b *testing.B) {
	docker := `{"auths":{"registry.example.com":{"username":"bot","password":"r3g-pa55word","auth":"Ym90OnIzZy1wYTU1d29yZA=="}}}`
	var values []string
	for _, v := range []string{"ghs_0123456789abcdefghijklmnopqrstuvwxyz", "hunter2-db-password", docker, "-----BEGIN KEY-----\nMIIEowIBAAKCAQEA\n-----END KEY-----"} {
		values = append(values, secretForms(v)...)
	}
	log := strings.Repeat("2026-11-28T12:31:00Z helm upgrade --install preview charts/example-app: waiting for Deployment/preview-web\n", 40)
	b.SetBytes(int64(len(log)))
	for b.Loop() {
		_ = newMasker(values).mask(log)
	}
}

func BenchmarkDecide(b *testing.B) {
	rec, _ := recordOf(namespace(b, 1))
	run := pipelineRun(b, runRunning)
	children := []child{childOfTaskRun(taskRun(b, "build", trSucceeded("31", "32"))), childOfTaskRun(taskRun(b, "deploy", trRunning("32")))}
	recorded := fingerprint(buildReport(rec, run, children, "https://x/{namespace}", fixtureNow), surfaceCheckRun, 30*time.Second)
	for b.Loop() {
		r := buildReport(rec, run, children, "https://x/{namespace}", fixtureNow)
		_, _ = due(recorded, fingerprint(r, surfaceCheckRun, 30*time.Second), fixtureNow, fixtureNow, 30*time.Second)
	}
}

// BenchmarkFirstFeedback runs the reporter (informers, 32 workers, the real GitHub client)
// over fake clientsets against the GitHub simulator answering every call after 100 ms, opens n
// pull requests' runs at once and measures, per pull request, run created → check run and
// comment both on GitHub; then lets every run succeed and counts GitHub calls per deployment.
// The apiserver is a fake here (no latency): the figure is the reporter's share of first
// feedback, the trigger's (webhook → run) comes on top.
//
//	go test ./reporter -run '^$' -bench FirstFeedback -benchtime 1x -count 3
func BenchmarkFirstFeedback(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("prs=%d", n), func(b *testing.B) {
			var p50, p95, writes, reads float64
			for b.Loop() {
				r := firstFeedback(b, n)
				p50, p95, writes, reads = p50+r[0], p95+r[1], writes+r[2], reads+r[3]
			}
			k := float64(b.N)
			b.ReportMetric(p50/k, "p50-ms")
			b.ReportMetric(p95/k, "p95-ms")
			b.ReportMetric(writes/k, "writes/deploy")
			b.ReportMetric(reads/k, "reads/deploy")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func firstFeedback(b *testing.B, n int) [4]float64 {
	b.StopTimer()
	defer b.StartTimer()
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	sim, err := ghsim.New(ghsim.Options{Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	if _, err := sim.AddRepo(testRepo); err != nil {
		b.Fatal(err)
	}
	kube, tekton := kubefake.NewClientset(), tektonfake.NewSimpleClientset()
	heads := map[int]string{}
	for i := 1; i <= n; i++ {
		d, err := sim.OpenPR(ctx, testRepo, ghsim.PROptions{})
		if err != nil {
			b.Fatal(err)
		}
		heads[i] = d.HeadSHA
		ns := namespace(b, sim.InstallationID("acme"), fmt.Sprintf(`metadata: {name: pr-shop-%d, labels: {catalyst.dev/pr: "%d", catalyst.dev/sha: %s}, annotations: {catalyst.dev/head-sha: %s}}`, i, i, d.HeadSHA, d.HeadSHA))
		if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	sim.SetLatency(100 * time.Millisecond)
	clients, err := githubapp.NewApp(githubapp.AppConfig{AppID: sim.AppID(), PrivateKeyPEM: sim.PrivateKeyPEM(), BaseURL: sim.URL() + "/"}, zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	c := NewController(Deps{Kube: kube, Tekton: tekton, GitHub: ClientsFrom(clients), Config: testConfig(b), Logs: &fakeLogs{}})
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(ctx, 32) })
	defer wg.Wait()
	defer cancel()
	time.Sleep(200 * time.Millisecond) // informers started; the first list is empty anyway
	sim.ResetCalls()

	start := time.Now()
	for i := 1; i <= n; i++ {
		run := pipelineRun(b, runRunning, fmt.Sprintf(`metadata: {labels: {catalyst.dev/sha: %s}}`, heads[i]))
		run.Namespace = fmt.Sprintf("pr-shop-%d", i)
		run.CreationTimestamp = metav1.Now()
		if _, err := tekton.TektonV1().PipelineRuns(run.Namespace).Create(ctx, run, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	seen := map[int]time.Duration{}
	for len(seen) < n {
		if time.Since(start) > 2*time.Minute {
			b.Fatalf("%d of %d reported after 2 minutes", len(seen), n)
		}
		for i := 1; i <= n; i++ {
			if _, ok := seen[i]; ok {
				continue
			}
			if len(sim.CheckRuns(testRepo, heads[i])) > 0 && hasReport(sim, i) {
				seen[i] = time.Since(start)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("pr-shop-%d", i)
		run, err := tekton.TektonV1().PipelineRuns(ns).Get(ctx, run1, metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		merge(b, run, runSucceeded)
		if _, err := tekton.TektonV1().PipelineRuns(ns).Update(ctx, run, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for done := 0; done < n; {
		if time.Since(start) > 4*time.Minute {
			b.Fatalf("%d of %d succeeded on GitHub after 4 minutes", done, n)
		}
		done = 0
		for i := 1; i <= n; i++ {
			for _, cm := range sim.Comments(testRepo, i) {
				if strings.Contains(cm.GetBody(), "preview ready") {
					done++
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	lat := make([]time.Duration, 0, n)
	for _, d := range seen {
		lat = append(lat, d)
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))+0.5)-1)].Microseconds()) / 1000
	}
	reads := 0
	for _, call := range sim.Calls() {
		if call.Method == http.MethodGet && call.Route != ghsim.RouteApp {
			reads++
		}
	}
	return [4]float64{at(0.5), at(0.95), float64(sim.WriteCalls()) / float64(n), float64(reads) / float64(n)}
}

func hasReport(sim *ghsim.Sim, number int) bool {
	for _, c := range sim.Comments(testRepo, number) {
		if strings.Contains(c.GetBody(), commentMarker) {
			return true
		}
	}
	return false
}
