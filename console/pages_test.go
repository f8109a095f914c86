package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/preview/previewtest"
)

var fixedNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// fixture is the console in development mode over fake clients holding acme/shop#42 (a
// succeeded run) and its quota.
type fixture struct {
	kube    *fake.Clientset
	tekton  *tektonfake.Clientset
	server  *Server
	allowed bool // the SelfSubjectAccessReviews' answer
}

func newFixture(t testing.TB, extra ...runtime.Object) *fixture {
	objs := previewtest.Parse(t, previewtest.Docs(
		previewtest.NamespaceYAML(),
		previewtest.RunYAML("catalyst-preview-aaaaaaa-1", 1, "", `conditions:
- {type: Succeeded, status: "True", reason: Succeeded, message: "Tasks Completed: 3"}
startTime: "2026-11-30T10:00:02Z"
completionTime: "2026-11-30T10:01:02Z"
`+previewtest.ChildrenAll),
		previewtest.TaskRunYAML("run-build", "build", `conditions: [{type: Succeeded, status: "True", reason: Succeeded}]`),
		previewtest.TaskRunYAML("run-deploy", "deploy", `conditions: [{type: Succeeded, status: "True", reason: Succeeded}]`),
		previewtest.TaskRunYAML("run-healthcheck", "healthcheck", `conditions: [{type: Succeeded, status: "True", reason: Succeeded}]`),
	))
	kubeObjs := append([]runtime.Object{objs.Namespace(), quota("pr-shop-42", "3", "4")}, extra...)
	var tektonObjs []runtime.Object
	for _, r := range objs.PipelineRuns {
		tektonObjs = append(tektonObjs, r)
	}
	for _, r := range objs.TaskRuns {
		tektonObjs = append(tektonObjs, r)
	}
	f := &fixture{kube: fake.NewClientset(kubeObjs...), tekton: tektonfake.NewSimpleClientset(tektonObjs...), allowed: true}
	f.kube.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		review := a.(k8stesting.CreateAction).GetObject().(*authzv1.SelfSubjectAccessReview).DeepCopy()
		review.Status.Allowed = f.allowed
		if !f.allowed {
			review.Status.Reason = "no RBAC policy matched"
		}
		return true, review, nil
	})
	var err error
	f.server, err = New(Options{Kube: nowhere, PublicURL: "http://127.0.0.1:8080", Dev: &Identity{User: "developer"}, Now: func() time.Time { return fixedNow },
		ClientsFor: func(Identity) (Clients, error) { return Clients{Kube: f.kube, Tekton: f.tekton}, nil }})
	assert.NilError(t, err)
	return f
}

func quota(ns, usedCPU, hardCPU string) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "catalyst-quota", Namespace: ns, Labels: map[string]string{preview.LabelManaged: preview.ManagedTrue}},
		Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse(hardCPU), corev1.ResourceRequestsMemory: resource.MustParse("8Gi")},
			Used: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse(usedCPU), corev1.ResourceRequestsMemory: resource.MustParse("1Gi")},
		},
	}
}

// do sends a request as a browser on this machine would (development identity).
func (f *fixture) do(method, target string, form url.Values, accept string) *http.Response {
	var body io.Reader
	if form != nil {
		if form.Get("csrf") == "" {
			form.Set("csrf", f.server.devCSRF)
		}
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	req.Host = "127.0.0.1:8080"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", accept)
	return f.serve(req)
}

// request is a request without a body as do sends it, to add headers to before serve.
func (f *fixture) request(method, target, accept string) *http.Request {
	req := httptest.NewRequest(method, target, nil)
	req.Host = "127.0.0.1:8080"
	req.Header.Set("Accept", accept)
	return req
}

func (f *fixture) serve(req *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	f.server.Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	assert.NilError(t, err)
	return string(b)
}

const html = "text/html"

func TestListPage(t *testing.T) {
	f := newFixture(t, namespace("pr-web-7", "acme/web", 7), quota("pr-web-7", "4", "4"))
	resp := f.do(http.MethodGet, "/", nil, html)
	page := readAll(t, resp)
	assert.Equal(t, resp.StatusCode, http.StatusOK, page)
	assert.Check(t, is.Contains(page, `<a href="/environments/pr-shop-42">acme/shop#42</a>`))
	assert.Check(t, is.Contains(page, `<span class="state state-ready">ready</span>`))
	assert.Check(t, is.Contains(page, `<a href="https://42-shop.preview.example.com" rel="noopener noreferrer">open</a>`))
	assert.Check(t, is.Contains(page, `3 / 4`), "CPU against quota")
	assert.Check(t, is.Contains(page, `<tr id="env-pr-web-7" class="over">`), "over quota row")
	assert.Check(t, is.Contains(page, `over quota: requests.cpu`))
	assert.Check(t, is.Contains(page, `2 environments`))

	// filters: the same through the page and the API
	page = readAll(t, f.do(http.MethodGet, "/?state=ready", nil, html))
	assert.Check(t, is.Contains(page, "pr-shop-42"))
	assert.Check(t, !strings.Contains(page, "env-pr-web-7"))
	var list preview.List
	resp = f.do(http.MethodGet, "/api/v1/environments?repo=acme/web", nil, "application/json")
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&list))
	assert.Check(t, is.Len(list.Items, 1))
	assert.Check(t, is.Equal(list.Items[0].Namespace, "pr-web-7"))
}

func namespace(name, repo string, pr int) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(fixedNow.Add(-3 * time.Hour)),
		Labels: map[string]string{preview.LabelManaged: preview.ManagedTrue, preview.LabelPR: fmt.Sprint(pr), preview.LabelRepo: preview.RepoLabelValue(repo)},
		Annotations: map[string]string{preview.AnnotationRepo: repo, preview.AnnotationPRState: preview.PRStateOpen,
			preview.AnnotationHeadSHA: strings.Repeat("b", 40)}}}
}

func TestEnvironmentPage(t *testing.T) {
	f := newFixture(t)
	page := readAll(t, f.do(http.MethodGet, "/environments/pr-shop-42", nil, html))
	assert.Check(t, is.Contains(page, `<h1>acme/shop#42 <span class="state state-ready">ready</span></h1>`))
	for _, want := range []string{
		`<a href="/environments/pr-shop-42/logs?run=catalyst-preview-aaaaaaa-1">catalyst-preview-aaaaaaa-1</a>`,
		`<a href="/environments/pr-shop-42/logs?run=catalyst-preview-aaaaaaa-1&amp;task=deploy">deploy</a>`,
		`took 1m0s`,
		`tkn pipelinerun logs catalyst-preview-aaaaaaa-1 -n pr-shop-42`,
		`<a href="https://github.com/acme/shop/pull/42" rel="noopener noreferrer">acme/shop#42</a>`,
		`<button type="submit">Retry</button>`,
	} {
		assert.Check(t, is.Contains(page, want))
	}
	f.allowed = false
	page = readAll(t, f.do(http.MethodGet, "/environments/pr-shop-42", nil, html))
	assert.Check(t, is.Contains(page, `<button type="submit" disabled aria-describedby="why-Retry">Retry</button><span class="why" id="why-Retry">you may not patch namespaces here (no RBAC policy matched)</span>`))
	assert.Check(t, is.Contains(page, `id="why-delete">you may not patch namespaces here`))
}

// Every API error has the shape {"error": {"code", "message"}} with the status the code means.
func TestAPIErrors(t *testing.T) {
	f := newFixture(t)
	f.kube.PrependReactor("get", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.GetAction).GetName() == "pr-secret-1" {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "pr-secret-1", fmt.Errorf(`User "developer" cannot get resource "namespaces"`))
		}
		return false, nil, nil
	})
	for name, tc := range map[string]struct {
		method, target, body string
		status               int
		code, message        string
	}{
		"unknown environment":   {"GET", "/api/v1/environments/pr-nope-1", "", 404, "NotFound", "environment pr-nope-1 not found"},
		"not a namespace name":  {"GET", "/api/v1/environments/Bad_Name", "", 400, "Invalid", "neither OWNER/REPO#NUMBER nor a namespace name"},
		"forbidden":             {"GET", "/api/v1/environments/pr-secret-1", "", 403, "Forbidden", `cannot get resource "namespaces"`},
		"unknown state":         {"GET", "/api/v1/environments?state=sleeping", "", 400, "Invalid", `unknown state "sleeping"`},
		"bad tail":              {"GET", "/api/v1/environments/pr-shop-42/logs?app=1&tail=many", "", 400, "Invalid", "tail must be a whole number"},
		"tail without app":      {"GET", "/api/v1/environments/pr-shop-42/logs?tail=5", "", 400, "Invalid", "apply to application logs"},
		"keep without a body":   {"POST", "/api/v1/environments/pr-shop-42/keep", "{}", 400, "Invalid", `{"keep": true}`},
		"unknown endpoint":      {"GET", "/api/v1/nothing", "", 404, "NotFound", "no such API endpoint"},
		"retry a closed PR":     {"POST", "/api/v1/environments/pr-closed-9/retry", "", 400, "Invalid", "nothing to retry"},
		"delete without a CSRF": {"DELETE", "/api/v1/environments/pr-shop-42", "nocsrf", 403, "CSRF", "reload the page"},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "retry a closed PR" {
				ns := namespace("pr-closed-9", "acme/closed", 9)
				ns.Annotations[preview.AnnotationPRState] = preview.PRStateClosed
				_, err := f.kube.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{})
				assert.NilError(t, err)
			}
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			req.Host = "127.0.0.1"
			if tc.body != "nocsrf" {
				req.Header.Set("X-CSRF-Token", f.server.devCSRF)
			}
			rec := httptest.NewRecorder()
			f.server.Handler().ServeHTTP(rec, req)
			assert.Check(t, is.Equal(rec.Code, tc.status))
			assert.Check(t, is.Equal(rec.Header().Get("Content-Type"), "application/json"))
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			assert.NilError(t, json.NewDecoder(rec.Body).Decode(&body))
			assert.Check(t, is.Equal(body.Error.Code, tc.code))
			assert.Check(t, is.Contains(body.Error.Message, tc.message))
		})
	}
}

// Deleting needs the namespace typed; the request is recorded as the person.
func TestDeleteNeedsConfirmation(t *testing.T) {
	f := newFixture(t)
	resp := f.do(http.MethodPost, "/environments/pr-shop-42/delete", url.Values{"confirm": {"pr-shop-4"}}, html)
	assert.Check(t, is.Equal(resp.StatusCode, http.StatusBadRequest))
	assert.Check(t, is.Contains(readAll(t, resp), "type the namespace name pr-shop-42"))
	ns, err := f.kube.CoreV1().Namespaces().Get(t.Context(), "pr-shop-42", metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, !preview.RemovalRequested(ns.Annotations))

	resp = f.do(http.MethodPost, "/environments/pr-shop-42/delete", url.Values{"confirm": {"pr-shop-42"}}, html)
	assert.Check(t, is.Equal(resp.StatusCode, http.StatusSeeOther))
	assert.Check(t, is.Equal(resp.Header.Get("Location"), "/environments/pr-shop-42?done=delete"))
	ns, err = f.kube.CoreV1().Namespaces().Get(t.Context(), "pr-shop-42", metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, preview.RemovalRequested(ns.Annotations))
	assert.Check(t, is.Equal(ns.Annotations[preview.AnnotationRemoveBy], "developer"))

	page := readAll(t, f.do(http.MethodGet, "/environments/pr-shop-42?done=delete", nil, html))
	assert.Check(t, is.Contains(page, `<p class="flash" role="status">Removal requested`))
}
