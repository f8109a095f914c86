package netpol

import (
	"net/netip"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/catalyst-preview/catalyst/config"
)

// The evaluator follows the API's semantics, including the label-selected exception this
// project used to write (any pod that copies the label gets out): it must tell such a policy
// set apart from a safe one, or the tests built on it prove nothing.
func TestAllowed(t *testing.T) {
	deny := *Policy("ns", "deny", nil, nil, nil, networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress)
	labelled := networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "pipeline-egress", Namespace: "ns"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/managed-by": "tekton-pipelines"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
		},
	}
	dns := *Policy("ns", "dns", nil, nil, EgressRules(config.DefaultDNS()), networkingv1.PolicyTypeEgress)
	git := *Policy("ns", "git", nil, nil, EgressRules([]config.EgressTarget{{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}, Ports: []string{"443"}}}), networkingv1.PolicyTypeEgress)
	endPort := int32(9000)
	rangePolicy := networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "range", Namespace: "ns"},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromInt32(8000)), EndPort: &endPort}},
			}},
		},
	}
	ingressOnly := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: "other"}} // no types: Ingress
	pod := func(ns string, labels map[string]string) Endpoint { return Endpoint{Namespace: ns, PodLabels: labels} }
	out := Endpoint{IP: netip.MustParseAddr("169.254.169.254")}
	tekton := map[string]string{"app.kubernetes.io/managed-by": "tekton-pipelines"}

	tests := map[string]struct {
		policies []networkingv1.NetworkPolicy
		conn     Conn
		want     bool
	}{
		"no policy: open":                        {conn: Conn{From: pod("ns", nil), To: out, Port: 80}, want: true},
		"default deny":                           {policies: []networkingv1.NetworkPolicy{deny}, conn: Conn{From: pod("ns", nil), To: out, Port: 80}},
		"label exception, pod without the label": {policies: []networkingv1.NetworkPolicy{deny, labelled}, conn: Conn{From: pod("ns", nil), To: out, Port: 80}},
		"label exception, pod copying the label": {policies: []networkingv1.NetworkPolicy{deny, labelled}, conn: Conn{From: pod("ns", tekton), To: out, Port: 80}, want: true},
		"dns namespace, udp 53":                  {policies: []networkingv1.NetworkPolicy{deny, dns}, conn: Conn{From: pod("ns", nil), To: pod("kube-system", nil), Port: 53, Protocol: corev1.ProtocolUDP}, want: true},
		"dns namespace, another namespace":       {policies: []networkingv1.NetworkPolicy{deny, dns}, conn: Conn{From: pod("ns", nil), To: pod("kube-public", nil), Port: 53, Protocol: corev1.ProtocolUDP}},
		"dns namespace, sctp 53":                 {policies: []networkingv1.NetworkPolicy{deny, dns}, conn: Conn{From: pod("ns", nil), To: pod("kube-system", nil), Port: 53, Protocol: corev1.ProtocolSCTP}},
		"ip block":                               {policies: []networkingv1.NetworkPolicy{deny, git}, conn: Conn{From: pod("ns", nil), To: Endpoint{IP: netip.MustParseAddr("10.2.3.4")}, Port: 443}, want: true},
		"ip block except":                        {policies: []networkingv1.NetworkPolicy{deny, git}, conn: Conn{From: pod("ns", nil), To: Endpoint{IP: netip.MustParseAddr("10.1.3.4")}, Port: 443}},
		"ip block, pod without an address":       {policies: []networkingv1.NetworkPolicy{deny, git}, conn: Conn{From: pod("ns", nil), To: pod("x", nil), Port: 443}},
		"port range, inside":                     {policies: []networkingv1.NetworkPolicy{deny, rangePolicy}, conn: Conn{From: pod("ns", nil), To: out, Port: 8500}, want: true},
		"port range, outside":                    {policies: []networkingv1.NetworkPolicy{deny, rangePolicy}, conn: Conn{From: pod("ns", nil), To: out, Port: 9001}},
		"destination isolated by ingress":        {policies: []networkingv1.NetworkPolicy{ingressOnly}, conn: Conn{From: pod("ns", nil), To: pod("other", nil), Port: 80}},
		"destination ingress, egress unaffected": {policies: []networkingv1.NetworkPolicy{ingressOnly}, conn: Conn{From: pod("other", nil), To: out, Port: 80}, want: true},
		"same-namespace peer from another one":   {policies: []networkingv1.NetworkPolicy{deny, *Policy("ns", "same", nil, []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{SameNamespace()}}}, nil, networkingv1.PolicyTypeIngress)}, conn: Conn{From: pod("other", nil), To: pod("ns", nil), Port: 80}},
		"same-namespace peer from the namespace": {policies: []networkingv1.NetworkPolicy{*Policy("ns", "same", nil, []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{SameNamespace()}}}, nil, networkingv1.PolicyTypeIngress)}, conn: Conn{From: pod("ns", nil), To: pod("ns", nil), Port: 80}, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, why := Allowed(tc.policies, tc.conn)
			assert.Check(t, is.Equal(got, tc.want), why)
		})
	}
}

func TestAPIServerTargets(t *testing.T) {
	got := APIServerTargets([]string{"10.0.0.1", "fd00::1"}, 443, []string{"192.168.1.10", "192.168.1.10"}, 6443)
	assert.DeepEqual(t, got, []config.EgressTarget{
		{CIDR: "10.0.0.1/32", Ports: []string{"443"}},
		{CIDR: "192.168.1.10/32", Ports: []string{"6443"}},
		{CIDR: "fd00::1/128", Ports: []string{"443"}},
	})
	assert.Check(t, is.Len(APIServerTargets(nil, 0, nil, 0), 0))
}

func ptr[T any](v T) *T { return &v }
