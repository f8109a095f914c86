// Command trigger receives GitHub webhooks and turns pull requests into preview namespaces and
// Tekton PipelineRuns.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	var o options
	fs := flag.NewFlagSet("trigger", flag.ExitOnError)
	o.AddFlags(fs)
	_ = fs.Parse(os.Args[1:])
	o.fallbackToEnv(os.Getenv)
	if err := o.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "trigger:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "trigger:", err)
		os.Exit(1)
	}
}
