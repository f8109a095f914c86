package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/oidcsim"
	"github.com/catalyst-preview/catalyst/preview"
)

// BenchmarkE2EListPage1000 measures the console against the real apiserver with 1,000
// environments (a namespace, a quota and a succeeded PipelineRun each): the list page's
// latency as an operator who may list everything sees it (p50, p95 of b.N requests, each
// impersonated end to end), and the console's memory. Run it alone (the console process is
// shared with the package's tests):
//
//	go test -run XXX -bench E2EListPage1000 -benchtime 30x -count 3 ./e2e/console/
func BenchmarkE2EListPage1000(b *testing.B) {
	c := cluster.Require(b)
	ctx := b.Context()
	const n = 1000
	// -count N runs this N times in one process: the environments and the operator's
	// binding are made once.
	benchSetup.Do(func() {
		start := time.Now()
		createEnvironments(b, c, n)
		b.Logf("created %d environments in %s", n, time.Since(start).Round(time.Second))
		const operator = "olga@example.com"
		_, err := c.Kube().RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "catalyst-bench-operator"}, Rules: preview.OperatorRules()}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		_, err = c.Kube().RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "catalyst-bench-operator"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "catalyst-bench-operator"},
			Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: operator}}}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
	})
	token, err := idp.IDToken("olga", cliClient)
	if err != nil {
		b.Fatal(err)
	}
	get := func(path string) (time.Duration, int) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, con.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "text/html")
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d %s", path, resp.StatusCode, body[:min(500, len(body))])
		}
		return time.Since(t0), strings.Count(string(body), `<tr id="env-`)
	}
	if _, rows := get("/"); rows < n {
		b.Fatalf("the list shows %d environments, want at least %d", rows, n)
	}
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		d, _ := get("/")
		took = append(took, d)
	}
	b.StopTimer()
	slices.Sort(took)
	rss, peak := con.rss()
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(took[(len(took)*95+99)/100-1].Milliseconds()), "p95-ms")
	b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
}

var benchSetup sync.Once

// olga is the bench's operator; the provider must know her.
func init() { users = append(users, oidcsim.User{Name: "olga"}) }

// createEnvironments creates n finished environments directly, 16 at a time.
func createEnvironments(b *testing.B, c *cluster.Cluster, n int) {
	ctx := b.Context()
	rc := c.RESTConfig()
	rc.QPS, rc.Burst = 500, 1000
	tekton := tektonclient.NewForConfigOrDie(rc)
	kube := c.Kube()
	sem := make(chan struct{}, 16)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs <- createEnvironment(ctx, kube, tekton, fmt.Sprintf("bench/app-%d", i%25), i+1)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}

func createEnvironment(ctx context.Context, kube kubernetes.Interface, tekton tektonclient.Interface, repo string, pr int) error {
	ns := preview.NamespaceName(repo, pr)
	sha := fmt.Sprintf("%040d", pr)
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{preview.LabelManaged: preview.ManagedTrue, preview.LabelPR: strconv.Itoa(pr), preview.LabelRepo: preview.RepoLabelValue(repo)},
		Annotations: map[string]string{preview.AnnotationRepo: repo, preview.AnnotationHeadSHA: sha, preview.AnnotationPRState: preview.PRStateOpen,
			preview.AnnotationPRURL: "https://github.com/" + repo + "/pull/" + strconv.Itoa(pr), preview.AnnotationAuthor: "octocat",
			preview.AnnotationPreviewURL: "https://" + preview.PreviewHost(repo, pr, "preview.example.com")}}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	_, err = kube.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "catalyst-quota", Labels: map[string]string{preview.LabelManaged: preview.ManagedTrue}},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("4"), corev1.ResourceRequestsMemory: resource.MustParse("8Gi")}},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	run, err := tekton.TektonV1().PipelineRuns(ns).Create(ctx, &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{Name: preview.PipelineRunName(preview.KindDeploy, sha, 1),
			Labels:      map[string]string{preview.LabelManaged: preview.ManagedTrue, preview.LabelSHA: sha, preview.LabelKind: preview.KindDeploy},
			Annotations: map[string]string{preview.AnnotationAttempt: "1"}},
		// pending: the Tekton controller leaves it alone until the status below says it is done
		Spec: pipelinev1.PipelineRunSpec{Status: pipelinev1.PipelineRunSpecStatusPending, PipelineRef: &pipelinev1.PipelineRef{Name: "catalyst-preview"}},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	status := pipelinev1.PipelineRunStatus{
		Status: duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue, Reason: "Succeeded", Message: "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0"}}},
		PipelineRunStatusFields: pipelinev1.PipelineRunStatusFields{StartTime: &now, CompletionTime: &now,
			Results: []pipelinev1.PipelineRunResult{{Name: "url", Value: *pipelinev1.NewStructuredValues("https://" + preview.PreviewHost(repo, pr, "preview.example.com"))}}},
	}
	// the Tekton controller marks the pending run meanwhile: re-read on conflict
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := tekton.TektonV1().PipelineRuns(ns).Get(ctx, run.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status = status
		_, err = tekton.TektonV1().PipelineRuns(ns).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// BenchmarkE2ELog100k streams a 100,000-line step log into the log page and measures how long
// until the page has it all, the longest main-thread task meanwhile (PerformanceObserver
// "longtask"), and how slowly the page answered a trivial script while the lines arrived (the
// responsiveness a person clicking would feel). The page keeps its cap of lines.
//
//	go test -run XXX -bench E2ELog100k -benchtime 3x ./e2e/console/
func BenchmarkE2ELog100k(b *testing.B) {
	c := cluster.Require(b)
	e := newEnvironment(b, c, "acme/huge-log", 100, map[string]string{"alice@example.com": operatorRole})
	const lines = 100000
	var sb strings.Builder
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&sb, "2026-11-30 12:00:00 INFO step line %d: compiling module %d of the application, nothing unusual here\n", i, i)
	}
	presetLogs(b, c, e, "build", sb.String())
	taskPod(b, c, e, "build")
	token, err := idp.IDToken("alice", cliClient)
	if err != nil {
		b.Fatal(err)
	}
	var total, longest, slowest, server time.Duration
	var kept int
	for b.Loop() {
		// the same log through the JSON API (NDJSON), read as fast as possible: what the
		// console, the apiserver and the kubelet take, without a browser
		req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, con.URL+"/api/v1/environments/"+e.Namespace+"/logs?task=build", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		server += time.Since(t0)
		if n := strings.Count(string(got), "\n"); n < lines {
			b.Fatalf("the API gave %d lines, want %d", n, lines)
		}

		ctx := newBrowser(b, browserOptions{})
		if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
			window.__longest = 0;
			new PerformanceObserver(l => l.getEntries().forEach(e => { window.__longest = Math.max(window.__longest, e.duration); }))
				.observe({entryTypes: ["longtask"]});`}); err != nil {
			b.Fatal(err)
		}
		signIn(b, ctx, "alice")
		t0 = time.Now()
		if err := chromedp.Do(ctx, chromedp.Navigate(con.URL+"/environments/"+e.Namespace+"/logs?task=build&follow=0")); err != nil {
			b.Fatal(err)
		}
		var worst time.Duration
		for {
			p0 := time.Now()
			ended, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.getElementById("log")||{dataset:{}}).dataset.ended === "end"`))
			if err != nil {
				b.Fatal(err)
			}
			worst = max(worst, time.Since(p0))
			if ended {
				break
			}
			if time.Since(t0) > 5*time.Minute {
				b.Fatal("the page did not finish the log in 5 minutes")
			}
			time.Sleep(50 * time.Millisecond) // sampling interval of the responsiveness probe
		}
		total += time.Since(t0)
		slowest = max(slowest, worst)
		ms, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.__longest`))
		longest = max(longest, time.Duration(ms*float64(time.Millisecond)))
		kept, _ = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#log .l").length`))
		shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("log").dataset.lines`))
		if shown != strconv.Itoa(lines) {
			b.Fatalf("the page received %s lines, want %d", shown, lines)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-last-line")
	b.ReportMetric(float64(server.Milliseconds())/float64(b.N), "api-ms")
	b.ReportMetric(float64(longest.Milliseconds()), "longest-task-ms")
	b.ReportMetric(float64(slowest.Milliseconds()), "slowest-probe-ms")
	b.ReportMetric(float64(kept), "lines-kept")
}
