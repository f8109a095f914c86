package steprunner

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEntrypointArgs(t *testing.T) {
	cases := map[string]struct {
		c           corev1.Container
		wantCmd     []string
		wantTimeout time.Duration
		wantResults []string
		wantOnError string
		wantReady   bool
		wantErr     string
	}{
		"first step of a Tekton pod": {
			c: corev1.Container{Name: "step-deploy", Command: []string{"/tekton/bin/entrypoint"}, Args: []string{
				"-wait_file", "/tekton/downward/ready", "-wait_file_content",
				"-post_file", "/tekton/run/0/out", "-termination_path", "/tekton/termination",
				"-step_metadata_dir", "/tekton/run/0/status", "-timeout", "14m0s",
				"-results", "url,release-revision", "-entrypoint", "preview-step", "--",
				"deploy", "--namespace=pr-1", "--results-dir=/tekton/results",
			}},
			wantCmd:     []string{"preview-step", "deploy", "--namespace=pr-1", "--results-dir=/tekton/results"},
			wantTimeout: 14 * time.Minute, wantResults: []string{"url", "release-revision"}, wantReady: true,
		},
		"later step, continue on error, a script": {
			c: corev1.Container{Name: "step-b", Command: []string{"/tekton/bin/entrypoint"}, Args: []string{
				"-wait_file", "/tekton/run/0/out", "-post_file", "/tekton/run/1/out",
				"-on_error", "continue", "-entrypoint", "/tekton/scripts/script-1-abcde", "--",
			}},
			wantCmd: []string{"/tekton/scripts/script-1-abcde"}, wantOnError: "continue",
		},
		"a pod Tekton did not make": {
			c:       corev1.Container{Name: "app", Command: []string{"preview-step"}, Args: []string{"cleanup", "-n", "x"}},
			wantCmd: []string{"preview-step", "cleanup", "-n", "x"},
		},
		"Tekton's entrypoint without a command": {
			c:       corev1.Container{Name: "step-x", Command: []string{"/tekton/bin/entrypoint"}, Args: []string{"-post_file", "/tekton/run/0/out", "--", "a"}},
			wantErr: "without -entrypoint",
		},
		"bad timeout": {
			c:       corev1.Container{Name: "step-x", Command: []string{"/tekton/bin/entrypoint"}, Args: []string{"-timeout", "soon", "-entrypoint", "x", "--"}},
			wantErr: `-timeout "soon"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cmd, timeout, results, onError, ready, err := entrypointArgs(tc.c)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, cmd, tc.wantCmd)
			assert.Check(t, is.Equal(timeout, tc.wantTimeout))
			assert.Check(t, is.DeepEqual(results, tc.wantResults))
			assert.Check(t, is.Equal(onError, tc.wantOnError))
			assert.Check(t, is.Equal(ready, tc.wantReady))
		})
	}
}

func TestLocalize(t *testing.T) {
	s := &Step{mounts: []mount{
		{path: "/workspace/source", local: "/L/source"},
		{path: "/tekton/results", local: "/L/results"},
		{path: "/workspace", local: "/L/ws"},
	}}
	cases := map[string]string{
		"--source-dir=/workspace/source":        "--source-dir=/L/source",
		"--results-dir=/tekton/results":         "--results-dir=/L/results",
		"/tekton/results/url":                   "/L/results/url",
		"/workspace/other":                      "/L/ws/other",
		"/workspace/sourcecode":                 "/L/ws/sourcecode", // not inside /workspace/source
		"PATH=/workspace/bin:/usr/bin":          "PATH=/L/ws/bin:/usr/bin",
		"--files=/workspace/a,/tekton/results":  "--files=/L/ws/a,/L/results",
		"--chart=charts/example-app/workspace":  "--chart=charts/example-app/workspace", // relative: not a mount
		"/etc/ssl/certs":                        "/etc/ssl/certs",
		"--url=http://h/workspace/source/x":     "--url=http://h/workspace/source/x",
		"--path=/healthz":                       "--path=/healthz",
		"/workspacesource":                      "/workspacesource",
		"/workspace":                            "/L/ws",
		"--description=0123456789abcdef/tekton": "--description=0123456789abcdef/tekton",
	}
	for in, want := range cases {
		assert.Check(t, is.Equal(s.localize(in), want), in)
	}
	local, ok := s.Local("/tekton/results/url")
	assert.Check(t, ok)
	assert.Check(t, is.Equal(local, "/L/results/url"))
	_, ok = s.Local("/var/run/secrets")
	assert.Check(t, !ok)
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"HOME": "/home/catalyst", "A": "x"}
	cases := map[string]string{
		"$(HOME)/.config":     "/home/catalyst/.config",
		"$(A)$(A)":            "xx",
		"$$(HOME)":            "$(HOME)",
		"$(UNDEFINED)":        "$(UNDEFINED)",
		"cost: $5":            "cost: $5",
		"$(unterminated":      "$(unterminated",
		"$":                   "$",
		"--ns=$(context.x)/y": "--ns=$(context.x)/y",
	}
	for in, want := range cases {
		assert.Check(t, is.Equal(expand(in, vars), want), in)
	}
}

func TestFieldValue(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1",
			Labels: map[string]string{"b": "2", "a": "1"}, Annotations: map[string]string{"tekton.dev/ready": "READY"}},
		Spec:   corev1.PodSpec{ServiceAccountName: "sa", NodeName: "n"},
		Status: corev1.PodStatus{PodIP: "10.0.0.5"},
	}
	cases := map[string]string{
		"metadata.name": "p", "metadata.namespace": "ns", "metadata.uid": "u1",
		"metadata.annotations['tekton.dev/ready']": "READY", "metadata.labels['a']": "1", "metadata.labels['zz']": "",
		"metadata.labels": "a=\"1\"\nb=\"2\"", "spec.serviceAccountName": "sa", "spec.nodeName": "n", "status.podIP": "10.0.0.5",
	}
	for path, want := range cases {
		got, err := fieldValue(pod, path)
		assert.Check(t, err, path)
		assert.Check(t, is.Equal(got, want), path)
	}
	_, err := fieldValue(pod, "spec.unknown")
	assert.Check(t, is.ErrorContains(err, "not supported"))
}
