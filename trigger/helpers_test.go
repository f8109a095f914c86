package trigger

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/githubapp"
)

const (
	sha1 = "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"
	sha2 = "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
)

var testNow = time.Date(2026, 11, 28, 12, 30, 0, 0, time.UTC)

func testConfig(t testing.TB, mutate ...func(*config.Config)) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(`
github:
  appID: 31337
  privateKeyFile: /etc/catalyst/key.pem
  webhookSecretFiles: [/etc/catalyst/webhook-secret]
preview:
  domain: preview.example.com
  registry: registry.example.com/previews
repositories:
  - name: acme/shop
    chartPath: deploy/chart
    valuesFile: deploy/preview-values.yaml
    secrets: [shop-db]
`))
	assert.NilError(t, err)
	for _, m := range mutate {
		m(c)
	}
	return c
}

var _ GitHub = (*githubapp.Adapter)(nil)
