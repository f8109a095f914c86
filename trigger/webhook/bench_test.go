package webhook

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/catalyst-preview/catalyst/trigger/record"
)

// BenchmarkWebhookPath measures verify + parse + persist of a synchronize delivery that moves the
// head to a new SHA (so every iteration writes), against the fake clientset: the figure is the
// trigger's own cost, without apiserver latency.
func BenchmarkWebhookPath(b *testing.B) {
	_, template := delivery(b, "pull_request.synchronize")
	const pool = 512
	bodies := make([][]byte, pool)
	for i := range bodies {
		sha := fmt.Sprintf("%040x", i+1)
		updated := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		body := bytes.ReplaceAll(template, []byte(sha2), []byte(sha))
		bodies[i] = bytes.ReplaceAll(body, []byte("2026-11-28T10:14:03Z"), []byte(updated))
	}
	cfg := testConfig(b)
	var h http.Handler
	reset := func() {
		// NewSimpleClientset: the field-managed tracker of NewClientset rebuilds a REST mapper per
		// update and would be 80% of the figure.
		store := record.NewStore(fake.NewSimpleClientset(), cfg, systemNS, func() time.Time { return testNow })
		h = NewHandler(func() [][]byte { return [][]byte{[]byte(testSecret)} }, store, zap.NewNop(), nil)
	}
	reset()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%pool == 0 && i > 0 {
			b.StopTimer()
			reset()
			b.StartTimer()
		}
		body := bodies[i%pool]
		req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "pull_request")
		req.Header.Set("X-GitHub-Delivery", "bench")
		req.Header.Set("X-Hub-Signature-256", sign(testSecret, body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
}
