package buildrun

import (
	"net/netip"
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/trigger/netpol"
)

// The builds namespace lets nothing in and only DNS, the git host, the registry and the
// configured build targets out — whatever the PR's Dockerfile runs. Evaluated on exactly the
// policies the controller applies.
func TestBuildsNamespacePolicies(t *testing.T) {
	p := config.Preview{
		BuildNamespace: "catalyst-builds",
		Egress: config.Egress{
			DNS:      config.DefaultDNS(),
			Git:      []config.EgressTarget{{CIDR: "140.82.112.0/20", Ports: []string{"443"}}},
			Registry: []config.EgressTarget{{Namespace: "registry", Ports: []string{"5000"}}},
			Build:    []config.EgressTarget{{CIDR: "10.20.0.0/16", Ports: []string{"3128"}}},
		},
	}
	var policies []networkingv1.NetworkPolicy
	for _, o := range namespaceObjects(p, nil) {
		if np, ok := o.(*networkingv1.NetworkPolicy); ok {
			assert.Check(t, is.Len(np.Spec.PodSelector.MatchLabels, 0), "%s selects by label", np.Name)
			policies = append(policies, *np)
		}
	}
	build := netpol.Endpoint{Namespace: "catalyst-builds", PodLabels: map[string]string{"tekton.dev/pipelineTask": "build"}}
	addr := func(ip string) netpol.Endpoint { return netpol.Endpoint{IP: netip.MustParseAddr(ip)} }
	pod := func(ns string) netpol.Endpoint {
		return netpol.Endpoint{Namespace: ns, PodLabels: map[string]string{"app.kubernetes.io/managed-by": "tekton-pipelines"}}
	}
	tests := map[string]struct {
		conn netpol.Conn
		want bool
	}{
		"DNS":                         {conn: netpol.Conn{From: build, To: pod("kube-system"), Port: 53, Protocol: corev1.ProtocolUDP}, want: true},
		"git host":                    {conn: netpol.Conn{From: build, To: addr("140.82.114.4"), Port: 443}, want: true},
		"registry":                    {conn: netpol.Conn{From: build, To: pod("registry"), Port: 5000}, want: true},
		"package proxy":               {conn: netpol.Conn{From: build, To: addr("10.20.1.1"), Port: 3128}, want: true},
		"API server":                  {conn: netpol.Conn{From: build, To: addr("10.0.0.1"), Port: 443}},
		"cloud metadata":              {conn: netpol.Conn{From: build, To: addr("169.254.169.254"), Port: 80}},
		"the internet":                {conn: netpol.Conn{From: build, To: addr("1.1.1.1"), Port: 443}},
		"a preview":                   {conn: netpol.Conn{From: build, To: pod("pr-shop-42"), Port: 8080}},
		"another build":               {conn: netpol.Conn{From: build, To: build, Port: 1234}},
		"a preview's pod to a build":  {conn: netpol.Conn{From: pod("pr-shop-42"), To: build, Port: 1234}},
		"anything to a build":         {conn: netpol.Conn{From: addr("203.0.113.9"), To: build, Port: 22}},
		"the trigger to a build":      {conn: netpol.Conn{From: pod("catalyst-system"), To: build, Port: 8080}},
		"registry on another port":    {conn: netpol.Conn{From: build, To: pod("registry"), Port: 22}},
		"kube-system on another port": {conn: netpol.Conn{From: build, To: pod("kube-system"), Port: 443}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, why := netpol.Allowed(policies, tc.conn)
			assert.Check(t, is.Equal(got, tc.want), why)
		})
	}
}

// The build's pod gets no ServiceAccount token, and the ServiceAccount has none to give.
func TestBuildObjectsCarryNoIdentity(t *testing.T) {
	cr := customRun(func(cr *v1beta1.CustomRun) {
		cr.Labels = map[string]string{"catalyst.dev/managed": "true", "tekton.dev/pipelineTask": "build"}
		cr.Annotations = map[string]string{"e2e.catalyst.dev/hold.build": "true"}
	})
	tr := taskRunFor(cr, bns, nil)
	assert.Check(t, is.Equal(tr.Spec.ServiceAccountName, "catalyst-builder"))
	assert.Assert(t, tr.Spec.PodTemplate != nil && tr.Spec.PodTemplate.AutomountServiceAccountToken != nil)
	assert.Check(t, !*tr.Spec.PodTemplate.AutomountServiceAccountToken)
	assert.Check(t, is.Equal(tr.Labels["catalyst.dev/managed"], ""), "a build is not a PR namespace's object")
	assert.Check(t, is.Equal(tr.Labels["tekton.dev/pipelineTask"], "build"))
	assert.Check(t, is.Equal(tr.Annotations["e2e.catalyst.dev/hold.build"], "true"), "the PipelineRun's annotations reach the build")
	for _, o := range namespaceObjects(config.Preview{BuildNamespace: bns, Egress: config.Egress{DNS: config.DefaultDNS()}}, nil) {
		if sa, ok := o.(*corev1.ServiceAccount); ok {
			assert.Check(t, sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken)
		}
		if ns, ok := o.(*corev1.Namespace); ok {
			assert.Check(t, is.Equal(ns.Labels[PodSecurityLabel], "privileged"))
		}
	}
}
