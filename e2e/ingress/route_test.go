package ingress

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	networkingv1 "k8s.io/api/networking/v1"
)

func TestHostMatches(t *testing.T) {
	cases := []struct {
		rule, host string
		want       bool
	}{
		{"7-app.preview.test", "7-app.preview.test", true},
		{"7-app.preview.test", "8-app.preview.test", false},
		{"*.preview.test", "7-app.preview.test", true},
		{"*.preview.test", "a.b.preview.test", false}, // a wildcard covers one label
		{"*.preview.test", "preview.test", false},
		{"", "anything.test", true},
	}
	for _, tc := range cases {
		assert.Check(t, is.Equal(hostMatches(tc.rule, tc.host), tc.want), "%s ~ %s", tc.rule, tc.host)
	}
}

func TestPathMatch(t *testing.T) {
	prefix, exact, impl := networkingv1.PathTypePrefix, networkingv1.PathTypeExact, networkingv1.PathTypeImplementationSpecific
	cases := []struct {
		typ        networkingv1.PathType
		path, req  string
		wantLength int
	}{
		{prefix, "/", "/healthz", 0},
		{prefix, "/api", "/api/x", 4},
		{prefix, "/api", "/api", 4},
		{prefix, "/api", "/apix", -1}, // Prefix matches whole path elements
		{prefix, "/api/", "/api/x", 4},
		{exact, "/healthz", "/healthz", 8},
		{exact, "/healthz", "/healthz/", -1},
		{impl, "/ap", "/apix", 3},
	}
	for _, tc := range cases {
		p := networkingv1.HTTPIngressPath{Path: tc.path, PathType: &tc.typ}
		assert.Check(t, is.Equal(pathMatch(p, tc.req), tc.wantLength), "%s %s ~ %s", tc.typ, tc.path, tc.req)
	}
}
