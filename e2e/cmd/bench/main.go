// Command bench is the end-to-end bench (`make bench`): on the local control plane with the
// GitHub simulator (answering every call after a realistic latency, each request on its own) and
// the trigger and reporter as real processes, it opens 1, 10 and 50 pull requests at once with
// task pods that finish immediately, several times per level, and measures what this system adds:
// latency percentiles with their spread over the runs; in the same runs a baseline that writes the
// same objects with the same concurrency to the same end point (the PipelineRun seen by an
// informer) in namespaces the product ignores; GitHub calls per deployment; API server requests
// per pull request; peak memory; and the memory (RSS, anonymous RSS, Go heap) of both components
// with 1,000 realistic environments in place. It prints a table and writes JSON, where every
// target is marked met or missed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.Levels, "levels", "1,10,50", "concurrent pull requests per level")
	flag.IntVar(&o.Runs, "runs", 3, "runs per level (at least 3 for a spread)")
	flag.DurationVar(&o.Latency, "github-latency", 100*time.Millisecond, "how long the GitHub simulator takes to answer each request")
	flag.IntVar(&o.Environments, "environments", 1000, "existing environments for the memory measurement (0: skip)")
	flag.StringVar(&o.Out, "out", "bench/results", "folder for the JSON results")
	flag.Parse()
	o.Command = strings.TrimSpace("go run ./e2e/cmd/bench " + strings.Join(os.Args[1:], " "))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
