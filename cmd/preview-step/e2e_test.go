package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

// TestE2E* run against the local control plane (e2e/cluster); under -short they skip.
func TestMain(m *testing.M) { os.Exit(cluster.RunMain(m, nil)) }

// The binary's wiring, as the Tasks invoke it: kubeconfig, flags, results, exit codes.
func TestE2EDeployHealthcheckCleanup(t *testing.T) {
	c := cluster.Require(t)
	ns := c.Namespace(t)
	root, err := filepath.Abs("../..")
	assert.NilError(t, err)
	results := t.TempDir()
	ingress := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "9-web.preview.test" {
			http.NotFound(w, r)
		}
	}))
	defer ingress.Close()

	steps := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{args: []string{"deploy", "--namespace=" + ns, "--source-dir=" + root, "--chart=charts/example-app", "--values=",
			"--image=registry.local:5000/acme/web:pr-9-0123456789ab", "--host=9-web.preview.test", "--url-scheme=http",
			"--timeout=90s", "--results-dir=" + results}, wantOut: "Open it at:"},
		{args: []string{"deploy", "--namespace=" + ns, "--source-dir=" + root, "--chart=charts/nope"}, wantCode: exitFailed},
		{args: []string{"healthcheck", "--namespace=" + ns, "--url=http://9-web.preview.test", "--path=/healthz",
			"--connect-to=" + strings.TrimPrefix(ingress.URL, "http://"), "--timeout=90s"}, wantOut: "preview is healthy"},
		{args: []string{"cleanup", "--namespace=" + ns, "--timeout=90s"}, wantOut: "release preview removed"},
	}
	for _, s := range steps {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), append(s.args, "--kubeconfig="+c.Kubeconfig()), &stdout, &stderr)
		assert.Check(t, is.Equal(code, s.wantCode), "%s: stderr:\n%s", s.args[0], stderr.String())
		assert.Check(t, is.Contains(stdout.String(), s.wantOut), s.args[0])
		if s.wantCode == exitFailed {
			assert.Check(t, is.Contains(stderr.String(), "Error: chart charts/nope not found"))
		}
	}
	url, err := os.ReadFile(filepath.Join(results, "url"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(url), "http://9-web.preview.test"))
	rev, err := os.ReadFile(filepath.Join(results, "release-revision"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(rev), "1"))
}
