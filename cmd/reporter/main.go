// Command reporter keeps GitHub in step with preview deployments: one Check Run per commit and
// one comment per pull request, rendered from the PipelineRuns and TaskRuns of PR namespaces.
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
	fs := flag.NewFlagSet("reporter", flag.ExitOnError)
	o.AddFlags(fs)
	_ = fs.Parse(os.Args[1:])
	o.fallbackToEnv(os.Getenv)
	if err := o.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "reporter:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "reporter:", err)
		os.Exit(1)
	}
}
