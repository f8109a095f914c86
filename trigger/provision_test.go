package trigger

import (
	"testing"

	"gotest.tools/v3/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The fingerprint recorded on the namespace follows a copied secret's source version, never
// its data: a hash of a low-entropy secret could be brute-forced from the annotation.
func TestFingerprintHidesSecretData(t *testing.T) {
	cfg := testConfig(t)
	repoCfg, _ := cfg.Repository("acme/shop")
	withSecret := func(rv, password string) string {
		src := sources{Secrets: []*corev1.Secret{{
			ObjectMeta: metav1.ObjectMeta{Name: "shop-db", Namespace: "catalyst-secrets", UID: "u-1", ResourceVersion: rv},
			Data:       map[string][]byte{"password": []byte(password)},
		}}}
		return desiredChildren("pr-shop-1", cfg.Preview, repoCfg, src).fingerprint()
	}
	assert.Equal(t, withSecret("10", "hunter2"), withSecret("10", "swordfish"), "the data does not enter the fingerprint")
	assert.Assert(t, withSecret("10", "hunter2") != withSecret("11", "hunter2"), "a new source version does")
}
