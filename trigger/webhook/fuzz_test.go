package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/catalyst-preview/catalyst/trigger/record"
)

// FuzzWebhook feeds arbitrary signed bodies and event types through the real handler and store.
// The handler must never panic, must answer only with the documented codes, and must write
// nothing for a request it rejects.
func FuzzWebhook(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "deliveries", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no recorded deliveries: %v", err)
	}
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		eventType, _, _ := strings.Cut(filepath.Base(file), ".")
		f.Add(eventType, body)
	}
	f.Add("pull_request", []byte(`{"action":"opened","number":1,"pull_request":{"head":{"sha":"x"}},"repository":{"full_name":"a/b"}}`))
	f.Add("issue_comment", []byte(`{"action":"created","issue":{"number":1,"pull_request":{}},"comment":{"body":"/retest"},"repository":{"full_name":"acme/shop"}}`))
	cfg := testConfig(f)
	allowed := map[int]bool{http.StatusAccepted: true, http.StatusBadRequest: true, http.StatusServiceUnavailable: true}
	f.Fuzz(func(t *testing.T, eventType string, body []byte) {
		kube := fake.NewClientset()
		store := record.NewStore(kube, cfg, systemNS, func() time.Time { return testNow })
		h := NewHandler(func() [][]byte { return [][]byte{[]byte(testSecret)} }, store, zap.NewNop(), nil)
		req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", eventType)
		req.Header.Set("X-GitHub-Delivery", "fuzz")
		req.Header.Set("X-Hub-Signature-256", sign(testSecret, body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body.String())
		}
		if rec.Code != http.StatusAccepted && len(writes(kube)) > 0 {
			t.Fatalf("status %d but wrote %v", rec.Code, writes(kube))
		}
		if rec.Code == http.StatusServiceUnavailable {
			t.Fatalf("the fake apiserver never fails, yet recording failed: %s", rec.Body.String())
		}
	})
}
