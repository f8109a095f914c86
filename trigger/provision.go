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

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/trigger/netpol"
)

// Names of the objects the trigger keeps in every PR namespace.
const (
	PipelineServiceAccount = preview.PipelineServiceAccount
	quotaName              = "catalyst-quota"
	limitRangeName         = "catalyst-limits"
)

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
	// APIServer are the API server's addresses (default/kubernetes), for the egress policy.
	APIServer []config.EgressTarget
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
	objs = append(objs, networkPolicies(namespace, p, r, src.APIServer, labels)...)
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
		copied.Annotations = map[string]string{
			preview.AnnotationCopiedFrom:    s.Namespace + "/" + s.Name,
			preview.AnnotationSourceVersion: string(s.UID) + "/" + s.ResourceVersion,
		}
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

// networkPolicies deny everything by default and open, for every pod of the namespace alike,
// exactly: traffic inside the namespace, DNS, the ingress controller in, and out the API server
// (the deploy, health check and cleanup steps call it), the git host (the deploy step fetches
// the chart) and the auxiliary namespaces. No rule selects pods by label: the PR's chart can
// give its pods any label, including every label of the pipeline's own pods.
func networkPolicies(namespace string, p config.Preview, r config.Repository, apiServer []config.EgressTarget, labels map[string]string) []runtime.Object {
	ingress, egress := networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress
	objs := []runtime.Object{
		netpol.Policy(namespace, "catalyst-default-deny", labels, nil, nil, ingress, egress),
		netpol.Policy(namespace, "catalyst-allow-same-namespace", labels,
			[]networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{netpol.SameNamespace()}}},
			[]networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{netpol.SameNamespace()}}},
			ingress, egress),
		netpol.Policy(namespace, "catalyst-allow-dns", labels, nil, netpol.EgressRules(p.Egress.DNS), egress),
		netpol.Policy(namespace, "catalyst-allow-ingress-controller", labels,
			[]networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{netpol.InNamespace(p.IngressNamespace)}}}, nil, ingress),
	}
	if len(p.Egress.APIServer) > 0 {
		apiServer = p.Egress.APIServer
	}
	if len(apiServer) > 0 {
		objs = append(objs, netpol.Policy(namespace, "catalyst-allow-apiserver", labels, nil, netpol.EgressRules(apiServer), egress))
	}
	if len(p.Egress.Git) > 0 {
		objs = append(objs, netpol.Policy(namespace, "catalyst-allow-git", labels, nil, netpol.EgressRules(p.Egress.Git), egress))
	}
	aux := append(append([]string{}, p.AuxiliaryNamespaces...), r.AuxiliaryNamespaces...)
	sort.Strings(aux)
	var auxPeers []networkingv1.NetworkPolicyPeer
	for i, a := range aux {
		if i > 0 && aux[i-1] == a {
			continue
		}
		auxPeers = append(auxPeers, netpol.InNamespace(a))
	}
	if len(auxPeers) > 0 {
		objs = append(objs, netpol.Policy(namespace, "catalyst-allow-auxiliary", labels, nil,
			[]networkingv1.NetworkPolicyEgressRule{{To: auxPeers}}, egress))
	}
	return objs
}

// fingerprint of the desired children: provisioning is skipped while it matches the namespace's
// annotation, which keeps reconciles of a quiet namespace free of API writes. Secret data is
// left out: a hash of a low-entropy secret can be brute-forced from the annotation. A copy's
// source uid and resourceVersion (in its annotations) stand for its content instead.
func (c children) fingerprint() string {
	h := sha256.New()
	for _, o := range c.Objects {
		if s, ok := o.(*corev1.Secret); ok {
			redacted := *s
			redacted.Data, redacted.StringData = nil, nil
			o = &redacted
		}
		b, _ := json.Marshal(o)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func ptrTo[T any](v T) *T { return &v }
