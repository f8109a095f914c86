package main

import (
	"bytes"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestRunUsage(t *testing.T) {
	cases := map[string]struct {
		args       []string
		wantCode   int
		wantStderr string
	}{
		"no subcommand":      {args: nil, wantCode: exitUsage, wantStderr: "Usage: preview-step <subcommand>"},
		"help":               {args: []string{"help"}, wantCode: 0, wantStderr: "healthcheck"},
		"unknown subcommand": {args: []string{"deplo"}, wantCode: exitUsage, wantStderr: `unknown subcommand "deplo"`},
		"flag help":          {args: []string{"deploy", "--help"}, wantCode: 0, wantStderr: "--rollback-on-failure"},
		"invalid flags":      {args: []string{"deploy", "--chart=c"}, wantCode: exitUsage, wantStderr: "--namespace is required"},
		"bad log level":      {args: []string{"cleanup", "-n=a", "--log-level=loud"}, wantCode: exitUsage, wantStderr: "--log-level"},
		"stray argument":     {args: []string{"cleanup", "-n=a", "extra"}, wantCode: exitUsage, wantStderr: "unexpected arguments: extra"},
		"unreachable API server": {
			args:     []string{"cleanup", "-n=a", "--kubeconfig=testdata/unreachable.kubeconfig", "--log-encoding=json"},
			wantCode: exitFailed, wantStderr: "cannot reach the Kubernetes API server at https://127.0.0.1:1",
		},
		"missing kubeconfig": {
			args:     []string{"cleanup", "-n=a", "--kubeconfig=testdata/nope"},
			wantCode: exitFailed, wantStderr: "load Kubernetes client configuration",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, &stdout, &stderr)
			assert.Check(t, is.Equal(code, tc.wantCode))
			assert.Check(t, is.Contains(stderr.String(), tc.wantStderr))
		})
	}
}

func TestLogOptions(t *testing.T) {
	cases := map[string]struct {
		o       logOptions
		wantErr string
	}{
		"defaults":     {o: logOptions{Level: "info", Encoding: "console"}},
		"json debug":   {o: logOptions{Level: "debug", Encoding: "json"}},
		"bad level":    {o: logOptions{Level: "verbose", Encoding: "json"}, wantErr: "--log-level"},
		"bad encoding": {o: logOptions{Level: "info", Encoding: "xml"}, wantErr: "--log-encoding"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.o.Validate()
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
		})
	}
}
