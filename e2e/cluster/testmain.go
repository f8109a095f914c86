package cluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/e2e/process"
)

// shared is the package's cluster, set by RunMain; nil under -short.
var (
	shared        *Cluster
	runMainCalled bool
)

// RunMain is the body of a package's TestMain. Under `go test -short` it only runs the tests
// (those calling Require skip). Otherwise it builds the stack if needed, starts one cluster,
// calls setup (may be nil) with it, runs the tests and stops the cluster, keeping every
// component's log under e2e/artifacts/<timestamp>/ if a test failed. It returns the exit code:
//
//	func TestMain(m *testing.M) { os.Exit(cluster.RunMain(m, nil)) }
func RunMain(m *testing.M, setup func(context.Context, *Cluster) error) int {
	return RunMainWith(m, Options{}, setup)
}

// RunMainWith is RunMain starting the cluster with opts (say, an OIDC issuer the apiserver
// trusts).
func RunMainWith(m *testing.M, opts Options, setup func(context.Context, *Cluster) error) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	runMainCalled = true
	if testing.Short() {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // a cold build takes ~12 min here
	c, err := Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e/cluster: %v\n", err)
		return 1
	}
	shared = c
	if setup != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err := setup(ctx, c)
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e/cluster: setup: %v\n", err)
			c.MarkFailed()
			_ = c.Stop()
			return 1
		}
	}
	code := m.Run()
	if code != 0 {
		c.MarkFailed()
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e/cluster: stop: %v\n", err)
	}
	return code
}

// Require returns the package's cluster, or skips the test under -short. A failing test marks
// the cluster so that its logs are kept. It fails the test if TestMain does not call RunMain.
func Require(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local control plane (e2e/cluster): run without -short")
	}
	if !runMainCalled || shared == nil {
		t.Fatal("e2e/cluster: TestMain must call cluster.RunMain")
	}
	t.Cleanup(func() {
		if t.Failed() {
			shared.MarkFailed()
		}
	})
	return shared
}

// Namespace creates a namespace for one test, named after it, waits for its default
// ServiceAccount, and deletes it when the test ends (without waiting for the deletion) unless
// the test failed: then its objects go to the artifacts' state.yaml.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	prefix := strings.ToLower(t.Name())
	prefix = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, prefix)
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: strings.Trim(prefix, "-") + "-"}}
	created, err := c.kube.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			return // keep the objects for the state.yaml dump of the artifacts
		}
		// t.Context is already cancelled in cleanups
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ignoreNotFound(c.kube.CoreV1().Namespaces().Delete(ctx, created.Name, metav1.DeleteOptions{})); err != nil {
			t.Errorf("delete namespace %s: %v", created.Name, err)
		}
	})
	// Pods (so TaskRuns) are refused until the serviceaccount controller has created the
	// namespace's "default" ServiceAccount, a few milliseconds later: wait for it.
	err = process.WaitUntil(t.Context(), "ServiceAccount default in "+created.Name, 30*time.Second, func(ctx context.Context) error {
		_, err := c.kube.CoreV1().ServiceAccounts(created.Name).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return created.Name
}
