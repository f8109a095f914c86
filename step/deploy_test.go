package step

import (
	"bytes"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"gotest.tools/v3/assert"
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
