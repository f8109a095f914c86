package config

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const minimal = `
github:
  appID: 1
  privateKeyFile: /k.pem
  webhookSecretFiles: [/s]
preview:
  domain: preview.example.com
  registry: registry.example.com/p
repositories:
  - name: acme/shop
    chartPath: charts/shop
`

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	assert.NilError(t, err)
	assert.Equal(t, c.GitHub.APIURL, DefaultAPIURL)
	assert.Equal(t, c.Preview.URLScheme, "https")
	assert.Equal(t, *c.Preview.CleanupPipeline, DefaultCleanupPipeline)
	assert.DeepEqual(t, c.Preview.GracefulTasks, []string{"deploy"})
	assert.Equal(t, c.Preview.Retry.MaxAttempts, 3)
	assert.Equal(t, c.Preview.ResyncInterval.Duration, 5*time.Minute)
	assert.Equal(t, c.Preview.TTL.Duration, time.Duration(0), "environments never expire unless configured")
	assert.Equal(t, c.Preview.TTLWarning.Duration, 24*time.Hour)
	assert.Equal(t, c.Repositories[0].HealthPath, "/healthz")
	assert.Equal(t, c.Preview.PodSecurity, "baseline")
	assert.Equal(t, c.Preview.BuildNamespace, "catalyst-builds")
	assert.DeepEqual(t, c.Preview.Egress.DNS, []EgressTarget{{Namespace: "kube-system", Ports: []string{"53/UDP", "53/TCP"}}})
	assert.Check(t, !c.GitHub.CopyTokenToPreviews)
	r, ok := c.Repository("ACME/Shop")
	assert.Assert(t, ok, "repository names are case-insensitive like GitHub's")
	assert.Equal(t, r.ChartPath, "charts/shop")
}

func TestParseErrorsNameTheField(t *testing.T) {
	tests := map[string]struct {
		edit string // text replaced in minimal: "old=>new"
		want string
	}{
		"unknown field":          {edit: "  domain: preview.example.com=>  domian: preview.example.com", want: `unknown field "preview.domian"`},
		"missing domain":         {edit: "  domain: preview.example.com=>  urlScheme: https", want: "preview.domain: required"},
		"bad domain":             {edit: "preview.example.com=>Preview_Example", want: "preview.domain"},
		"missing registry":       {edit: "  registry: registry.example.com/p=>", want: "preview.registry: required"},
		"no app and no token":    {edit: "  appID: 1\n  privateKeyFile: /k.pem=>", want: "github.appID: required"},
		"app without key":        {edit: "  privateKeyFile: /k.pem=>", want: "github.privateKeyFile: required"},
		"three webhook secrets":  {edit: "[/s]=>[/a, /b, /c]", want: "github.webhookSecretFiles"},
		"repo without owner":     {edit: "acme/shop=>shop", want: "repositories[0].name: must be owner/repo"},
		"chart path escapes":     {edit: "charts/shop=>../../etc", want: "repositories[0].chartPath"},
		"missing chart path":     {edit: "    chartPath: charts/shop=>", want: "repositories[0].chartPath: required"},
		"bad resync":             {edit: "  registry: registry.example.com/p=>  registry: r/p\n  resyncInterval: 1s", want: "preview.resyncInterval"},
		"bad duration":           {edit: "  registry: registry.example.com/p=>  registry: r/p\n  resyncInterval: soon", want: "resyncInterval"},
		"bad quantity":           {edit: "  registry: registry.example.com/p=>  registry: r/p\n  quota:\n    hard:\n      requests.cpu: lots", want: "quantities must match"},
		"duplicate repository":   {edit: "    chartPath: charts/shop=>    chartPath: charts/shop\n  - name: Acme/Shop\n    chartPath: x", want: "repositories[1].name"},
		"bad pod security level": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  podSecurity: lax", want: "preview.podSecurity"},
		"unknown overlay placeholder": {edit: "    chartPath: charts/shop=>    chartPath: charts/shop\n    values:\n      ingress:\n        hosts:\n          - host: ${preview.hots}",
			want: "repositories[0].values.ingress.hosts[0].host: unknown placeholder ${preview.hots}"},
		"template syntax in the overlay": {edit: "    chartPath: charts/shop=>    chartPath: charts/shop\n    values:\n      host: '{{ .Values.x }}${{ .Release.Name }}'",
			want: "repositories[0].values.host: malformed placeholder"},
		"overlay is not a mapping":      {edit: "    chartPath: charts/shop=>    chartPath: charts/shop\n    values: [a]", want: "repositories[0].values"},
		"dependencyBuild not a boolean": {edit: "    chartPath: charts/shop=>    chartPath: charts/shop\n    dependencyBuild: sometimes", want: "dependencyBuild"},
		"CA bundle is not PEM":          {edit: "  registry: registry.example.com/p=>  registry: r/p\n  healthCABundle: not a certificate", want: "preview.healthCABundle: no PEM certificate found"},
		"CA bundle holds a key": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  healthCABundle: |\n    -----BEGIN PRIVATE KEY-----\n    AAAA\n    -----END PRIVATE KEY-----",
			want: `preview.healthCABundle: PEM block 1 is "PRIVATE KEY", want CERTIFICATE`},
		"privileged pod security": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  podSecurity: privileged",
			want: "preview.podSecurity: privileged is refused: a pull request's chart could then run a privileged, hostPath or hostNetwork pod"},
		"build namespace is the secrets namespace": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  buildNamespace: catalyst-secrets",
			want: "preview.buildNamespace: must differ from preview.secretsNamespace"},
		"build namespace looks like a PR namespace": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  buildNamespace: pr-builds",
			want: "preview.buildNamespace: must not start with pr-"},
		"previews may reach the builds": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  auxiliaryNamespaces: [catalyst-builds]",
			want: "preview.auxiliaryNamespaces: must not include the builds namespace"},
		"bad registry secret": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  registryAuthSecret: Not_A_Name",
			want: "preview.registryAuthSecret"},
		"egress target with namespace and cidr": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  egress:\n    git: [{namespace: git, cidr: 10.0.0.0/8}]",
			want: "preview.egress.git[0]: set namespace or cidr, not both"},
		"egress target to the builds": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  egress:\n    registry: [{namespace: catalyst-builds}]",
			want: "preview.egress.registry[0].namespace: must not be the builds namespace"},
		"egress cidr not canonical": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  egress:\n    git: [{cidr: 140.82.112.3/20}]",
			want: "preview.egress.git[0].cidr"},
		"egress except outside": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  egress:\n    build: [{cidr: 10.0.0.0/8, except: [192.168.0.0/16]}]",
			want: "preview.egress.build[0].except[0]"},
		"egress pod labels on a cidr": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  egress:\n    git: [{cidr: 10.0.0.0/8, podLabels: {a: b}}]",
			want: "preview.egress.git[0].podLabels: applies to namespace only"},
		"egress bad port": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  egress:\n    dns: [{cidr: 169.254.20.10/32, ports: [53/ICMP]}]",
			want: "preview.egress.dns[0].ports[0]"},
		"egress port out of range": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  egress:\n    git: [{cidr: 10.0.0.0/8, ports: [\"70000\"]}]",
			want: "preview.egress.git[0].ports[0]"},
		"no dns": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  egress:\n    dns: []",
			want: "preview.egress.dns: must list at least one target"},
		"token copy without a token": {edit: "  webhookSecretFiles: [/s]=>  webhookSecretFiles: [/s]\n  copyTokenToPreviews: true",
			want: "github.copyTokenToPreviews: only applies with github.tokenFile"},
		"negative ttl":       {edit: "  registry: registry.example.com/p=>  registry: r/p\n  ttl: -1h", want: "preview.ttl: must not be negative"},
		"warning beyond ttl": {edit: "  registry: registry.example.com/p=>  registry: r/p\n  ttl: 12h", want: "preview.ttlWarning: must be shorter than preview.ttl"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			old, repl, _ := strings.Cut(tc.edit, "=>")
			assert.Assert(t, strings.Contains(minimal, old), "fixture edit %q does not apply", old)
			_, err := Parse([]byte(strings.Replace(minimal, old, repl, 1)))
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestValuesOverlayAndDependencyBuildAreKept(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(minimal, "    chartPath: charts/shop", `    chartPath: charts/shop
    dependencyBuild: true
    values:
      ingress:
        enabled: true
        hosts:
          - host: ${preview.host}
            paths: [{path: /, pathType: Prefix}]
      image:
        tag: ${image.pinnedTag}
        literal: $${not.a.placeholder}`, 1)))
	assert.NilError(t, err)
	r := c.Repositories[0]
	assert.Check(t, r.DependencyBuild)
	assert.DeepEqual(t, r.Values, map[string]any{
		"ingress": map[string]any{"enabled": true, "hosts": []any{map[string]any{"host": "${preview.host}", "paths": []any{map[string]any{"path": "/", "pathType": "Prefix"}}}}},
		"image":   map[string]any{"tag": "${image.pinnedTag}", "literal": "$${not.a.placeholder}"},
	})
}

// LoadBalancer and NodePort Services are refused in previews unless the quota names them, at
// the top level and in a repository's own quota; naming them overrides the default.
func TestServiceQuotaDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	assert.NilError(t, err)
	hard := c.Preview.Quota.Hard
	assert.Check(t, is.Equal(hard.Name(corev1.ResourceServicesLoadBalancers, resource.DecimalSI).String(), "0"))
	assert.Check(t, is.Equal(hard.Name(corev1.ResourceServicesNodePorts, resource.DecimalSI).String(), "0"))
	assert.Check(t, is.Equal(hard.Pods().String(), "30"), "the other defaults stay")

	c, err = Parse([]byte(strings.Replace(minimal, "  registry: registry.example.com/p", `  registry: registry.example.com/p
  quota:
    hard:
      pods: "10"
      services.loadbalancers: "2"`, 1) + `    quota:
      hard:
        services.nodeports: "1"
`))
	assert.NilError(t, err)
	hard = c.Preview.Quota.Hard
	assert.Check(t, is.Equal(hard.Name(corev1.ResourceServicesLoadBalancers, resource.DecimalSI).String(), "2"), "overridden")
	assert.Check(t, is.Equal(hard.Name(corev1.ResourceServicesNodePorts, resource.DecimalSI).String(), "0"), "still defaulted")
	repo := c.Repositories[0].Quota.Hard
	assert.Check(t, is.Equal(repo.Name(corev1.ResourceServicesNodePorts, resource.DecimalSI).String(), "1"))
	assert.Check(t, is.Equal(repo.Name(corev1.ResourceServicesLoadBalancers, resource.DecimalSI).String(), "0"))
}

func TestHealthCABundle(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	withCA := strings.Replace(minimal, "  registry: registry.example.com/p", "  registry: registry.example.com/p\n  healthCABundle: |\n    "+strings.ReplaceAll(strings.TrimSpace(ca), "\n", "\n    "), 1)
	c, err := Parse([]byte(withCA))
	assert.NilError(t, err)
	assert.Equal(t, strings.TrimSpace(c.Preview.HealthCABundle), strings.TrimSpace(ca))

	_, err = Parse([]byte(strings.Replace(withCA, "  healthCABundle:", "  healthInsecureSkipVerify: true\n  healthCABundle:", 1)))
	assert.ErrorContains(t, err, "preview.healthInsecureSkipVerify: set either preview.healthCABundle or preview.healthInsecureSkipVerify, not both")

	big := strings.Replace(minimal, "  registry: registry.example.com/p", "  registry: registry.example.com/p\n  healthCABundle: "+strings.Repeat("A", MaxCABundleBytes+1), 1)
	_, err = Parse([]byte(big))
	assert.ErrorContains(t, err, "preview.healthCABundle: 65537 bytes, at most 65536")
}

func TestLoad(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	assert.ErrorContains(t, err, "read config")
	path := filepath.Join(t.TempDir(), "empty.yaml")
	assert.NilError(t, os.WriteFile(path, nil, 0o600))
	_, err = Load(path)
	assert.Check(t, is.ErrorContains(err, "config is empty"))
	assert.Check(t, is.ErrorContains(err, path), "the error names the file")
}

// The shipped example configuration must stay valid.
func TestExampleConfigIsValid(t *testing.T) {
	matches, err := filepath.Glob("*.yaml")
	assert.NilError(t, err)
	assert.Assert(t, len(matches) > 0, "config/ ships at least one example")
	for _, m := range matches {
		_, err := Load(m)
		assert.NilError(t, err, m)
	}
}

func TestEgressPorts(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(minimal, "  registry: registry.example.com/p", `  registry: registry.example.com/p
  egress:
    dns: [{cidr: 169.254.20.10/32, ports: [53/udp, "53"]}]
    git: [{cidr: 140.82.112.0/20, except: [140.82.112.0/24], ports: ["443"]}]
    registry: [{namespace: registry, podLabels: {app: registry}, ports: ["5000"]}]`, 1)))
	assert.NilError(t, err)
	assert.DeepEqual(t, c.Preview.Egress.DNS[0].ParsedPorts(), []Port{{53, "UDP"}, {53, "TCP"}})
	assert.DeepEqual(t, c.Preview.Egress.Git[0].ParsedPorts(), []Port{{443, "TCP"}})
}
