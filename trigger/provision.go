package trigger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
)

// Names of the objects the trigger keeps in every PR namespace.
const (
	PipelineServiceAccount = preview.PipelineServiceAccount
	quotaName              = "catalyst-quota"
	limitRangeName         = "catalyst-limits"
)

// tektonManagedByLabel is set by Tekton on every TaskRun pod; the network policy lets those pods
// reach the outside (git, registry, apiserver) while the application stays fenced in.
const tektonManagedByLabel = "app.kubernetes.io/managed-by"

// children are the desired objects of one PR namespace, applied with server-side apply.
type children struct {
	Objects []runtime.Object
}

// sources are the objects copied into each PR namespace, read from their source namespaces.
type sources struct {
	Secrets   []*corev1.Secret       // the repository's configured secrets
	Pipelines []*pipelinev1.Pipeline // deploy and cleanup pipelines
	Tasks     []*pipelinev1.Task     // every task they reference
	Missing   []string               // configured sources that do not exist (reported, not fatal)
}

// desiredChildren is the pure description of a PR namespace's contents.
func desiredChildren(namespace string, p config.Preview, r config.Repository, src sources) children {
	labels := map[string]string{preview.LabelManaged: preview.ManagedTrue}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels}
	}
	quota := p.Quota
	if r.Quota != nil {
		quota = *r.Quota
	}
	lr := p.LimitRange
	if r.LimitRange != nil {
		lr = *r.LimitRange
	}
	var objs []runtime.Object
	objs = append(objs,
		&corev1.ResourceQuota{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
			ObjectMeta: meta(quotaName),
			Spec:       corev1.ResourceQuotaSpec{Hard: quota.Hard},
		},
		&corev1.LimitRange{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
			ObjectMeta: meta(limitRangeName),
			Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
				Type:           corev1.LimitTypeContainer,
				DefaultRequest: lr.DefaultRequest,
				Default:        lr.Default,
				Max:            lr.Max,
			}}},
		},
	)
	objs = append(objs, networkPolicies(namespace, p, r, labels)...)
	objs = append(objs,
		&corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: meta(PipelineServiceAccount),
		},
		preview.PipelineRole(namespace, labels),
		preview.PipelineRoleBinding(namespace, labels),
	)
	for _, s := range src.Secrets {
		copied := &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: meta(s.Name),
			Type:       s.Type,
			Data:       s.Data,
			Immutable:  ptrTo(true),
		}
		copied.Annotations = map[string]string{preview.Prefix + "copied-from": s.Namespace + "/" + s.Name}
		objs = append(objs, copied)
	}
	for _, pl := range src.Pipelines {
		objs = append(objs, &pipelinev1.Pipeline{
			TypeMeta:   metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "Pipeline"},
			ObjectMeta: meta(pl.Name),
			Spec:       pl.Spec,
		})
	}
	for _, t := range src.Tasks {
		objs = append(objs, &pipelinev1.Task{
			TypeMeta:   metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "Task"},
			ObjectMeta: meta(t.Name),
			Spec:       t.Spec,
		})
	}
	return children{Objects: objs}
}

// networkPolicies deny everything by default and open exactly: traffic inside the namespace, DNS,
// the ingress controller in, the auxiliary namespaces out, and the pipeline's own pods out (they
// fetch source, pull base images, push images and talk to the API server).
func networkPolicies(namespace string, p config.Preview, r config.Repository, labels map[string]string) []runtime.Object {
	np := func(name string, spec networkingv1.NetworkPolicySpec) runtime.Object {
		return &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels},
			Spec:       spec,
		}
	}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	nsSelector := func(name string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": name}}
	}
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dns := intstr.FromInt32(53)
	aux := append(append([]string{}, p.AuxiliaryNamespaces...), r.AuxiliaryNamespaces...)
	sort.Strings(aux)
	var auxPeers []networkingv1.NetworkPolicyPeer
	for i, a := range aux {
		if i > 0 && aux[i-1] == a {
			continue
		}
		auxPeers = append(auxPeers, networkingv1.NetworkPolicyPeer{NamespaceSelector: nsSelector(a)})
	}
	objs := []runtime.Object{
		np("catalyst-default-deny", networkingv1.NetworkPolicySpec{PolicyTypes: both}),
		np("catalyst-allow-same-namespace", networkingv1.NetworkPolicySpec{
			PolicyTypes: both,
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}}},
		}),
		np("catalyst-allow-dns", networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsSelector("kube-system")}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
			}},
		}),
		np("catalyst-allow-ingress-controller", networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsSelector(p.IngressNamespace)}}}},
		}),
		np("catalyst-allow-pipeline-egress", networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{tektonManagedByLabel: "tekton-pipelines"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
		}),
	}
	if len(auxPeers) > 0 {
		objs = append(objs, np("catalyst-allow-auxiliary", networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: auxPeers}},
		}))
	}
	return objs
}

// fingerprint of the desired children: provisioning is skipped while it matches the namespace's
// annotation, which keeps reconciles of a quiet namespace free of API writes.
func (c children) fingerprint() string {
	h := sha256.New()
	for _, o := range c.Objects {
		b, _ := json.Marshal(o)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func ptrTo[T any](v T) *T { return &v }
