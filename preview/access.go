package preview

import rbacv1 "k8s.io/api/rbac/v1"

// What people need in Kubernetes RBAC to use previewctl, the console and the MCP tools: one
// definition shared by the chart's ClusterRoles and the tests that act as such a user. Bind
// them cluster-wide (a ClusterRoleBinding) for operators, or per PR namespace (a RoleBinding
// in that namespace) for a pull request's people: rules on "namespaces" in a RoleBinding apply
// to that namespace object itself, so a RoleBinding is enough to see and act on one
// environment.

// ViewerRules read environments: list, get, logs, explain.
func ViewerRules() []rbacv1.PolicyRule {
	ro := []string{"get", "list", "watch"}
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "pods", "pods/log", "resourcequotas"}, Verbs: ro},
		{APIGroups: []string{"tekton.dev"}, Resources: []string{"pipelineruns", "taskruns", "customruns"}, Verbs: ro},
		{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
	}
}

// OperatorRules add the requests: retry, delete, keep, gc. They are requests recorded on the
// namespace (patch); the trigger does the work, so an operator needs no right to delete
// namespaces or to create workloads.
func OperatorRules() []rbacv1.PolicyRule {
	return append(ViewerRules(), rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"patch"}})
}
