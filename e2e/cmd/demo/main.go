// Command demo is `make run`: the whole product on this machine with no credentials. It starts
// the local control plane and the GitHub simulator, runs the trigger and the reporter, opens a
// simulated pull request against charts/example-app and shows the pull request's conversation as
// it changes, until Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var o demoOptions
	flag.DurationVar(&o.TaskDelay, "task-delay", 3*time.Second, "how long each simulated task runs")
	flag.BoolVar(&o.ExitWhenDeployed, "exit-when-deployed", false, "stop once the preview comment shows the URL (for CI)")
	flag.StringVar(&o.Repo, "repo", "acme/example-app", "simulated repository")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
