package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/catalyst-preview/catalyst/trigger/record"
	k8stesting "k8s.io/client-go/testing"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
)

type webhookFixture struct {
	kube    *fake.Clientset
	handler http.Handler
}

func newWebhookFixture(t testing.TB, cfg *config.Config, objects ...runtime.Object) *webhookFixture {
	t.Helper()
	kube := fake.NewClientset(objects...)
	store := record.NewStore(kube, cfg, systemNS, func() time.Time { return testNow })
	h := NewHandler(func() [][]byte { return [][]byte{[]byte(testSecret), []byte(testNextSecret)} }, store, zap.NewNop(), nil)
	return &webhookFixture{kube: kube, handler: h}
}

func (f *webhookFixture) deliver(t testing.TB, eventType, deliveryID string, body []byte, secret string) (*httptest.ResponseRecorder, webhookAnswer) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", eventType)
	req.Header.Set("X-GitHub-Delivery", deliveryID)
	req.Header.Set("X-Hub-Signature-256", sign(secret, body))
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	var answer webhookAnswer
	assert.NilError(t, json.Unmarshal(rec.Body.Bytes(), &answer), rec.Body.String())
	return rec, answer
}

func (f *webhookFixture) namespace(t testing.TB, name string) *corev1.Namespace {
	t.Helper()
	ns, err := f.kube.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
	assert.NilError(t, err)
	return ns
}

// Every recorded delivery replayed through the real handler against an empty cluster.
func TestWebhookRecordedDeliveries(t *testing.T) {
	tests := map[string]struct {
		result    string
		namespace string            // namespace expected to exist afterwards
		pending   string            // pending record expected to exist afterwards
		ann       map[string]string // expected annotations on the record
	}{
		"pull_request.opened": {result: "recorded", namespace: "pr-shop-42", ann: map[string]string{
			preview.AnnotationHeadSHA: sha1, preview.AnnotationPRState: "open", preview.AnnotationInstallationID: "4242",
			preview.AnnotationAuthor: "alice", preview.AnnotationDraft: "false", preview.AnnotationRepo: "acme/shop",
			preview.AnnotationPreviewHost: "42-shop.preview.example.com", preview.AnnotationCloneURL: "https://github.com/acme/shop.git",
		}},
		"pull_request.synchronize":        {result: "recorded", namespace: "pr-shop-42", ann: map[string]string{preview.AnnotationHeadSHA: sha2, preview.AnnotationHeadBefore: sha1}},
		"pull_request.reopened":           {result: "recorded", namespace: "pr-shop-42", ann: map[string]string{preview.AnnotationPRState: "open"}},
		"pull_request.ready_for_review":   {result: "recorded", namespace: "pr-shop-42", ann: map[string]string{preview.AnnotationDraft: "false"}},
		"pull_request.converted_to_draft": {result: "recorded", pending: "pr-shop-42", ann: map[string]string{preview.AnnotationDraft: "true", preview.AnnotationGate: preview.GateDraft}},
		"pull_request.labeled":            {result: "recorded", namespace: "pr-shop-42", ann: map[string]string{preview.AnnotationPRLabels: `["preview"]`}},
		"pull_request.unlabeled":          {result: "recorded", namespace: "pr-shop-42", ann: map[string]string{preview.AnnotationPRLabels: `[]`}},
		"pull_request.closed":             {result: "unchanged"},
		"pull_request.closed-merged":      {result: "unchanged"},
		"pull_request.opened-fork": {result: "recorded", pending: "pr-shop-77", ann: map[string]string{
			preview.AnnotationGate: preview.GateApproval, preview.AnnotationFork: "true", preview.AnnotationAuthorAssociation: "FIRST_TIME_CONTRIBUTOR",
		}},
		"pull_request.assigned":    {result: "ignored"},
		"issue_comment.retest":     {result: "unchanged"},
		"issue_comment.cancel":     {result: "unchanged"},
		"issue_comment.ok-to-test": {result: "unchanged"},
		"issue_comment.no-command": {result: "ignored"},
		"issue_comment.on-issue":   {result: "ignored"},
		"check_run.rerequested":    {result: "unchanged"},
		"check_suite.rerequested":  {result: "unchanged"},
		"ping":                     {result: "ignored"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newWebhookFixture(t, testConfig(t))
			eventType, body := delivery(t, name)
			rec, answer := f.deliver(t, eventType, "delivery-"+name, body, testSecret)
			assert.Equal(t, rec.Code, http.StatusAccepted, rec.Body.String())
			assert.Equal(t, answer.Result, tc.result, rec.Body.String())
			assert.Equal(t, answer.Delivery, "delivery-"+name)
			var ann map[string]string
			switch {
			case tc.namespace != "":
				ns := f.namespace(t, tc.namespace)
				ann = ns.Annotations
				assert.Equal(t, ns.Labels[preview.LabelManaged], "true")
				assert.Equal(t, ns.Labels[preview.LabelPR], "42")
				assert.Equal(t, ns.Labels["pod-security.kubernetes.io/enforce"], "baseline")
				assert.Equal(t, ns.Labels["pod-security.kubernetes.io/warn"], "restricted")
			case tc.pending != "":
				cm, err := f.kube.CoreV1().ConfigMaps(systemNS).Get(context.Background(), tc.pending, metav1.GetOptions{})
				assert.NilError(t, err)
				ann = cm.Annotations
				nss, err := f.kube.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
				assert.NilError(t, err)
				assert.Check(t, is.Len(nss.Items, 0), "a pull request that may not deploy gets no namespace")
			default:
				assert.Check(t, is.Len(writes(f.kube), 0))
			}
			for k, v := range tc.ann {
				assert.Check(t, is.Equal(ann[k], v), k)
			}
		})
	}
}

// The commands act on a recorded pull request: the full sequence a PR goes through.
func TestWebhookCommandsOnRecordedPR(t *testing.T) {
	f := newWebhookFixture(t, testConfig(t))
	replay := func(name, id string) webhookAnswer {
		eventType, body := delivery(t, name)
		rec, answer := f.deliver(t, eventType, id, body, testSecret)
		assert.Equal(t, rec.Code, http.StatusAccepted, rec.Body.String())
		return answer
	}
	assert.Equal(t, replay("pull_request.opened", "d1").Result, "recorded")
	assert.Equal(t, replay("pull_request.synchronize", "d2").Result, "recorded")

	a := replay("issue_comment.retest", "d3")
	assert.Equal(t, a.Result, "recorded")
	ns := f.namespace(t, "pr-shop-42")
	assert.Equal(t, ns.Annotations[preview.AnnotationRetestSHA], sha2)
	assert.Equal(t, ns.Annotations[preview.AnnotationRetestNonce], "d3")

	// GitHub redelivers: same delivery ID, nothing new.
	assert.Equal(t, replay("issue_comment.retest", "d3").Result, "unchanged")
	// A second /retest is a second request.
	assert.Equal(t, replay("issue_comment.retest", "d4").Result, "recorded")

	assert.Equal(t, replay("check_run.rerequested", "d5").Result, "recorded")
	assert.Equal(t, f.namespace(t, "pr-shop-42").Annotations[preview.AnnotationRetestNonce], "d5")
	assert.Equal(t, replay("check_suite.rerequested", "d6").Result, "recorded")

	assert.Equal(t, replay("issue_comment.cancel", "d7").Result, "recorded")
	assert.Equal(t, f.namespace(t, "pr-shop-42").Annotations[preview.AnnotationCancelSHA], sha2)

	// The stale opened delivery (older updated_at) arrives late: no regression to sha1.
	a = replay("pull_request.opened", "d1-late")
	assert.Equal(t, a.Result, "unchanged")
	assert.Check(t, strings.Contains(a.Reason, "stale"), a.Reason)
	assert.Equal(t, f.namespace(t, "pr-shop-42").Annotations[preview.AnnotationHeadSHA], sha2)

	assert.Equal(t, replay("pull_request.closed", "d8").Result, "recorded")
	ns = f.namespace(t, "pr-shop-42")
	assert.Equal(t, ns.Annotations[preview.AnnotationPRState], "closed")
	assert.Equal(t, ns.Annotations[preview.AnnotationGate], preview.GateClosed)
}

func TestWebhookUntrustedForkWaitsForApproval(t *testing.T) {
	f := newWebhookFixture(t, testConfig(t))
	eventType, body := delivery(t, "pull_request.opened-fork")
	_, a := f.deliver(t, eventType, "f1", body, testSecret)
	assert.Equal(t, a.Result, "recorded")
	eventType, body = delivery(t, "issue_comment.ok-to-test")
	_, a = f.deliver(t, eventType, "f2", body, testSecret)
	assert.Equal(t, a.Result, "recorded")
	cm, err := f.kube.CoreV1().ConfigMaps(systemNS).Get(context.Background(), "pr-shop-77", metav1.GetOptions{})
	assert.NilError(t, err)
	// The comment alone is not an approval: the reconciler checks bob's permission on GitHub.
	assert.Equal(t, cm.Annotations[preview.AnnotationApprovalRequestBy], "bob")
	assert.Equal(t, cm.Annotations[preview.AnnotationApprovalRequestAt], sha1)
	assert.Equal(t, cm.Annotations[preview.AnnotationApprovedSHA], "")
}

func TestWebhookBadRequests(t *testing.T) {
	_, opened := delivery(t, "pull_request.opened")
	tests := map[string]struct {
		method  string
		body    []byte
		headers map[string]string
		status  int
	}{
		"wrong method":              {method: http.MethodGet, status: http.StatusMethodNotAllowed},
		"missing signature":         {headers: map[string]string{"X-Hub-Signature-256": ""}, status: http.StatusUnauthorized},
		"signature of other body":   {headers: map[string]string{"X-Hub-Signature-256": sign(testSecret, []byte("{}"))}, status: http.StatusUnauthorized},
		"signature with wrong key":  {headers: map[string]string{"X-Hub-Signature-256": sign("guess", opened)}, status: http.StatusUnauthorized},
		"sha1 signature only":       {headers: map[string]string{"X-Hub-Signature-256": "", "X-Hub-Signature": "sha1=0123"}, status: http.StatusUnauthorized},
		"signature not hex":         {headers: map[string]string{"X-Hub-Signature-256": "sha256=zz"}, status: http.StatusUnauthorized},
		"body over 25 MiB":          {body: bytes.Repeat([]byte(" "), MaxPayloadBytes+1), status: http.StatusRequestEntityTooLarge},
		"malformed JSON":            {body: []byte(`{"action":"opened",`), status: http.StatusBadRequest},
		"JSON of the wrong shape":   {body: []byte(`{"action":"opened","number":"forty-two"}`), status: http.StatusBadRequest},
		"missing event header":      {headers: map[string]string{"X-GitHub-Event": ""}, status: http.StatusBadRequest},
		"missing delivery header":   {headers: map[string]string{"X-GitHub-Delivery": ""}, status: http.StatusBadRequest},
		"unsupported content type":  {headers: map[string]string{"Content-Type": "text/plain"}, status: http.StatusBadRequest},
		"pull request without head": {body: []byte(`{"action":"opened","number":1,"pull_request":{"number":1},"repository":{"full_name":"acme/shop"}}`), status: http.StatusBadRequest},
		"unknown event type":        {headers: map[string]string{"X-GitHub-Event": "sponsorship"}, status: http.StatusAccepted},
		"second secret (rotation)":  {headers: map[string]string{"X-Hub-Signature-256": sign(testNextSecret, opened)}, status: http.StatusAccepted},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newWebhookFixture(t, testConfig(t))
			body := opened
			if tc.body != nil {
				body = tc.body
			}
			method := http.MethodPost
			if tc.method != "" {
				method = tc.method
			}
			req := httptest.NewRequest(method, "/webhook", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-GitHub-Event", "pull_request")
			req.Header.Set("X-GitHub-Delivery", "bad-1")
			req.Header.Set("X-Hub-Signature-256", sign(testSecret, body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			assert.Equal(t, rec.Code, tc.status, rec.Body.String())
			var answer webhookAnswer
			assert.NilError(t, json.Unmarshal(rec.Body.Bytes(), &answer))
			if tc.status >= 400 {
				assert.Check(t, answer.Reason != "", "a rejection says why")
				assert.Check(t, is.Len(writes(f.kube), 0), "nothing is written for a rejected request")
			}
		})
	}
}

// A failing apiserver is a 503: GitHub's delivery log shows it, and the delivery can be redelivered.
func TestWebhookRecordFailureIs503(t *testing.T) {
	f := newWebhookFixture(t, testConfig(t))
	f.kube.PrependReactor("create", "namespaces", func(action k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, fmt.Errorf("etcdserver: request timed out")
	})
	eventType, body := delivery(t, "pull_request.opened")
	rec, answer := f.deliver(t, eventType, "x", body, testSecret)
	assert.Equal(t, rec.Code, http.StatusServiceUnavailable)
	assert.Check(t, is.Contains(answer.Reason, "request timed out"))
}

func TestWebhookFormEncodedPayload(t *testing.T) {
	f := newWebhookFixture(t, testConfig(t))
	_, payload := delivery(t, "pull_request.opened")
	body := []byte("payload=" + url.QueryEscape(string(payload)))
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-GitHub-Event", "pull_request")
	req.Header.Set("X-GitHub-Delivery", "form-1")
	req.Header.Set("X-Hub-Signature-256", sign(testSecret, body))
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	assert.Equal(t, rec.Code, http.StatusAccepted, rec.Body.String())
	f.namespace(t, "pr-shop-42")
}
