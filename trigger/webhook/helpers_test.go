package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/catalyst-preview/catalyst/config"
)

const (
	testSecret     = "it's a secret to everybody"
	testNextSecret = "the secret after rotation"
	sha1           = "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"
	sha2           = "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
	systemNS       = "catalyst-system"
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

// delivery reads a recorded webhook delivery; the event type is the file name up to the first dot.
func delivery(t testing.TB, name string) (eventType string, body []byte) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "deliveries", name+".json"))
	assert.NilError(t, err)
	eventType, _, _ = strings.Cut(name, ".")
	return eventType, body
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// writes are the mutating calls a fake clientset received.
func writes(kube *fake.Clientset) []string {
	var out []string
	for _, a := range kube.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}
