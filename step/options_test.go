package step

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func parse(t *testing.T, sub string, args ...string) (*Subcommand, error) {
	t.Helper()
	s, err := NewSubcommand(sub)
	assert.NilError(t, err)
	fs := pflag.NewFlagSet(sub, pflag.ContinueOnError)
	s.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	return s, s.Validate()
}

func TestSubcommandFlags(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a", 64)
	cases := map[string]struct {
		sub     string
		args    []string
		wantErr string
		check   func(t *testing.T, s *Subcommand)
	}{
		"deploy as the task runs it": {
			sub: "deploy",
			args: []string{"--namespace=pr-web-1", "--release=preview", "--source-dir=/workspace/source", "--chart=charts/app",
				"--values=", "--image=reg:5000/web:pr-1-abc", "--image-digest=" + digest, "--host=1-web.preview.test",
				"--url-scheme=http", "--ingress-class=", "--timeout=10m", "--results-dir=/tekton/results"},
			check: func(t *testing.T, s *Subcommand) {
				assert.Check(t, is.Equal(s.Cluster.Namespace, "pr-web-1"))
				assert.Check(t, is.DeepEqual(s.Deploy.ValuesFiles, []string{""}))
				assert.Check(t, is.Equal(s.Deploy.Timeout, 10*time.Minute))
				assert.Check(t, s.Deploy.Wait)
				assert.Check(t, !s.Deploy.RollbackOnFailure)
				assert.Check(t, is.DeepEqual(s.Deploy.Keys, DefaultValueKeys))
			},
		},
		"deploy resources and keys": {
			sub:  "deploy",
			args: []string{"-n", "ns", "--chart=c", "--requests=cpu=100m,memory=64Mi", "--limits=cpu=1", "--image-tag-key=", "--rollback-on-failure"},
			check: func(t *testing.T, s *Subcommand) {
				assert.Check(t, is.DeepEqual(s.Deploy.Requests, map[string]string{"cpu": "100m", "memory": "64Mi"}))
				assert.Check(t, is.Equal(s.Deploy.Keys.ImageTag, ""))
				assert.Check(t, s.Deploy.RollbackOnFailure)
			},
		},
		"deploy needs a chart and a namespace": {sub: "deploy", wantErr: "--namespace is required\n--chart is required"},
		"deploy bad image":                     {sub: "deploy", args: []string{"-n=a", "--chart=c", "--image=web"}, wantErr: "--image"},
		"deploy bad digest":                    {sub: "deploy", args: []string{"-n=a", "--chart=c", "--image-digest=md5:1"}, wantErr: "--image-digest"},
		"deploy bad host":                      {sub: "deploy", args: []string{"-n=a", "--chart=c", "--host=Not_A_Host"}, wantErr: "--host"},
		"deploy bad scheme":                    {sub: "deploy", args: []string{"-n=a", "--chart=c", "--url-scheme=ftp"}, wantErr: "--url-scheme"},
		"deploy bad resource":                  {sub: "deploy", args: []string{"-n=a", "--chart=c", "--limits=gpu=1,cpu=lots"}, wantErr: `unknown resource "gpu"`},
		"deploy bad release":                   {sub: "deploy", args: []string{"-n=a", "--chart=c", "--release=Preview_1"}, wantErr: "--release"},
		"deploy long release":                  {sub: "deploy", args: []string{"-n=a", "--chart=c", "--release=" + strings.Repeat("a", 54)}, wantErr: "at most 53"},
		"deploy zero timeout":                  {sub: "deploy", args: []string{"-n=a", "--chart=c", "--timeout=0s"}, wantErr: "--timeout"},
		"deploy unknown flag":                  {sub: "deploy", args: []string{"--chrat=c"}, wantErr: "unknown flag: --chrat"},
		"healthcheck as the task runs it": {
			sub:  "healthcheck",
			args: []string{"--namespace=pr-web-1", "--release=preview", "--url=https://1-web.preview.test", "--path=/healthz", "--connect-to=", "--timeout=5m"},
			check: func(t *testing.T, s *Subcommand) {
				assert.Check(t, is.Equal(s.Health.URL, "https://1-web.preview.test"))
				assert.Check(t, is.Equal(s.Health.Timeout, 5*time.Minute))
				assert.Check(t, is.Equal(s.Health.RequestTimeout, 10*time.Second))
			},
		},
		"healthcheck connect-to": {
			sub:  "healthcheck",
			args: []string{"-n=a", "--url=http://h", "--connect-to=ingress-nginx.ingress.svc:80"},
			check: func(t *testing.T, s *Subcommand) {
				assert.Check(t, is.Equal(s.Health.ConnectTo, "ingress-nginx.ingress.svc:80"))
			},
		},
		"healthcheck needs a url":    {sub: "healthcheck", args: []string{"-n=a"}, wantErr: "--url is required"},
		"healthcheck url scheme":     {sub: "healthcheck", args: []string{"-n=a", "--url=ftp://h"}, wantErr: "not an http(s) URL"},
		"healthcheck relative path":  {sub: "healthcheck", args: []string{"-n=a", "--url=http://h", "--path=healthz"}, wantErr: "must start with /"},
		"healthcheck bad connect-to": {sub: "healthcheck", args: []string{"-n=a", "--url=http://h", "--connect-to=nohost"}, wantErr: "want host:port"},
		"cleanup defaults": {
			sub: "cleanup", args: []string{"-n=pr-web-1"},
			check: func(t *testing.T, s *Subcommand) {
				assert.Check(t, is.Equal(s.Cleanup.Release, "preview"))
				assert.Check(t, is.Equal(s.Cleanup.Timeout, 5*time.Minute))
			},
		},
		"cleanup bad namespace": {sub: "cleanup", args: []string{"-n=PR_1"}, wantErr: "--namespace"},
		"bad qps":               {sub: "cleanup", args: []string{"-n=a", "--kube-api-qps=0"}, wantErr: "--kube-api-qps"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := parse(t, tc.sub, tc.args...)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			tc.check(t, s)
		})
	}
}

func TestUnknownSubcommand(t *testing.T) {
	_, err := NewSubcommand("deploi")
	assert.ErrorContains(t, err, `unknown subcommand "deploi" (want one of deploy, healthcheck, cleanup)`)
}
