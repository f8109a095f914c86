package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
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
	assert.Equal(t, c.Repositories[0].HealthPath, "/healthz")
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
