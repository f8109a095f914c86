package preview

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PipelineServiceAccount is the ServiceAccount the deploy, health check and cleanup tasks run as
// in each PR namespace. The image build does not use it: it runs in the builds namespace.
const PipelineServiceAccount = "catalyst-pipeline"

// PipelineRoleName names the Role (today written by the trigger into each PR namespace) or the
// ClusterRole (bound per namespace by a RoleBinding) that holds PipelineRules.
const PipelineRoleName = "catalyst-pipeline"

// PipelineRules are everything the pipeline's ServiceAccount may do, in its own namespace only.
// They are the one definition shared by the trigger's Role, the chart's generated RBAC and the
// tests that run the real step code as that ServiceAccount (step/e2e_test.go), so a rule missing
// here fails those tests rather than a user's deployment.
//
// What a pull request's chart can create is exactly what is listed here, so the list is what a
// preview application needs and no more:
//   - no pods (controllers create them; admission still judges every pod), no DaemonSets (one pod
//     per node is never a preview's business);
//   - no NetworkPolicies (they only add allowances: a chart could open its own egress), no
//     ResourceQuotas or LimitRanges (a chart could lift its own limits), no Roles or
//     RoleBindings, nothing cluster-scoped;
//   - Secrets without "watch": Helm keeps its release records in Secrets (get, list by label,
//     create, update, delete) and charts create their own; every Secret of the namespace is
//     readable by the pipeline anyway (it mounts them), and none of them is worth more than the
//     namespace: the git token can only read the repository, the registry credential never
//     enters a PR namespace.
func PipelineRules() []rbacv1.PolicyRule {
	rw := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	ro := []string{"get", "list", "watch"}
	return []rbacv1.PolicyRule{
		// Objects a preview chart creates and Helm reads back, upgrades and deletes.
		{APIGroups: []string{""}, Resources: []string{"configmaps", "services", "serviceaccounts", "persistentvolumeclaims"}, Verbs: rw},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "create", "update", "patch", "delete"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}, Verbs: rw},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: rw},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: rw},
		// Gateway API routes, for charts that expose the preview with an HTTPRoute (the deploy
		// step's routing check lists them); which hostnames a route may claim is decided by the
		// Gateway's listeners (allowedRoutes, hostname), as the ingress class decides for Ingress.
		{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"httproutes"}, Verbs: rw},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: rw},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: rw},
		// What the rollout wait, the health check's diagnostics and cleanup's wait read.
		{APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "events"}, Verbs: ro},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: ro},
	}
}

// PipelineRole is the Role holding PipelineRules in namespace.
func PipelineRole(namespace string, labels map[string]string) *rbacv1.Role {
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Name: PipelineRoleName, Namespace: namespace, Labels: labels},
		Rules:      PipelineRules(),
	}
}

// PipelineRoleBinding binds PipelineRole to the pipeline's ServiceAccount of namespace.
func PipelineRoleBinding(namespace string, labels map[string]string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: PipelineServiceAccount, Namespace: namespace, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: PipelineRoleName},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: PipelineServiceAccount, Namespace: namespace}},
	}
}
