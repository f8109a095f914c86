package netpol

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
)

// Endpoint is one side of a connection: a pod (Namespace set) or an address outside the
// cluster (Namespace empty).
type Endpoint struct {
	Namespace       string
	NamespaceLabels map[string]string // kubernetes.io/metadata.name is implied
	PodLabels       map[string]string
	IP              netip.Addr // the address the connection is judged at; may be unset for pods
}

// Conn is a connection attempt.
type Conn struct {
	From, To Endpoint
	Port     int32
	Protocol corev1.Protocol // "" is TCP
}

// Allowed evaluates policies (of any namespaces) for c with the semantics of the NetworkPolicy
// API: a pod selected by no policy of a direction is open in that direction; a pod selected
// by some is allowed exactly what one of their rules allows; the connection needs both the
// source's egress and the destination's ingress. The reason names the deciding policy or rule.
func Allowed(policies []networkingv1.NetworkPolicy, c Conn) (bool, string) {
	if c.Protocol == "" {
		c.Protocol = corev1.ProtocolTCP
	}
	if c.From.Namespace != "" {
		ok, why := direction(policies, c.From, networkingv1.PolicyTypeEgress, func(p networkingv1.NetworkPolicy) (bool, string) {
			for i, r := range p.Spec.Egress {
				if peersMatch(r.To, p.Namespace, c.To) && portsMatch(r.Ports, c.Port, c.Protocol) {
					return true, fmt.Sprintf("egress rule %d of %s/%s", i, p.Namespace, p.Name)
				}
			}
			return false, ""
		})
		if !ok {
			return false, why
		}
	}
	if c.To.Namespace != "" {
		ok, why := direction(policies, c.To, networkingv1.PolicyTypeIngress, func(p networkingv1.NetworkPolicy) (bool, string) {
			for i, r := range p.Spec.Ingress {
				if peersMatch(r.From, p.Namespace, c.From) && portsMatch(r.Ports, c.Port, c.Protocol) {
					return true, fmt.Sprintf("ingress rule %d of %s/%s", i, p.Namespace, p.Name)
				}
			}
			return false, ""
		})
		if !ok {
			return false, why
		}
	}
	return true, "allowed"
}

func direction(policies []networkingv1.NetworkPolicy, pod Endpoint, dir networkingv1.PolicyType, allows func(networkingv1.NetworkPolicy) (bool, string)) (bool, string) {
	isolated := false
	for _, p := range policies {
		if p.Namespace != pod.Namespace || !hasType(p, dir) || !selects(&p.Spec.PodSelector, pod.PodLabels) {
			continue
		}
		isolated = true
		if ok, why := allows(p); ok {
			return true, why
		}
	}
	if isolated {
		return false, fmt.Sprintf("%s of %s denied: no rule of a policy selecting the pod allows it", dir, pod.Namespace)
	}
	return true, "not isolated"
}

// hasType applies the API's defaulting: Ingress always, Egress when there are egress rules.
func hasType(p networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return t == networkingv1.PolicyTypeIngress || (t == networkingv1.PolicyTypeEgress && len(p.Spec.Egress) > 0)
	}
	for _, pt := range p.Spec.PolicyTypes {
		if pt == t {
			return true
		}
	}
	return false
}

// peersMatch: no peers match everything; a pod peer matches pods only, an ipBlock addresses.
func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNamespace string, e Endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			if !e.IP.IsValid() {
				continue
			}
			cidr, err := netip.ParsePrefix(p.IPBlock.CIDR)
			if err != nil || !cidr.Contains(e.IP) {
				continue
			}
			excluded := false
			for _, ex := range p.IPBlock.Except {
				if exp, err := netip.ParsePrefix(ex); err == nil && exp.Contains(e.IP) {
					excluded = true
				}
			}
			if !excluded {
				return true
			}
		case e.Namespace == "":
			// Namespace and pod selectors select pods only.
		case p.NamespaceSelector != nil:
			if selects(p.NamespaceSelector, namespaceLabels(e)) && (p.PodSelector == nil || selects(p.PodSelector, e.PodLabels)) {
				return true
			}
		case p.PodSelector != nil:
			if e.Namespace == policyNamespace && selects(p.PodSelector, e.PodLabels) {
				return true
			}
		}
	}
	return false
}

func namespaceLabels(e Endpoint) map[string]string {
	out := map[string]string{NamespaceNameLabel: e.Namespace}
	for k, v := range e.NamespaceLabels {
		if k != NamespaceNameLabel {
			out[k] = v
		}
	}
	return out
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if Protocol(p.Protocol) != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		// Named ports would need the destination's container spec; this project writes none.
		lo := p.Port.IntVal
		hi := lo
		if p.EndPort != nil {
			hi = *p.EndPort
		}
		if port >= lo && port <= hi {
			return true
		}
	}
	return false
}

func selects(sel *metav1.LabelSelector, labels map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(k8slabels.Set(labels))
}
