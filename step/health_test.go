package step

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

func TestDeploymentStatus(t *testing.T) {
	dep := func(gen, observed int64, replicas int32, st appsv1.DeploymentStatus) *appsv1.Deployment {
		st.ObservedGeneration = observed
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: gen},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)}, Status: st}
	}
	cases := map[string]struct {
		d         *appsv1.Deployment
		wantReady bool
		wantMsg   string
		wantErr   error
	}{
		"available": {d: dep(2, 2, 2, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}), wantReady: true, wantMsg: "2/2 available"},
		"not observed yet": {d: dep(3, 2, 1, appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}),
			wantMsg: "observe the new spec"},
		"updating": {d: dep(1, 1, 2, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 2}), wantMsg: "waiting for updated replicas"},
		"old replicas terminating": {d: dep(1, 1, 1, appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 1}),
			wantMsg: "1 old replicas pending termination"},
		"not available":  {d: dep(1, 1, 1, appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1}), wantMsg: "waiting for replicas to become available"},
		"scaled to zero": {d: dep(1, 1, 0, appsv1.DeploymentStatus{}), wantReady: true},
		"progress deadline exceeded": {d: dep(1, 1, 1, appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, Conditions: []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-1" has timed out progressing.`}}}),
			wantMsg: "has timed out progressing", wantErr: errRolloutFailed},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ready, msg, err := deploymentStatus(tc.d)
			assert.Check(t, is.Equal(ready, tc.wantReady))
			assert.Check(t, is.Contains(msg, tc.wantMsg))
			if tc.wantErr != nil {
				assert.Check(t, errors.Is(err, tc.wantErr))
			} else {
				assert.Check(t, err)
			}
		})
	}
}

func TestStatefulSetStatus(t *testing.T) {
	sts := func(replicas int32, st appsv1.StatefulSetStatus) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Generation: 1},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(replicas)}, Status: st}
	}
	cases := map[string]struct {
		s         *appsv1.StatefulSet
		wantReady bool
		wantMsg   string
	}{
		"ready":        {s: sts(2, appsv1.StatefulSetStatus{ObservedGeneration: 1, ReadyReplicas: 2, AvailableReplicas: 2, CurrentRevision: "a", UpdateRevision: "a"}), wantReady: true},
		"not ready":    {s: sts(2, appsv1.StatefulSetStatus{ObservedGeneration: 1, ReadyReplicas: 1, AvailableReplicas: 1}), wantMsg: "waiting for replicas"},
		"rolling":      {s: sts(1, appsv1.StatefulSetStatus{ObservedGeneration: 1, ReadyReplicas: 1, AvailableReplicas: 1, CurrentRevision: "a", UpdateRevision: "b"}), wantMsg: "rolling update"},
		"not observed": {s: sts(1, appsv1.StatefulSetStatus{}), wantMsg: "observe the new spec"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ready, msg := statefulSetStatus(tc.s)
			assert.Check(t, is.Equal(ready, tc.wantReady))
			assert.Check(t, is.Contains(msg, tc.wantMsg))
		})
	}
}

func TestHealthURL(t *testing.T) {
	cases := map[string]struct {
		base, path, want, wantErr string
	}{
		"plain":          {base: "https://1-web.preview.test", path: "/healthz", want: "https://1-web.preview.test/healthz"},
		"trailing slash": {base: "http://h:8080/", path: "/healthz", want: "http://h:8080/healthz"},
		"base path":      {base: "http://h/app", path: "/ready?full=1", want: "http://h/app/ready?full=1"},
		"no host":        {base: "/relative", path: "/healthz", wantErr: "not an http(s) URL"},
		"scheme":         {base: "ftp://h", path: "/", wantErr: "not an http(s) URL"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			u, err := healthURL(tc.base, tc.path)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, u.String(), tc.want)
		})
	}
}

func TestProbe(t *testing.T) {
	cases := map[string]struct {
		failures  int32 // answers 503 this many times first
		hang      bool
		timeout   time.Duration
		connectTo bool
		wantErr   string
		wantCalls int32
	}{
		"first try":               {wantCalls: 1},
		"after failures":          {failures: 3, wantCalls: 4},
		"through connect-to":      {failures: 1, connectTo: true, wantCalls: 2},
		"never healthy":           {failures: 1 << 30, timeout: 300 * time.Millisecond, wantErr: "503 Service Unavailable: warming up"},
		"request timeout reached": {hang: true, timeout: 300 * time.Millisecond, wantErr: "attempts, last:"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				if tc.connectTo && r.Host != "7-web.preview.test" {
					t.Errorf("Host %q, want the preview host", r.Host)
				}
				if r.URL.Path != "/healthz" {
					t.Errorf("path %q", r.URL.Path)
				}
				if tc.hang {
					<-r.Context().Done()
					return
				}
				if n <= tc.failures {
					http.Error(w, "warming up", http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			base := srv.URL
			o := HealthOptions{Path: "/healthz", RequestTimeout: 100 * time.Millisecond, Backoff: Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}}
			if tc.connectTo {
				base = "http://7-web.preview.test"
				o.ConnectTo = strings.TrimPrefix(srv.URL, "http://")
			}
			target, err := healthURL(base, o.Path)
			assert.NilError(t, err)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := contextWithTimeout(t, timeout)
			defer cancel()
			r := &Runner{Log: zaptest.NewLogger(t), Out: &bytes.Buffer{}, Clock: clock.RealClock{}}
			err = r.probe(ctx, r.Log, target, o)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, calls.Load(), tc.wantCalls)
		})
	}
}

func TestCanonicalHostPort(t *testing.T) {
	for in, want := range map[string]string{"https://h": "h:443", "http://h": "h:80", "http://h:8080": "h:8080", "https://[::1]": "[::1]:443"} {
		u, err := url.Parse(in)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(canonicalHostPort(u), want), in)
	}
}
