package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// The README's first command works: the demo brings the whole product up, opens a pull request
// and sees the preview reported on it; the preview URL answers through the ingress stand-in, and
// the steps' logs are the real step's output (or say that they were simulated).
func TestDemoReportsAPreview(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local control plane: run without -short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Minute) // a cold machine builds the stack first
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, demoOptions{TaskDelay: 100 * time.Millisecond, ExitWhenDeployed: true, Repo: "acme/example-app"}, &out)
	assert.NilError(t, err, out.String())
	assert.Check(t, is.Contains(out.String(), "kubectl --kubeconfig"))
	assert.Check(t, is.Contains(out.String(), "go run ./cmd/previewctl --kubeconfig "), "cmd/previewctl's e2e test runs this command against a live cluster")
	assert.Check(t, is.Contains(out.String(), "preview ready"))
	assert.Check(t, is.Contains(out.String(), "preview reported"))
	assert.Check(t, is.Contains(out.String(), `through the ingress stand-in: 200 OK, "This is not the application"`), "the preview URL answers")
	assert.Check(t, is.Contains(out.String(), "Open it at:"), "the real deploy step's log")
	assert.Check(t, is.Contains(out.String(), "preview is healthy"), "the real health check's log")
	assert.Check(t, is.Contains(out.String(), "was simulated"), "the simulated build says so")

	// `make run` leaves nothing in the temporary folder: the system's folder (configuration,
	// binaries, logs) and the cluster's (etcd's data, certificates, kubeconfigs) are removed
	// when it stops.
	for _, re := range []*regexp.Regexp{regexp.MustCompile(`logs: (\S+) \(trigger\)`), regexp.MustCompile(`--kubeconfig (\S+) get namespaces`)} {
		m := re.FindStringSubmatch(out.String())
		if !assert.Check(t, m != nil, "no %s in the output", re) {
			continue
		}
		dir := filepath.Dir(m[1])
		assert.Check(t, strings.HasPrefix(dir, os.TempDir()), "%s is not in the temporary folder", dir)
		_, err := os.Stat(dir)
		assert.Check(t, os.IsNotExist(err), "%s is left behind (%v)", dir, err)
	}
	assert.Check(t, is.Contains(out.String(), "console: http://127.0.0.1:"))
	assert.Check(t, is.Regexp(`\[the logs\]\(http://127\.0\.0\.1:[0-9]+/environments/pr-example-app-[0-9]+\)`, out.String()), "the comment links to the console")
}
