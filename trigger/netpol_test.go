package trigger

import (
	"net/netip"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/trigger/netpol"
)

// pipelinePodLabels are every label Tekton and the trigger put on a pipeline task pod of a PR
// namespace: a chart can copy all of them onto its own pods.
var pipelinePodLabels = map[string]string{
	"app.kubernetes.io/managed-by": "tekton-pipelines",
	"app.kubernetes.io/part-of":    "catalyst-preview",
	"app.kubernetes.io/component":  "deploy",
	"tekton.dev/pipeline":          "catalyst-preview",
	"tekton.dev/pipelineRun":       "deploy-4f1c2d3e5a6b-1",
	"tekton.dev/pipelineRunUID":    "0b5c1e6a-0000-4000-8000-000000000001",
	"tekton.dev/pipelineTask":      "deploy",
	"tekton.dev/task":              "catalyst-deploy",
	"tekton.dev/taskRun":           "deploy-4f1c2d3e5a6b-1-deploy",
	"tekton.dev/taskRunUID":        "0b5c1e6a-0000-4000-8000-000000000002",
	"tekton.dev/memberOf":          "tasks",
	"catalyst.dev/managed":         "true",
	"catalyst.dev/repo":            "acme.shop",
	"catalyst.dev/pr":              "42",
	"catalyst.dev/sha":             sha1,
	"catalyst.dev/kind":            "deploy",
	"catalyst.dev/environment":     "preview",
}

// The policies the trigger writes, evaluated for (pod, destination) pairs. Every expectation
// holds for the application's pod and for a pod that copies every label of the pipeline's pods
// alike: no label buys an exception.
func TestNetworkPoliciesOfPRNamespaces(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) {
		c.Preview.AuxiliaryNamespaces = []string{"registry"}
		c.Preview.Egress.Git = []config.EgressTarget{{CIDR: "140.82.112.0/20", Ports: []string{"443"}}}
	})
	repoCfg, _ := cfg.Repository("acme/shop")
	src := sources{APIServer: netpol.APIServerTargets([]string{"10.0.0.1"}, 443, []string{"192.168.1.10"}, 6443)}
	var policies []networkingv1.NetworkPolicy
	for _, ns := range []string{"pr-shop-42", "pr-shop-43"} {
		for _, o := range desiredChildren(ns, cfg.Preview, repoCfg, src).Objects {
			if np, ok := o.(*networkingv1.NetworkPolicy); ok {
				policies = append(policies, *np)
			}
		}
	}
	assert.Assert(t, len(policies) > 0)
	for _, p := range policies {
		assert.Check(t, is.Len(p.Spec.PodSelector.MatchLabels, 0), "%s selects pods by label", p.Name)
		assert.Check(t, is.Len(p.Spec.PodSelector.MatchExpressions, 0), "%s selects pods by label", p.Name)
	}

	pod := func(ns string, labels map[string]string) netpol.Endpoint {
		return netpol.Endpoint{Namespace: ns, PodLabels: labels, IP: netip.MustParseAddr("10.244.1.7")}
	}
	addr := func(ip string) netpol.Endpoint { return netpol.Endpoint{IP: netip.MustParseAddr(ip)} }
	app := map[string]string{"app.kubernetes.io/name": "shop"}
	dnsPod := pod("kube-system", map[string]string{"k8s-app": "kube-dns"})
	udp := corev1.ProtocolUDP

	egress := map[string]struct {
		to    netpol.Endpoint
		port  int32
		proto corev1.Protocol
		want  bool
	}{
		"DNS over UDP":                     {to: dnsPod, port: 53, proto: udp, want: true},
		"DNS over TCP":                     {to: dnsPod, port: 53, want: true},
		"another kube-system port":         {to: dnsPod, port: 443},
		"API server by cluster IP":         {to: addr("10.0.0.1"), port: 443, want: true},
		"API server endpoint":              {to: addr("192.168.1.10"), port: 6443, want: true},
		"kubelet on the API server's node": {to: addr("192.168.1.10"), port: 10250},
		"cloud metadata":                   {to: addr("169.254.169.254"), port: 80},
		"the internet":                     {to: addr("1.1.1.1"), port: 443},
		"git host":                         {to: addr("140.82.112.3"), port: 443, want: true},
		"git host over ssh":                {to: addr("140.82.112.3"), port: 22},
		"same namespace":                   {to: pod("pr-shop-42", app), port: 8080, want: true},
		"another preview":                  {to: pod("pr-shop-43", app), port: 8080},
		"another preview's pipeline pod":   {to: pod("pr-shop-43", pipelinePodLabels), port: 8080},
		"the builds namespace":             {to: pod("catalyst-builds", map[string]string{"app.kubernetes.io/managed-by": "tekton-pipelines"}), port: 1234},
		"the secrets namespace":            {to: pod("catalyst-secrets", nil), port: 443},
		"the trigger":                      {to: pod("catalyst-system", map[string]string{"app.kubernetes.io/name": "catalyst-trigger"}), port: 8080},
		"an auxiliary namespace":           {to: pod("registry", map[string]string{"app": "registry"}), port: 5000, want: true},
	}
	for name, tc := range egress {
		for who, labels := range map[string]map[string]string{"app pod": app, "pod with every pipeline label": pipelinePodLabels} {
			t.Run(name+"/"+who, func(t *testing.T) {
				got, why := netpol.Allowed(policies, netpol.Conn{From: pod("pr-shop-42", labels), To: tc.to, Port: tc.port, Protocol: tc.proto})
				assert.Check(t, is.Equal(got, tc.want), why)
			})
		}
	}

	ingress := map[string]struct {
		from netpol.Endpoint
		want bool
	}{
		"ingress controller":       {from: pod("ingress-nginx", map[string]string{"app.kubernetes.io/name": "ingress-nginx"}), want: true},
		"same namespace":           {from: pod("pr-shop-42", app), want: true},
		"another preview":          {from: pod("pr-shop-43", app)},
		"another preview pipeline": {from: pod("pr-shop-43", pipelinePodLabels)},
		"a build":                  {from: pod("catalyst-builds", map[string]string{"tekton.dev/pipelineTask": "build"})},
		"outside the cluster":      {from: addr("203.0.113.9")},
	}
	for name, tc := range ingress {
		for who, labels := range map[string]map[string]string{"to the app": app, "to a pipeline pod": pipelinePodLabels} {
			t.Run("ingress from "+name+"/"+who, func(t *testing.T) {
				got, why := netpol.Allowed(policies, netpol.Conn{From: tc.from, To: pod("pr-shop-42", labels), Port: 8080})
				assert.Check(t, is.Equal(got, tc.want), why)
			})
		}
	}
}

// Configured DNS and API server targets replace the defaults (NodeLocal DNS, a cluster whose
// DNS is not in kube-system, a fixed API server address).
func TestNetworkPoliciesFollowConfiguredTargets(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) {
		c.Preview.Egress.DNS = []config.EgressTarget{{CIDR: "169.254.20.10/32", Ports: []string{"53/UDP", "53/TCP"}}}
		c.Preview.Egress.APIServer = []config.EgressTarget{{CIDR: "172.16.0.2/32", Ports: []string{"443"}}}
	})
	repoCfg, _ := cfg.Repository("acme/shop")
	src := sources{APIServer: netpol.APIServerTargets([]string{"10.0.0.1"}, 443, nil, 0)}
	var policies []networkingv1.NetworkPolicy
	for _, o := range desiredChildren("pr-shop-42", cfg.Preview, repoCfg, src).Objects {
		if np, ok := o.(*networkingv1.NetworkPolicy); ok {
			policies = append(policies, *np)
		}
	}
	from := netpol.Endpoint{Namespace: "pr-shop-42", PodLabels: pipelinePodLabels}
	for _, tc := range []struct {
		to   netpol.Endpoint
		port int32
		want bool
	}{
		{to: netpol.Endpoint{IP: netip.MustParseAddr("169.254.20.10")}, port: 53, want: true},
		{to: netpol.Endpoint{Namespace: "kube-system"}, port: 53, want: false},
		{to: netpol.Endpoint{IP: netip.MustParseAddr("172.16.0.2")}, port: 443, want: true},
		{to: netpol.Endpoint{IP: netip.MustParseAddr("10.0.0.1")}, port: 443, want: false},
	} {
		got, why := netpol.Allowed(policies, netpol.Conn{From: from, To: tc.to, Port: tc.port, Protocol: corev1.ProtocolUDP})
		if tc.port == 443 {
			got, why = netpol.Allowed(policies, netpol.Conn{From: from, To: tc.to, Port: tc.port})
		}
		assert.Check(t, is.Equal(got, tc.want), "%+v:%d: %s", tc.to, tc.port, why)
	}
}
