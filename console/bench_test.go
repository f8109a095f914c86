package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"syscall"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/catalyst-preview/catalyst/preview"
)

// BenchmarkListPage renders the list page for 1,000 environments (each a namespace, a
// succeeded PipelineRun and a quota), query layer included, over fake clients: the console's
// own cost, without the apiserver's (the e2e bench in e2e/console measures that too). It
// reports the p50 and p95 of the iterations.
//
//	go test -run XXX -bench ListPage -benchtime 50x ./console/
func BenchmarkListPage(b *testing.B) {
	const n = 1000
	var kubeObjs, tektonObjs []runtime.Object
	for i := range n {
		repo, pr := fmt.Sprintf("acme/app-%d", i%20), i+1
		ns := namespace(preview.NamespaceName(repo, pr), repo, pr)
		ns.Annotations[preview.AnnotationPreviewURL] = "https://" + preview.PreviewHost(repo, pr, "preview.example.com")
		kubeObjs = append(kubeObjs, ns, quota(ns.Name, "1500m", "4"))
		sha := ns.Annotations[preview.AnnotationHeadSHA]
		run := &pipelinev1.PipelineRun{
			ObjectMeta: metav1.ObjectMeta{Name: preview.PipelineRunName(preview.KindDeploy, sha, 1), Namespace: ns.Name,
				CreationTimestamp: metav1.NewTime(fixedNow.Add(-time.Hour)),
				Labels:            map[string]string{preview.LabelManaged: preview.ManagedTrue, preview.LabelSHA: sha, preview.LabelKind: preview.KindDeploy},
				Annotations:       map[string]string{preview.AnnotationAttempt: "1"}},
			Status: pipelinev1.PipelineRunStatus{
				Status: duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue, Reason: "Succeeded"}}},
				PipelineRunStatusFields: pipelinev1.PipelineRunStatusFields{
					StartTime: &metav1.Time{Time: fixedNow.Add(-time.Hour)}, CompletionTime: &metav1.Time{Time: fixedNow.Add(-50 * time.Minute)},
					Results: []pipelinev1.PipelineRunResult{{Name: "url", Value: *pipelinev1.NewStructuredValues("https://" + preview.PreviewHost(repo, pr, "preview.example.com"))}},
				},
			},
		}
		tektonObjs = append(tektonObjs, run)
	}
	kube, tekton := fake.NewClientset(kubeObjs...), tektonfake.NewSimpleClientset(tektonObjs...)
	s, err := New(Options{Kube: nowhere, PublicURL: "http://127.0.0.1:8080", Dev: &Identity{User: "developer"}, Now: func() time.Time { return fixedNow },
		ClientsFor: func(Identity) (Clients, error) { return Clients{Kube: kube, Tekton: tekton}, nil }})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	var took []time.Duration
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host, req.Header["Accept"] = "127.0.0.1", []string{"text/html"}
		rec := httptest.NewRecorder()
		start, startCPU := time.Now(), cpuTime()
		h.ServeHTTP(rec, req)
		took = append(took, time.Since(start))
		cpu += cpuTime() - startCPU
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[(len(took)*95+99)/100-1].Microseconds())/1000, "p95-ms")
	// CPU time is what the render costs whatever else the machine runs (wall time is not, on a
	// shared machine); it includes the garbage collector's work.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(took)), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
