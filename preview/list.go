package preview

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// ListOptions filter and sort List. The zero value lists everything visible, by repository and PR.
type ListOptions struct {
	// Namespaces to look in when the caller may not list namespaces cluster-wide (RBAC on some
	// PR namespaces only); when the caller may, they filter the list. previewctl passes -n and
	// the kubeconfig context's namespace.
	Namespaces []string
	Repo       string        // owner/repo, case-insensitive
	States     []State       // any of these
	OlderThan  time.Duration // created longer ago than this
	SortBy     SortBy
	// NoUsage skips reading quotas and metrics (one request fewer per namespace when not
	// allowed cluster-wide).
	NoUsage bool
}

// SortBy orders a list; every order ends with repository and PR so that it is stable.
type SortBy string

// Orders.
const (
	SortByName     SortBy = "name"     // repository, then PR number
	SortByAge      SortBy = "age"      // oldest first
	SortByActivity SortBy = "activity" // least recently active first
)

// Scopes of a list.
const (
	ScopeCluster    = "cluster"    // every PR namespace of the cluster
	ScopeNamespaces = "namespaces" // the caller may not list namespaces: those named or found through RBAC
)

// List is what the caller can see.
type List struct {
	Items []Environment `json:"items"`
	// Scope says how complete the list is: ScopeCluster, or ScopeNamespaces when the caller may
	// not list namespaces and the list holds those given or found in their RBAC rules.
	Scope string `json:"scope"`
	// Warnings are what the caller should know about the list: namespaces they may not read,
	// runs or quotas they may not list (state unknown, usage missing).
	Warnings []string `json:"warnings,omitempty"`
}

// pageSize bounds one list response; every page is read (no truncation).
const pageSize = 500

// List returns every environment the caller can see. Whoever may list namespaces cluster-wide
// sees all of them (with two more cluster-wide lists: PipelineRuns and ResourceQuotas, falling
// back to one list per namespace where those are refused). Kubernetes has no "namespaces I may
// read" query, so a caller who may not list namespaces sees the namespaces they name
// (o.Namespaces) and those their RBAC rules name (resourceNames of rules on namespaces, found
// with a SelfSubjectRulesReview), each read with a get: a RoleBinding in a PR namespace is
// enough for that namespace to show.
func (c *Client) List(ctx context.Context, o ListOptions) (*List, error) {
	out := &List{Scope: ScopeCluster}
	nss, err := c.listNamespaces(ctx)
	if apierrors.IsForbidden(err) {
		out.Scope = ScopeNamespaces
		nss, err = c.visibleNamespaces(ctx, o.Namespaces, out)
	}
	if err != nil {
		return nil, err
	}
	if out.Scope == ScopeCluster && len(o.Namespaces) > 0 {
		nss = slices.DeleteFunc(nss, func(ns *corev1.Namespace) bool { return !slices.Contains(o.Namespaces, ns.Name) })
	}
	now := c.o.Now()
	nss = slices.DeleteFunc(nss, func(ns *corev1.Namespace) bool {
		return !isPRNamespace(ns) ||
			(o.Repo != "" && !strings.EqualFold(ns.Annotations[AnnotationRepo], o.Repo)) ||
			(o.OlderThan > 0 && now.Sub(ns.CreationTimestamp.Time) < o.OlderThan)
	})
	if len(nss) == 0 {
		out.Items = []Environment{}
		return out, nil
	}
	runs, warn := c.runsByNamespace(ctx, nss, out.Scope == ScopeCluster)
	out.Warnings = append(out.Warnings, warn...)
	var quotas map[string][]corev1.ResourceQuota
	if !o.NoUsage {
		quotas, warn = c.quotasByNamespace(ctx, nss, out.Scope == ScopeCluster)
		out.Warnings = append(out.Warnings, warn...)
	}
	metrics := !o.NoUsage
	for _, ns := range nss {
		rs, ok := runs[ns.Name]
		e := EnvironmentOf(ns, rs)
		if !ok {
			e.State, e.Reason = StateUnknown, "runs not readable"
		}
		if !o.NoUsage {
			e.Usage = usageOf(quotas[ns.Name])
		}
		if e.Usage != nil && metrics {
			live, err := c.o.Metrics.NamespaceUsage(ctx, ns.Name)
			e.Usage.Live = live
			// Not served (or not for this caller) for one namespace: not for the others either.
			metrics = err == nil && live != nil
		}
		if len(o.States) > 0 && !slices.Contains(o.States, e.State) {
			continue
		}
		out.Items = append(out.Items, e)
	}
	if out.Items == nil {
		out.Items = []Environment{}
	}
	SortEnvironments(out.Items, o.SortBy)
	return out, nil
}

// SortEnvironments orders environments; ties go by repository and PR number.
func SortEnvironments(items []Environment, by SortBy) {
	slices.SortStableFunc(items, func(a, b Environment) int {
		var first int
		switch by {
		case SortByAge:
			first = a.Created.Compare(b.Created)
		case SortByActivity:
			first = a.LastActivity.Compare(b.LastActivity)
		}
		return cmp.Or(first, cmp.Compare(strings.ToLower(a.Repo), strings.ToLower(b.Repo)), cmp.Compare(a.PR, b.PR), cmp.Compare(a.Namespace, b.Namespace))
	})
}

// ParseSortBy reads a --sort-by value.
func ParseSortBy(s string) (SortBy, error) {
	switch SortBy(s) {
	case "", SortByName:
		return SortByName, nil
	case SortByAge, SortByActivity:
		return SortBy(s), nil
	}
	return "", newError(KindInvalid, nil, "unknown sort order %q: name, age or activity", s)
}

// ParseStates reads a comma-separated --state value.
func ParseStates(s string) ([]State, error) {
	var out []State
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(States, State(p)) {
			names := make([]string, len(States))
			for i, st := range States {
				names[i] = string(st)
			}
			return nil, newError(KindInvalid, nil, "unknown state %q: one of %s", p, strings.Join(names, ", "))
		}
		out = append(out, State(p))
	}
	return out, nil
}

// listNamespaces reads every managed namespace, all pages.
func (c *Client) listNamespaces(ctx context.Context) ([]*corev1.Namespace, error) {
	var out []*corev1.Namespace
	opts := metav1.ListOptions{LabelSelector: managedSelector, Limit: pageSize}
	for {
		list, err := c.kube.CoreV1().Namespaces().List(ctx, opts)
		if apierrors.IsForbidden(err) {
			return nil, err
		}
		if err != nil {
			return nil, wrap(err, "list namespaces")
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
		if list.Continue == "" {
			return out, nil
		}
		opts.Continue = list.Continue
	}
}

// visibleNamespaces reads, one by one, the namespaces named and those the caller's RBAC rules
// name. Namespaces named explicitly that cannot be read are warned about; discovered ones that
// turn out not to be PR namespaces are dropped silently.
func (c *Client) visibleNamespaces(ctx context.Context, named []string, out *List) ([]*corev1.Namespace, error) {
	candidates := sets.New(named...)
	discovered := c.namespacesInRules(ctx, named)
	candidates.Insert(discovered...)
	if candidates.Len() == 0 {
		out.Warnings = append(out.Warnings, "you may not list namespaces cluster-wide and none was given or found in your RBAC rules: name PR namespaces with -n")
		return nil, nil
	}
	out.Warnings = append(out.Warnings, fmt.Sprintf("you may not list namespaces cluster-wide: showing what %s of %s you can read",
		plural(candidates.Len(), "namespace", "namespaces"), describe(named, discovered)))
	var nss []*corev1.Namespace
	for _, name := range sets.List(candidates) {
		ns, err := c.kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			nss = append(nss, ns)
		case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
			if slices.Contains(named, name) {
				out.Warnings = append(out.Warnings, fmt.Sprintf("namespace %s: %s", name, reasonOf(err)))
			}
		default:
			return nil, wrap(err, "get namespace %s", name)
		}
	}
	return nss, nil
}

func describe(named, discovered []string) string {
	switch {
	case len(named) > 0 && len(discovered) > 0:
		return "those given and found in your RBAC rules"
	case len(named) > 0:
		return "those given with -n"
	}
	return "those named in your RBAC rules"
}

// namespacesInRules asks the apiserver which namespace names the caller's rules grant "get" on
// by name (a ClusterRole with resourceNames bound cluster-wide, or a Role bound in one of the
// namespaces asked about).
func (c *Client) namespacesInRules(ctx context.Context, in []string) []string {
	var found []string
	for _, ns := range append([]string{metav1.NamespaceDefault}, in...) {
		r, err := c.kube.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx,
			&authzv1.SelfSubjectRulesReview{Spec: authzv1.SelfSubjectRulesReviewSpec{Namespace: ns}}, metav1.CreateOptions{})
		if err != nil {
			continue
		}
		for _, rule := range r.Status.ResourceRules {
			if (slices.Contains(rule.APIGroups, "") || slices.Contains(rule.APIGroups, "*")) &&
				(slices.Contains(rule.Resources, "namespaces") || slices.Contains(rule.Resources, "*")) &&
				(slices.Contains(rule.Verbs, "get") || slices.Contains(rule.Verbs, "*")) {
				found = append(found, rule.ResourceNames...)
			}
		}
	}
	slices.Sort(found)
	return slices.Compact(found)
}

// runsByNamespace lists the PipelineRuns of the namespaces: one cluster-wide list when allowed,
// else one per namespace. Namespaces whose runs cannot be read are missing from the map.
func (c *Client) runsByNamespace(ctx context.Context, nss []*corev1.Namespace, tryCluster bool) (map[string][]*pipelinev1.PipelineRun, []string) {
	out := map[string][]*pipelinev1.PipelineRun{}
	want := map[string]bool{}
	for _, ns := range nss {
		want[ns.Name] = true
	}
	if tryCluster {
		opts := metav1.ListOptions{LabelSelector: managedSelector, Limit: pageSize}
		var err error
		for {
			var list *pipelinev1.PipelineRunList
			list, err = c.tekton.TektonV1().PipelineRuns("").List(ctx, opts)
			if err != nil {
				break
			}
			for i := range list.Items {
				if pr := &list.Items[i]; want[pr.Namespace] {
					out[pr.Namespace] = append(out[pr.Namespace], pr)
				}
			}
			if list.Continue == "" {
				break
			}
			opts.Continue = list.Continue
		}
		if err == nil {
			for _, ns := range nss {
				if _, ok := out[ns.Name]; !ok {
					out[ns.Name] = nil
				}
			}
			return out, nil
		}
		clear(out)
	}
	var denied []string
	for _, ns := range nss {
		runs, err := c.runsOf(ctx, ns.Name)
		if err != nil {
			denied = append(denied, ns.Name)
			continue
		}
		out[ns.Name] = runs
	}
	if len(denied) > 0 {
		return out, []string{"cannot list pipelineruns in " + strings.Join(denied, ", ") + ": state unknown"}
	}
	return out, nil
}

// quotasByNamespace lists the managed ResourceQuotas, like runsByNamespace.
func (c *Client) quotasByNamespace(ctx context.Context, nss []*corev1.Namespace, tryCluster bool) (map[string][]corev1.ResourceQuota, []string) {
	out := map[string][]corev1.ResourceQuota{}
	if tryCluster {
		list, err := c.kube.CoreV1().ResourceQuotas("").List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
		if err == nil {
			for _, q := range list.Items {
				out[q.Namespace] = append(out[q.Namespace], q)
			}
			return out, nil
		}
	}
	var denied []string
	for _, ns := range nss {
		list, err := c.kube.CoreV1().ResourceQuotas(ns.Name).List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
		if err != nil {
			denied = append(denied, ns.Name)
			continue
		}
		out[ns.Name] = list.Items
	}
	if len(denied) > 0 {
		return out, []string{"cannot list resourcequotas in " + strings.Join(denied, ", ") + ": usage unknown"}
	}
	return out, nil
}

func reasonOf(err error) string {
	switch {
	case apierrors.IsNotFound(err):
		return "not found"
	case apierrors.IsForbidden(err):
		return "forbidden"
	}
	return err.Error()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
