package step

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func parseArgs(t *testing.T, sub string, args ...string) (*Subcommand, error) {
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
				assert.Check(t, is.Equal(s.Deploy.Overlay, ""))
				assert.Check(t, !s.Deploy.DependencyBuild)
			},
		},
		"deploy with an overlay and facts": {
			sub: "deploy",
			args: []string{"-n", "ns", "--chart=c", `--values-overlay={"ingress":{"hosts":[{"host":"${preview.host}"}]}}`, "--pr-number=12",
				"--revision=" + strings.Repeat("ab", 20), "--dependency-build=true", "--rollback-on-failure"},
			check: func(t *testing.T, s *Subcommand) {
				assert.Check(t, is.Equal(s.Deploy.Overlay, `{"ingress":{"hosts":[{"host":"${preview.host}"}]}}`))
				assert.Check(t, is.Equal(s.Deploy.PRNumber, "12"))
				assert.Check(t, s.Deploy.DependencyBuild)
				assert.Check(t, s.Deploy.RollbackOnFailure)
			},
		},
		"deploy needs a chart and a namespace": {sub: "deploy", wantErr: "--namespace is required\n--chart is required"},
		"deploy bad image":                     {sub: "deploy", args: []string{"-n=a", "--chart=c", "--image=web"}, wantErr: "--image"},
		"deploy bad digest":                    {sub: "deploy", args: []string{"-n=a", "--chart=c", "--image-digest=md5:1"}, wantErr: "--image-digest"},
		"deploy bad host":                      {sub: "deploy", args: []string{"-n=a", "--chart=c", "--host=Not_A_Host"}, wantErr: "--host"},
		"deploy bad scheme":                    {sub: "deploy", args: []string{"-n=a", "--chart=c", "--url-scheme=ftp"}, wantErr: "--url-scheme"},
		"deploy unknown placeholder":           {sub: "deploy", args: []string{"-n=a", "--chart=c", "--values-overlay=a: ${preview.hots}"}, wantErr: "--values-overlay: a: unknown placeholder ${preview.hots}"},
		"deploy overlay not a mapping":         {sub: "deploy", args: []string{"-n=a", "--chart=c", "--values-overlay=[1, 2]"}, wantErr: "--values-overlay: not a YAML mapping"},
		"deploy bad pr number":                 {sub: "deploy", args: []string{"-n=a", "--chart=c", "--pr-number=7; rm"}, wantErr: "--pr-number"},
		"deploy bad revision":                  {sub: "deploy", args: []string{"-n=a", "--chart=c", "--revision=main"}, wantErr: "--revision"},
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
		"healthcheck as the task runs it with a CA bundle": {
			sub:  "healthcheck",
			args: []string{"-n=a", "--url=https://h", "--ca-bundle=" + testCA(t), "--insecure-skip-tls-verify=false", "--ingress-class=nginx", "--results-dir=/tekton/results"},
			check: func(t *testing.T, s *Subcommand) {
				assert.Check(t, strings.HasPrefix(s.Health.CABundle, "-----BEGIN CERTIFICATE-----"))
				assert.Check(t, s.Health.CheckRouting)
				assert.Check(t, is.Equal(s.Health.IngressClass, "nginx"))
			},
		},
		"healthcheck CA bundle is not PEM":   {sub: "healthcheck", args: []string{"-n=a", "--url=https://h", "--ca-bundle=hello"}, wantErr: "--ca-bundle: no PEM certificate found"},
		"healthcheck CA bundle and insecure": {sub: "healthcheck", args: []string{"-n=a", "--url=https://h", "--ca-bundle=" + testCA(t), "--insecure-skip-tls-verify"}, wantErr: "exclude each other"},
		"healthcheck needs a url":            {sub: "healthcheck", args: []string{"-n=a"}, wantErr: "--url is required"},
		"healthcheck url scheme":             {sub: "healthcheck", args: []string{"-n=a", "--url=ftp://h"}, wantErr: "not an http(s) URL"},
		"healthcheck relative path":          {sub: "healthcheck", args: []string{"-n=a", "--url=http://h", "--path=healthz"}, wantErr: "must start with /"},
		"healthcheck bad connect-to":         {sub: "healthcheck", args: []string{"-n=a", "--url=http://h", "--connect-to=nohost"}, wantErr: "want host:port"},
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
			s, err := parseArgs(t, tc.sub, tc.args...)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			tc.check(t, s)
		})
	}
}

// testCA is the PEM certificate of a throwaway TLS server.
func testCA(t *testing.T) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

func TestUnknownSubcommand(t *testing.T) {
	_, err := NewSubcommand("deploi")
	assert.ErrorContains(t, err, `unknown subcommand "deploi" (want one of deploy, healthcheck, cleanup)`)
}
