// Package scenarios proves the product as a pull request author and an operator meet it: the
// trigger and the reporter run as real processes (e2e/system) against the local control plane
// and the GitHub simulator, and every test asserts on Kubernetes and on what GitHub shows.
package scenarios

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/system"
)

var sys *system.System

// Each scenario has a repository of its own, so scenarios never see each other's pull requests.
var repos = []string{
	"acme/happy", "acme/supersede", "acme/failure", "acme/retry", "acme/close", "acme/redeliver",
	"acme/ordering", "acme/lost", "acme/restart", "acme/reporter-down", "acme/outage", "acme/fork", "acme/queue",
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "scenarios:", err)
		return 1
	}
	defer func() { _ = c.Stop() }()
	sys, err = system.Start(ctx, system.Options{
		Cluster:      c,
		Repositories: repos,
		Policy:       router.policy,
		ResyncEvery:  10 * time.Second,
		Configure: func(cfg *config.Config) {
			cfg.Preview.Retry.BaseDelay = &metav1.Duration{Duration: time.Second}
			cfg.GitHub.DetailsURL = "https://tekton.example.com/#/namespaces/{namespace}/pipelineruns/{pipelinerun}"
			for i := range cfg.Repositories {
				if cfg.Repositories[i].Name == "acme/queue" {
					cfg.Repositories[i].Concurrency = 1
				}
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "scenarios:", err)
		c.MarkFailed()
		return 1
	}
	code := m.Run()
	sys.Stop()
	if code != 0 {
		c.MarkFailed()
		fmt.Fprintf(os.Stderr, "scenarios: trigger and reporter logs in %s\n", sys.Dir)
	}
	return code
}

func requireSystem(t *testing.T) *system.System {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local control plane and the system: run without -short")
	}
	return sys
}
