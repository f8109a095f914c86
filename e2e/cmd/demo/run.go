package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/e2e/podfate"
	"github.com/catalyst-preview/catalyst/e2e/system"
	"github.com/catalyst-preview/catalyst/preview"
)

type demoOptions struct {
	TaskDelay        time.Duration
	ExitWhenDeployed bool
	Repo             string
}

func run(ctx context.Context, o demoOptions, out io.Writer) error {
	fmt.Fprintln(out, "Catalyst Preview demo — no credentials, nothing leaves this machine.")
	fmt.Fprintln(out, "The first run builds etcd, Kubernetes, KWOK and Tekton from Go modules: about 10–25 minutes on 2 cores, with progress below. Later runs start in seconds.")
	start := time.Now()
	sys, err := system.Start(ctx, system.Options{
		Repositories: []string{o.Repo},
		Policy:       podfate.Succeed(o.TaskDelay),
		Progress:     out,
	})
	if err != nil {
		return err
	}
	defer sys.Stop()
	fmt.Fprintf(out, "\nready in %s\n", time.Since(start).Round(time.Second))

	opened := time.Now()
	d, err := sys.Sim.OpenPR(ctx, o.Repo, ghsim.PROptions{Author: "octocat", AuthorAssociation: "OWNER", Title: "Make the greeting friendlier"})
	if err != nil {
		return fmt.Errorf("open the simulated pull request: %w", err)
	}
	ns := preview.NamespaceName(o.Repo, d.Number)
	kc := sys.Cluster.Kubeconfig()
	fmt.Fprintf(out, `
Opened pull request %s#%d (head %s). Where to look:
  kubectl --kubeconfig %s get namespaces -l catalyst.dev/managed=true
  kubectl --kubeconfig %s -n %s get pipelineruns,taskruns,pods
  tkn --kubeconfig %s -n %s pipelinerun list      (if tkn is installed)
  logs: %s (trigger), %s (reporter)
The pull request's conversation, as the GitHub simulator holds it, follows when it changes.
Press Ctrl-C to stop everything.
`, o.Repo, d.Number, d.HeadSHA[:7], kc, kc, ns, kc, ns, sys.Trigger.LogPath, sys.Reporter.LogPath)

	last := ""
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\nstopping...")
			return nil
		case <-tick.C:
		}
		c, err := sys.Sim.Conversation(o.Repo, d.Number)
		if err != nil {
			return err
		}
		conv := c.String()
		if conv != last {
			fmt.Fprintf(out, "\n──── %s ────\n%s\n", time.Now().Format("15:04:05"), conv)
			last = conv
		}
		if o.ExitWhenDeployed && strings.Contains(conv, "http://"+preview.PreviewHost(o.Repo, d.Number, sys.Config.Preview.Domain)) && strings.Contains(conv, "success") {
			fmt.Fprintf(out, "preview reported %s after the pull request was opened\n", time.Since(opened).Round(time.Millisecond))
			return nil
		}
	}
}
