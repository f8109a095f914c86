package preview

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"gotest.tools/v3/assert"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func quota(hard, used map[string]string) corev1.ResourceQuota {
	list := func(m map[string]string) corev1.ResourceList {
		out := corev1.ResourceList{}
		for k, v := range m {
			out[corev1.ResourceName(k)] = resource.MustParse(v)
		}
		return out
	}
	return corev1.ResourceQuota{Status: corev1.ResourceQuotaStatus{Hard: list(hard), Used: list(used)}}
}

func TestUsageOf(t *testing.T) {
	hard := map[string]string{"requests.cpu": "4", "requests.memory": "8Gi", "pods": "30"}
	tests := map[string]struct {
		quotas    []corev1.ResourceQuota
		nilUsage  bool
		cpu, mem  string
		exhausted []string
	}{
		"no quota":     {nilUsage: true},
		"within quota": {quotas: []corev1.ResourceQuota{quota(hard, map[string]string{"requests.cpu": "250m", "requests.memory": "256Mi", "pods": "2"})}, cpu: "250m/4", mem: "256Mi/8Gi"},
		"at the limit is over: the next pod is refused": {
			quotas: []corev1.ResourceQuota{quota(hard, map[string]string{"requests.cpu": "4", "requests.memory": "1Gi", "pods": "30"})},
			cpu:    "4/4", mem: "1Gi/8Gi", exhausted: []string{"pods", "requests.cpu"},
		},
		"lowered below use": {
			quotas: []corev1.ResourceQuota{quota(map[string]string{"requests.memory": "1Gi"}, map[string]string{"requests.memory": "2Gi"})},
			cpu:    "0", mem: "2Gi/1Gi", exhausted: []string{"requests.memory"},
		},
		"plain cpu quota counts when requests.cpu is not limited": {
			quotas: []corev1.ResourceQuota{quota(map[string]string{"cpu": "2", "memory": "1Gi"}, map[string]string{"cpu": "1", "memory": "100Mi"})},
			cpu:    "1/2", mem: "100Mi/1Gi",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u := usageOf(tc.quotas)
			if tc.nilUsage {
				assert.Assert(t, u == nil)
				return
			}
			show := func(a Amount) string {
				if a.Hard == nil {
					return a.Used.String()
				}
				return a.Used.String() + "/" + a.Hard.String()
			}
			assert.Equal(t, show(u.CPU), tc.cpu)
			assert.Equal(t, show(u.Memory), tc.mem)
			assert.DeepEqual(t, u.Exhausted, tc.exhausted)
			assert.Equal(t, u.OverQuota, len(tc.exhausted) > 0)
		})
	}
}

// TestAPIMetrics reads metrics.k8s.io as metrics-server serves it (over HTTP, through the
// apiserver path), and reports nothing, without error, where it is not served.
func TestAPIMetrics(t *testing.T) {
	tests := map[string]struct {
		status int
		body   string
		cpu    string
		none   bool
	}{
		"served": {status: 200, body: `{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":[
			{"metadata":{"name":"web-1"},"containers":[{"name":"app","usage":{"cpu":"150m","memory":"100Mi"}},{"name":"proxy","usage":{"cpu":"50m","memory":"20Mi"}}]},
			{"metadata":{"name":"web-2"},"containers":[{"name":"app","usage":{"cpu":"1","memory":"1Gi"}}]}]}`, cpu: "1200m"},
		"no metrics-server":      {status: 404, body: `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`, none: true},
		"metrics-server is down": {status: 503, body: `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","code":503}`, none: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/apis/metrics.k8s.io/v1beta1/namespaces/pr-shop-42/pods" {
					t.Errorf("unexpected path %s", r.URL.Path)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			kube := kubernetes.NewForConfigOrDie(&rest.Config{Host: srv.URL})
			live, err := apiMetrics{kube}.NamespaceUsage(t.Context(), "pr-shop-42")
			assert.NilError(t, err)
			if tc.none {
				assert.Assert(t, live == nil)
				return
			}
			assert.Equal(t, live.CPU.String(), tc.cpu)
			want := resource.MustParse("1144Mi")
			assert.Equal(t, live.Memory.Cmp(want), 0, "memory %s", live.Memory.String())
		})
	}
}

func TestKindOf(t *testing.T) {
	gr := schema.GroupResource{Resource: "namespaces"}
	tests := map[string]struct {
		err  error
		want Kind
	}{
		"not found":      {err: apierrors.NewNotFound(gr, "x"), want: KindNotFound},
		"forbidden":      {err: apierrors.NewForbidden(gr, "x", errors.New("no")), want: KindForbidden},
		"conflict":       {err: apierrors.NewConflict(gr, "x", errors.New("changed")), want: KindConflict},
		"invalid":        {err: apierrors.NewBadRequest("bad"), want: KindInvalid},
		"timeout":        {err: context.DeadlineExceeded, want: KindUnavailable},
		"wrapped ours":   {err: fmt.Errorf("op: %w", newError(KindConflict, nil, "x")), want: KindConflict},
		"wrapped theirs": {err: wrap(apierrors.NewNotFound(gr, "x"), "get"), want: KindNotFound},
		"other":          {err: errors.New("boom"), want: KindInternal},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, KindOf(tc.err), tc.want)
		})
	}
	assert.Assert(t, errors.Is(wrap(apierrors.NewNotFound(gr, "x"), "get"), ErrNotFound))
	assert.Assert(t, !errors.Is(wrap(apierrors.NewNotFound(gr, "x"), "get"), ErrForbidden))
}
