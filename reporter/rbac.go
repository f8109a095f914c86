package reporter

import rbacv1 "k8s.io/api/rbac/v1"

// ReporterRules are the cluster-wide permissions the reporter needs, and no more: the chart's
// ClusterRole is made from them, and an e2e test runs the reporter as a user bound to exactly
// these rules. (Leader election needs, besides, get/create/update on its Lease in the system
// namespace.)
//
//   - namespaces: watch PR namespaces; patch their ledger annotations and the report finalizer.
//   - resourcequotas: watch, for the quota gauges and the usage fallback.
//   - pipelineruns: watch; get (to confirm the ledger before paying GitHub) and patch (ledger).
//   - taskruns, customruns: watch the children of runs; get the build TaskRun a CustomRun
//     mirrors in the builds namespace.
//   - pods, pods/log, secrets: get, for the failed step's log excerpt and the secrets to mask
//     in it (PR namespaces and the builds namespace).
//   - events: create and patch, for the Events on PR namespaces (refused reports, stuck
//     deletion, final report failures).
//   - metrics.k8s.io pods: list, for the usage gauge where metrics-server runs.
func ReporterRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"resourcequotas"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"tekton.dev"}, Resources: []string{"pipelineruns"}, Verbs: []string{"get", "list", "watch", "patch"}},
		{APIGroups: []string{"tekton.dev"}, Resources: []string{"taskruns", "customruns"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
		{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods"}, Verbs: []string{"list"}},
	}
}
