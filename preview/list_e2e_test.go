package preview_test

import (
	"errors"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/preview"
)

// An operator who may list namespaces sees every environment across namespaces, each with its
// state from its runs and its usage from its quota.
func TestListAcrossNamespaces(t *testing.T) {
	w := newWorld(t)
	ready := w.env(1, nil)
	w.quota(ready, rl("requests.cpu", "2", "requests.memory", "1Gi", "pods", "10"))
	run := w.run(ready, 1, 1, map[string][]string{"build": {"compile"}, "deploy": {"install"}}, []string{"build", "deploy"}, nil)
	waiting := w.env(2, map[string]string{preview.AnnotationGate: preview.GateApproval})
	full := w.env(3, map[string]string{preview.AnnotationPRState: preview.PRStateClosed})
	w.quota(full, rl("pods", "0"))
	w.waitRun(ready, run.Name, "Succeeded")

	l, err := w.as("").List(t.Context(), preview.ListOptions{Repo: w.repo})
	assert.NilError(t, err)
	assert.Equal(t, l.Scope, preview.ScopeCluster)
	assert.DeepEqual(t, names(l.Items), []string{ready, waiting, full})
	assert.Equal(t, l.Items[0].State, preview.StateReady)
	assert.Equal(t, l.Items[0].LatestRun, run.Name)
	assert.Equal(t, l.Items[0].Usage.CPU.Hard.String(), "2")
	assert.Assert(t, !l.Items[0].Usage.OverQuota)
	assert.Equal(t, l.Items[1].State, preview.StateWaiting)
	assert.Equal(t, l.Items[2].State, preview.StateCleaning)
	assert.Assert(t, l.Items[2].Usage.OverQuota, "pods used up (0 of 0)")
	assert.DeepEqual(t, l.Items[2].Usage.Exhausted, []string{"pods"})

	filtered, err := w.as("").List(t.Context(), preview.ListOptions{Repo: w.repo, States: []preview.State{preview.StateWaiting, preview.StateCleaning}, SortBy: preview.SortByAge})
	assert.NilError(t, err)
	assert.DeepEqual(t, names(filtered.Items), []string{waiting, full})

	all, err := w.as("").List(t.Context(), preview.ListOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Contains(strings.Join(names(all.Items), " "), ready+" "+waiting+" "+full), "the cluster-wide list holds the test's environments in order")
}

// A user whose RBAC covers one PR namespace (a RoleBinding there) sees that one and may act on
// it, and is refused everything else; a user granted namespaces by name cluster-wide sees them
// without naming them. The apiserver's RBAC decides, not previewctl.
func TestListAndActWithRBACOnOneNamespace(t *testing.T) {
	w := newWorld(t)
	mine := w.env(1, nil)
	other := w.env(2, nil)
	w.grant("alice", mine, preview.OperatorRules())
	alice := w.as("alice")
	ctx := t.Context()

	l, err := alice.List(ctx, preview.ListOptions{Namespaces: []string{mine, other}})
	assert.NilError(t, err)
	assert.Equal(t, l.Scope, preview.ScopeNamespaces)
	assert.DeepEqual(t, names(l.Items), []string{mine})
	assert.Equal(t, l.Items[0].State, preview.StateQueued, "runs are readable: no run yet")
	assert.Check(t, is.Contains(strings.Join(l.Warnings, "\n"), "namespace "+other+": forbidden"))

	none, err := alice.List(ctx, preview.ListOptions{})
	assert.NilError(t, err)
	assert.Equal(t, len(none.Items), 0)
	assert.Check(t, is.Contains(strings.Join(none.Warnings, "\n"), "name PR namespaces with -n"))

	d, err := alice.Get(ctx, preview.Ref{Repo: w.repo, Number: 1}, preview.GetOptions{})
	assert.NilError(t, err)
	assert.Equal(t, d.Namespace, mine)
	_, err = alice.Get(ctx, preview.Ref{Repo: w.repo, Number: 2}, preview.GetOptions{})
	assert.Assert(t, errors.Is(err, preview.ErrForbidden), "got %v", err)

	// A RoleBinding in the namespace lets alice patch the namespace object itself.
	_, err = alice.Keep(ctx, preview.Ref{Namespace: mine}, true)
	assert.NilError(t, err)
	got, err := w.kube.CoreV1().Namespaces().Get(ctx, mine, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Equal(t, got.Labels[preview.LabelKeep], "true")
	_, err = alice.Keep(ctx, preview.Ref{Namespace: other}, true)
	assert.Assert(t, errors.Is(err, preview.ErrForbidden), "got %v", err)
	_, err = alice.Retry(ctx, preview.Ref{Namespace: other})
	assert.Assert(t, errors.Is(err, preview.ErrForbidden), "got %v", err)

	// Bob may get one namespace by name, cluster-wide, and nothing else: found without -n,
	// its state unknown because he may not read its runs.
	w.grant("bob", "", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}, ResourceNames: []string{other}}})
	bl, err := w.as("bob").List(ctx, preview.ListOptions{})
	assert.NilError(t, err)
	assert.DeepEqual(t, names(bl.Items), []string{other})
	assert.Equal(t, bl.Items[0].State, preview.StateUnknown)
	assert.Check(t, is.Contains(strings.Join(bl.Warnings, "\n"), "cannot list pipelineruns in "+other))
}
