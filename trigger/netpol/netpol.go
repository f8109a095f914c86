// Package netpol builds the NetworkPolicies of PR namespaces and of the builds namespace from
// configured egress targets, and evaluates policies the way Kubernetes defines them, so that
// tests can ask "may this pod reach that destination?" of exactly the objects the trigger
// writes (no CNI runs in the local control plane).
//
// Every policy built here selects all pods of its namespace: a pull request's chart can give a
// pod any label, so no allowance may depend on one.
package netpol

import (
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/catalyst-preview/catalyst/config"
)

// NamespaceNameLabel is set by Kubernetes on every namespace; selecting by it cannot be forged.
const NamespaceNameLabel = "kubernetes.io/metadata.name"

// Policy is a NetworkPolicy selecting every pod of namespace.
func Policy(namespace, name string, labels map[string]string, ingress []networkingv1.NetworkPolicyIngressRule, egress []networkingv1.NetworkPolicyEgressRule, types ...networkingv1.PolicyType) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: types,
			Ingress:     ingress,
			Egress:      egress,
		},
	}
}

// InNamespace is a peer selecting every pod of the named namespace.
func InNamespace(name string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{NamespaceNameLabel: name}}}
}

// SameNamespace is a peer selecting every pod of the policy's own namespace.
func SameNamespace() networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{}}
}

// EgressRules turns targets into rules, one per target, in a stable order.
func EgressRules(targets []config.EgressTarget) []networkingv1.NetworkPolicyEgressRule {
	out := make([]networkingv1.NetworkPolicyEgressRule, 0, len(targets))
	for _, t := range targets {
		var peer networkingv1.NetworkPolicyPeer
		if t.Namespace != "" {
			peer = InNamespace(t.Namespace)
			if len(t.PodLabels) > 0 {
				peer.PodSelector = &metav1.LabelSelector{MatchLabels: t.PodLabels}
			}
		} else {
			except := append([]string(nil), t.Except...)
			sort.Strings(except)
			peer.IPBlock = &networkingv1.IPBlock{CIDR: t.CIDR, Except: except}
		}
		rule := networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{peer}}
		for _, p := range t.ParsedPorts() {
			proto, port := p.Protocol, intstr.FromInt32(p.Number)
			rule.Ports = append(rule.Ports, networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port})
		}
		out = append(out, rule)
	}
	return out
}

// APIServerTargets are the addresses at which pods reach the API server: the default/kubernetes
// Service's cluster IP (CNIs that judge before NAT) and its endpoints (CNIs that judge after).
func APIServerTargets(clusterIPs []string, servicePort int32, endpoints []string, endpointPort int32) []config.EgressTarget {
	var out []config.EgressTarget
	add := func(ips []string, port int32) {
		for _, ip := range ips {
			bits := "/32"
			for _, ch := range ip {
				if ch == ':' {
					bits = "/128"
					break
				}
			}
			t := config.EgressTarget{CIDR: ip + bits}
			if port > 0 {
				t.Ports = []string{strconv.Itoa(int(port))}
			}
			out = append(out, t)
		}
	}
	add(clusterIPs, servicePort)
	add(endpoints, endpointPort)
	sort.Slice(out, func(i, j int) bool {
		if out[i].CIDR != out[j].CIDR {
			return out[i].CIDR < out[j].CIDR
		}
		return len(out[i].Ports) > 0 && (len(out[j].Ports) == 0 || out[i].Ports[0] < out[j].Ports[0])
	})
	// Drop duplicates (the same address with the same port).
	dedup := out[:0]
	for i, t := range out {
		if i > 0 && t.CIDR == out[i-1].CIDR && equalPorts(t.Ports, out[i-1].Ports) {
			continue
		}
		dedup = append(dedup, t)
	}
	return dedup
}

func equalPorts(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Protocol returns p or TCP, the API's default.
func Protocol(p *corev1.Protocol) corev1.Protocol {
	if p == nil {
		return corev1.ProtocolTCP
	}
	return *p
}
