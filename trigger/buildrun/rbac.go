package buildrun

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
)

// ClusterRules are what the build controller (in the trigger's process) needs across
// namespaces: the build CustomRuns of PR namespaces, the PR namespace's git token by name, and
// the builds namespace itself. The chart's trigger ClusterRole includes them; the
// integration tests run the controller with exactly these and BuildsNamespaceRules.
func ClusterRules(p config.Preview) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"tekton.dev"}, Resources: []string{"customruns"}, Verbs: []string{"list", "watch", "patch"}},
		{APIGroups: []string{"tekton.dev"}, Resources: []string{"customruns/status"}, Verbs: []string{"update"}},
		// validate reads the PR namespace's labels; provision applies the builds namespace.
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"patch"}, ResourceNames: []string{p.BuildNamespace}},
		// The contents:read git token the trigger wrote into the PR namespace, copied per build.
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{preview.GitTokenSecret}},
	}
}

// PipelineNamespaceRules: the catalyst-build Task is read from the pipeline namespace and
// copied into the builds namespace.
func PipelineNamespaceRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{APIGroups: []string{"tekton.dev"}, Resources: []string{"tasks"}, Verbs: []string{"list", "watch"}}}
}

// SecretsNamespaceRules: the registry push credential, when one is configured, by name.
func SecretsNamespaceRules(p config.Preview) []rbacv1.PolicyRule {
	if p.RegistryAuthSecret == "" {
		return nil
	}
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{p.RegistryAuthSecret}}}
}

// BuildsNamespaceRules are the controller's rights in the builds namespace, bound there by a
// RoleBinding: the builds, their credentials, and the namespace's fixed objects (applied).
func BuildsNamespaceRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"tekton.dev"}, Resources: []string{"taskruns"}, Verbs: []string{"list", "watch", "create", "patch", "delete"}},
		{APIGroups: []string{"tekton.dev"}, Resources: []string{"tasks"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch", "create", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"list", "create", "patch", "delete"}},
	}
}
