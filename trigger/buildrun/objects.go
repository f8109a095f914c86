package buildrun

import (
	"sort"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/pod"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/tasks"
	"github.com/catalyst-preview/catalyst/trigger/netpol"
)

// ParamCredentialsSecret is the catalyst-build Task's param naming the build's credentials
// Secret (keys: KeyGitToken, KeyRegistryAuth).
const ParamCredentialsSecret = "credentials-secret"

// Keys of the credentials Secret.
const (
	KeyGitToken     = "token"                    // the PR namespace's git token (contents:read)
	KeyRegistryAuth = corev1.DockerConfigJsonKey // preview.registryAuthSecret's .dockerconfigjson
)

// PodSecurityLabel is the Pod Security admission label the builds namespace enforces.
const PodSecurityLabel = "pod-security.kubernetes.io/enforce"

// skippedAnnotations are not copied from the CustomRun to its build.
var skippedAnnotations = map[string]bool{"kubectl.kubernetes.io/last-applied-configuration": true}

// buildLabels are the CustomRun's labels (the PipelineRun's: repo, PR, SHA, tekton.dev/
// pipelineRun and pipelineTask, ...) and the build's own. The managed label is left out: the
// build is not a PR namespace's object, and whatever lists those must not find it.
func buildLabels(cr *v1beta1.CustomRun) map[string]string {
	out := map[string]string{}
	for k, v := range cr.Labels {
		if k != preview.LabelManaged {
			out[k] = v
		}
	}
	out[preview.LabelBuild] = "true"
	out[preview.LabelRunNamespace] = cr.Namespace
	out[preview.LabelCustomRun] = cr.Name
	out[preview.LabelCustomRunUID] = string(cr.UID)
	return out
}

// taskRunFor is the build TaskRun of cr: the catalyst-build Task in the builds namespace, run
// by the builder ServiceAccount without a token, with the CustomRun's params (those the Task
// declares), timeout and annotations (the e2e harness steers pods with them).
func taskRunFor(cr *v1beta1.CustomRun, buildNamespace string, task *pipelinev1.Task) *pipelinev1.TaskRun {
	name := TaskRunName(cr.Namespace, cr.Name)
	ann := map[string]string{}
	for k, v := range cr.Annotations {
		if !skippedAnnotations[k] {
			ann[k] = v
		}
	}
	declared := map[string]bool{}
	if task != nil {
		for _, p := range task.Spec.Params {
			declared[p.Name] = true
		}
	}
	var params pipelinev1.Params
	for _, p := range cr.Spec.Params {
		if p.Name == ParamCredentialsSecret || (task != nil && !declared[p.Name]) {
			continue
		}
		params = append(params, pipelinev1.Param{Name: p.Name, Value: pipelinev1.ParamValue{
			Type: pipelinev1.ParamType(p.Value.Type), StringVal: p.Value.StringVal, ArrayVal: p.Value.ArrayVal, ObjectVal: p.Value.ObjectVal,
		}})
	}
	params = append(params, pipelinev1.Param{Name: ParamCredentialsSecret, Value: *pipelinev1.NewStructuredValues(SecretName(name))})
	sort.SliceStable(params, func(i, j int) bool { return params[i].Name < params[j].Name })
	noToken := false
	tr := &pipelinev1.TaskRun{
		TypeMeta: metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "TaskRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   buildNamespace,
			Labels:      buildLabels(cr),
			Annotations: ann,
		},
		Spec: pipelinev1.TaskRunSpec{
			TaskRef:            &pipelinev1.TaskRef{Name: tasks.Build, Kind: pipelinev1.NamespacedTaskKind},
			Params:             params,
			ServiceAccountName: preview.BuilderServiceAccount,
			PodTemplate:        &pod.PodTemplate{AutomountServiceAccountToken: &noToken},
		},
	}
	if cr.Spec.Timeout != nil {
		tr.Spec.Timeout = cr.Spec.Timeout.DeepCopy()
	}
	return tr
}

// credentialsSecret holds what one build needs and nothing else: the PR's read-only git token
// and the registry push credential. It lives as long as the build runs.
func credentialsSecret(cr *v1beta1.CustomRun, buildNamespace string, gitToken, registryAuth []byte) *corev1.Secret {
	data := map[string][]byte{}
	if len(gitToken) > 0 {
		data[KeyGitToken] = gitToken
	}
	if len(registryAuth) > 0 {
		data[KeyRegistryAuth] = registryAuth
	}
	immutable := true
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      SecretName(TaskRunName(cr.Namespace, cr.Name)),
			Namespace: buildNamespace,
			Labels:    buildLabels(cr),
		},
		Type:      corev1.SecretTypeOpaque,
		Data:      data,
		Immutable: &immutable,
	}
}

// namespaceObjects are the builds namespace and what it holds besides builds: Pod Security
// "privileged" (rootless BuildKit needs unconfined seccomp and AppArmor), a ServiceAccount
// without a token and without any RoleBinding, network policies that let nothing in and only
// DNS, the git host, the registry and configured build targets out, and the Task.
func namespaceObjects(p config.Preview, task *pipelinev1.Task) []runtime.Object {
	ns := p.BuildNamespace
	labels := map[string]string{preview.LabelBuild: "true"}
	noToken := false
	ingress, egress := networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress
	objs := []runtime.Object{
		&corev1.Namespace{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
				preview.LabelBuildsNamespace: "true",
				PodSecurityLabel:             "privileged",
			}},
		},
		&corev1.ServiceAccount{
			TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta:                   metav1.ObjectMeta{Name: preview.BuilderServiceAccount, Namespace: ns, Labels: labels},
			AutomountServiceAccountToken: &noToken,
		},
		netpol.Policy(ns, "catalyst-default-deny", labels, nil, nil, ingress, egress),
		netpol.Policy(ns, "catalyst-allow-dns", labels, nil, netpol.EgressRules(p.Egress.DNS), egress),
	}
	for _, o := range []struct {
		name    string
		targets []config.EgressTarget
	}{{"catalyst-allow-git", p.Egress.Git}, {"catalyst-allow-registry", p.Egress.Registry}, {"catalyst-allow-build", p.Egress.Build}} {
		if len(o.targets) > 0 {
			objs = append(objs, netpol.Policy(ns, o.name, labels, nil, netpol.EgressRules(o.targets), egress))
		}
	}
	if task != nil {
		taskLabels := map[string]string{}
		for k, v := range task.Labels {
			taskLabels[k] = v
		}
		taskLabels[preview.LabelBuild] = "true"
		objs = append(objs, &pipelinev1.Task{
			TypeMeta:   metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "Task"},
			ObjectMeta: metav1.ObjectMeta{Name: task.Name, Namespace: ns, Labels: taskLabels},
			Spec:       task.Spec,
		})
	}
	return objs
}
