package preview

import (
	"context"

	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Action names an operation of the query layer in permission checks.
type Action string

// Actions that need more than reading the environment.
const (
	ActionLogs   Action = "logs"
	ActionRetry  Action = "retry"
	ActionKeep   Action = "keep"
	ActionDelete Action = "delete"
)

// Permission says whether the caller may do an action on one environment: the apiserver's
// answer to a SelfSubjectAccessReview for the very request the action makes. Surfaces use it
// to disable a button or hide a tool with the reason; it is a courtesy, never the boundary
// (the request itself is authorised again when made).
type Permission struct {
	Action   Action `json:"action"`
	Verb     string `json:"verb"`
	Resource string `json:"resource"`
	Allowed  bool   `json:"allowed"`
	// Reason is the authorizer's explanation, when it gives one.
	Reason string `json:"reason,omitempty"`
}

// Access asks the apiserver what the caller may do on the environment ref names. Retry, keep
// and delete are all requests recorded on the namespace (patch); logs read pods/log.
func (c *Client) Access(ctx context.Context, ref Ref) ([]Permission, error) {
	ns, err := c.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	// A request on a namespace object counts as made in that namespace (so that a RoleBinding
	// there can allow it): ask the same way.
	patch := authzv1.ResourceAttributes{Verb: "patch", Resource: "namespaces", Name: ns.Name, Namespace: ns.Name}
	logs := authzv1.ResourceAttributes{Verb: "get", Resource: "pods", Subresource: "log", Namespace: ns.Name}
	var out []Permission
	for _, check := range []struct {
		attrs   authzv1.ResourceAttributes
		actions []Action
		what    string
	}{
		{logs, []Action{ActionLogs}, "pods/log"},
		{patch, []Action{ActionRetry, ActionKeep, ActionDelete}, "namespaces"},
	} {
		attrs := check.attrs
		review, err := c.kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
			&authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}, metav1.CreateOptions{})
		if err != nil {
			return nil, wrap(err, "check %s %s in %s", attrs.Verb, check.what, ns.Name)
		}
		for _, a := range check.actions {
			out = append(out, Permission{Action: a, Verb: attrs.Verb, Resource: check.what,
				Allowed: review.Status.Allowed && !review.Status.Denied, Reason: review.Status.Reason})
		}
	}
	return out, nil
}

// ConsoleRules are everything the console's own ServiceAccount may do: impersonate users and
// groups. Every Kubernetes call the console makes is made as the signed-in person, so their
// RBAC (ViewerRules, OperatorRules) decides; the console itself can read and change nothing.
// The chart's ClusterRole and the console's end-to-end tests use this one definition.
func ConsoleRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"users", "groups"}, Verbs: []string{"impersonate"}}}
}
