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

// sys is shared by every scenario: one control plane, one trigger, one reporter, one GitHub
// simulator, one pod-fate driver with its step runner, one ingress stand-in. What the scenarios
// share, and how they stay apart:
//   - each has a repository of its own, so it never sees another's pull requests, namespaces
//     or runs; the outage scenario's repository has an installation of its own, so its spent
//     rate limit touches nobody else (the others share the "acme" installation's budget);
//   - a scenario that changes the shared system (GitHub faults, held webhooks, a stopped
//     trigger or reporter) has it restored when it ends, and every scenario starts by checking
//     that it is restored (scenario);
//   - the scenarios run one after another (no t.Parallel), so the trigger's and the reporter's
//     queues, leases and circuit breakers carry only what the one running scenario does.
var sys *system.System

var repos = []string{
	"acme/happy", "acme/supersede", "acme/failure", "acme/retry", "acme/close", "acme/redeliver",
	"acme/ordering", "acme/lost", "acme/restart", "acme/reporter-down", "outage/app", "acme/fork", "acme/queue",
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
	if code != 0 {
		sys.MarkFailed() // the system's logs go to the cluster's artifacts
	}
	if err := sys.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "scenarios:", err)
		code = 1
	}
	return code
}
