package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Egress lists the destinations outside their own namespace that pods may reach. Each rule
// applies to every pod of the namespace: a pull request's chart can set any label, so no
// allowance is ever tied to a label (docs/security.md).
type Egress struct {
	// DNS is where pods resolve names. Default: port 53 (UDP and TCP) of the pods in
	// kube-system. NodeLocal DNS: {cidr: 169.254.20.10/32, ports: ["53/UDP", "53/TCP"]}.
	DNS []EgressTarget `json:"dns,omitempty"`
	// APIServer is the Kubernetes API server, which the deploy, health check and cleanup steps
	// call from PR namespaces. Empty: the addresses of the default/kubernetes Service and its
	// EndpointSlice, read by the trigger.
	APIServer []EgressTarget `json:"apiServer,omitempty"`
	// Git is the git host: PR namespaces fetch the chart from it, builds fetch the source.
	// Empty: no git host is reachable (a cluster that does not enforce NetworkPolicy works
	// regardless).
	Git []EgressTarget `json:"git,omitempty"`
	// Registry is the image registry builds push to and pull base images from (builds only).
	Registry []EgressTarget `json:"registry,omitempty"`
	// Build adds destinations for builds only: a package mirror or an HTTP proxy.
	Build []EgressTarget `json:"build,omitempty"`
}

// EgressTarget is one destination: a namespace (optionally only its pods with podLabels) or
// an IP block, on some ports (empty: every port).
type EgressTarget struct {
	Namespace string            `json:"namespace,omitempty"`
	PodLabels map[string]string `json:"podLabels,omitempty"`
	CIDR      string            `json:"cidr,omitempty"`
	Except    []string          `json:"except,omitempty"`
	// Ports are "443" (TCP) or "53/UDP".
	Ports []string `json:"ports,omitempty"`
}

// Port is a parsed EgressTarget port.
type Port struct {
	Number   int32
	Protocol corev1.Protocol
}

// ParsedPorts returns the target's ports; Validate has checked them.
func (t EgressTarget) ParsedPorts() []Port {
	out := make([]Port, 0, len(t.Ports))
	for _, s := range t.Ports {
		if p, err := parsePort(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parsePort(s string) (Port, error) {
	num, proto, found := strings.Cut(s, "/")
	p := Port{Protocol: corev1.ProtocolTCP}
	if found {
		switch strings.ToUpper(proto) {
		case "TCP":
		case "UDP":
			p.Protocol = corev1.ProtocolUDP
		case "SCTP":
			p.Protocol = corev1.ProtocolSCTP
		default:
			return p, fmt.Errorf("protocol %q is not TCP, UDP or SCTP", proto)
		}
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 65535 {
		return p, fmt.Errorf("%q is not a port number (1-65535), optionally with /TCP, /UDP or /SCTP", s)
	}
	p.Number = int32(n)
	return p, nil
}

// DefaultDNS is the DNS target when none is configured.
func DefaultDNS() []EgressTarget {
	return []EgressTarget{{Namespace: "kube-system", Ports: []string{"53/UDP", "53/TCP"}}}
}

// Pod Security levels a PR namespace may enforce.
const (
	PodSecurityBaseline   = "baseline"
	PodSecurityRestricted = "restricted"
)

// Defaults of the build isolation.
const (
	DefaultPodSecurity    = PodSecurityBaseline
	DefaultBuildNamespace = "catalyst-builds"
)

func (e *Egress) defaults() {
	if e.DNS == nil {
		e.DNS = DefaultDNS()
	}
}

// validateSecurity checks the fields that keep a pull request's code contained.
func (c *Config) validateSecurity(bad func(field, format string, args ...any)) {
	p := c.Preview
	switch p.PodSecurity {
	case PodSecurityBaseline, PodSecurityRestricted:
	case "privileged":
		bad("preview.podSecurity", "privileged is refused: a pull request's chart could then run a privileged, hostPath or "+
			"hostNetwork pod, which is root on a node. Use baseline (the default) or restricted; the image build, which "+
			"needs more, runs in preview.buildNamespace where no chart can place a pod")
	default:
		bad("preview.podSecurity", "must be baseline or restricted, got %q", p.PodSecurity)
	}
	if msgs := validation.IsDNS1123Label(p.BuildNamespace); len(msgs) > 0 {
		bad("preview.buildNamespace", "%q is not a namespace name: %s", p.BuildNamespace, strings.Join(msgs, "; "))
	}
	// The builds namespace enforces "privileged" and holds registry credentials: it must be
	// none of the namespaces a PR namespace reaches or the trigger reads from.
	for field, ns := range map[string]string{
		"preview.pipelineNamespace": p.PipelineNamespace,
		"preview.secretsNamespace":  p.SecretsNamespace,
		"preview.ingressNamespace":  p.IngressNamespace,
	} {
		if ns == p.BuildNamespace {
			bad("preview.buildNamespace", "must differ from %s (%q)", field, ns)
		}
	}
	if strings.HasPrefix(p.BuildNamespace, "pr-") {
		bad("preview.buildNamespace", "must not start with pr- (PR namespaces are named pr-{repo}-{n}), got %q", p.BuildNamespace)
	}
	aux := append([]string{}, p.AuxiliaryNamespaces...)
	for _, r := range c.Repositories {
		aux = append(aux, r.AuxiliaryNamespaces...)
	}
	for _, a := range aux {
		if a == p.BuildNamespace {
			bad("preview.auxiliaryNamespaces", "must not include the builds namespace %q: previews would reach the builds", a)
		}
	}
	if p.RegistryAuthSecret != "" {
		if msgs := validation.IsDNS1123Subdomain(p.RegistryAuthSecret); len(msgs) > 0 {
			bad("preview.registryAuthSecret", "%q is not a Secret name", p.RegistryAuthSecret)
		}
	}
	for field, targets := range map[string][]EgressTarget{
		"preview.egress.dns":       p.Egress.DNS,
		"preview.egress.apiServer": p.Egress.APIServer,
		"preview.egress.git":       p.Egress.Git,
		"preview.egress.registry":  p.Egress.Registry,
		"preview.egress.build":     p.Egress.Build,
	} {
		for i, t := range targets {
			validateTarget(fmt.Sprintf("%s[%d]", field, i), t, p.BuildNamespace, bad)
		}
	}
	if len(p.Egress.DNS) == 0 {
		bad("preview.egress.dns", "must list at least one target: pods cannot resolve names otherwise")
	}
	if c.GitHub.CopyTokenToPreviews && c.GitHub.TokenFile == "" {
		bad("github.copyTokenToPreviews", "only applies with github.tokenFile (an App gives each pipeline its own read-only token)")
	}
}

func validateTarget(field string, t EgressTarget, buildNamespace string, bad func(field, format string, args ...any)) {
	switch {
	case t.Namespace != "" && t.CIDR != "":
		bad(field, "set namespace or cidr, not both")
	case t.Namespace == "" && t.CIDR == "":
		bad(field, "set namespace or cidr")
	case t.Namespace != "":
		if msgs := validation.IsDNS1123Label(t.Namespace); len(msgs) > 0 {
			bad(field+".namespace", "%q is not a namespace name", t.Namespace)
		}
		if t.Namespace == buildNamespace {
			bad(field+".namespace", "must not be the builds namespace %q", t.Namespace)
		}
		if len(t.Except) > 0 {
			bad(field+".except", "applies to cidr only")
		}
	default:
		if len(t.PodLabels) > 0 {
			bad(field+".podLabels", "applies to namespace only")
		}
		prefix, err := netip.ParsePrefix(t.CIDR)
		if err != nil || prefix.Masked() != prefix {
			bad(field+".cidr", "%q is not a CIDR in canonical form (10.0.0.0/8, 2001:db8::/32)", t.CIDR)
			break
		}
		for j, e := range t.Except {
			ep, err := netip.ParsePrefix(e)
			if err != nil || ep.Masked() != ep || !prefix.Contains(ep.Addr()) || ep.Bits() <= prefix.Bits() {
				bad(fmt.Sprintf("%s.except[%d]", field, j), "%q is not a CIDR inside %s", e, t.CIDR)
			}
		}
	}
	for j, s := range t.Ports {
		if _, err := parsePort(s); err != nil {
			bad(fmt.Sprintf("%s.ports[%d]", field, j), "%v", err)
		}
	}
}
