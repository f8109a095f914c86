package step

import (
	"bytes"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"k8s.io/client-go/rest"
)

// Local mistakes are reported before the cluster is contacted; an API server that does not
// answer is named.
func TestDeployOrderOfChecks(t *testing.T) {
	cases := map[string]struct {
		opts    func(o *DeployOptions)
		wantErr string
	}{
		"chart error first": {opts: func(o *DeployOptions) { o.Chart = "charts/nope" }, wantErr: "chart charts/nope not found"},
		"then the cluster":  {wantErr: "cannot reach the Kubernetes API server at https://127.0.0.1:1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			clients, err := NewClients(&rest.Config{Host: "https://127.0.0.1:1", Timeout: 2 * time.Second}, "pr-web-1")
			assert.NilError(t, err)
			r := New(clients, zaptest.NewLogger(t), &bytes.Buffer{})
			o := deployOpts("..")
			if tc.opts != nil {
				tc.opts(&o)
			}
			_, err = r.Deploy(t.Context(), o)
			assert.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestPreviewURL(t *testing.T) {
	for _, tc := range []struct{ scheme, host, want string }{
		{"https", "1-web.preview.test", "https://1-web.preview.test"},
		{"http", "h", "http://h"},
		{"", "h", "https://h"},
		{"https", "", ""},
	} {
		assert.Equal(t, PreviewURL(tc.scheme, tc.host), tc.want)
	}
}

// The messages are ResourceQuota admission's, as the e2e tests record them
// (step/testdata/diagnostics/manifest.json).
func TestQuotaHint(t *testing.T) {
	const lb = `services "web" is forbidden: exceeded quota: catalyst-quota, requested: services.loadbalancers=1,services.nodeports=1, used: services.loadbalancers=0,services.nodeports=0, limited: services.loadbalancers=0,services.nodeports=0`
	tests := map[string]struct {
		msg, want string
	}{
		"LoadBalancer": {msg: lb, want: "quota limits LoadBalancer and NodePort Services (none by default; preview.quota in the Catalyst configuration): set the Service type to ClusterIP"},
		"NodePort": {msg: `services "web" is forbidden: exceeded quota: catalyst-quota, requested: services.nodeports=1, used: services.nodeports=0, limited: services.nodeports=0`,
			want: "quota limits NodePort Services"},
		"other resource": {msg: `pods "web-1" is forbidden: exceeded quota: catalyst-quota, requested: pods=1, used: pods=30, limited: pods=30`},
		"not the quota":  {msg: `Service "web" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := quotaHint(tc.msg)
			if tc.want == "" {
				assert.Check(t, is.Equal(got, ""))
				return
			}
			assert.Check(t, is.Contains(got, tc.want))
		})
	}
}
