package setup

import (
	"testing"

	"gotest.tools/v3/assert"
)

func TestResourceOf(t *testing.T) {
	tests := map[string]string{
		"/api/v1/namespaces":                                   "namespaces",
		"/api/v1/namespaces/pr-shop-1":                         "namespaces",
		"/api/v1/namespaces/pr-shop-1/secrets/catalyst-git":    "secrets",
		"/api/v1/namespaces/pr-shop-1/pods/p/log":              "pods/log",
		"/apis/tekton.dev/v1/pipelineruns":                     "pipelineruns",
		"/apis/tekton.dev/v1/namespaces/x/pipelineruns/deploy": "pipelineruns",
		"/apis/coordination.k8s.io/v1/namespaces/s/leases/l":   "leases",
		"/version": "other",
	}
	for path, want := range tests {
		assert.Equal(t, resourceOf(path), want, path)
	}
}
