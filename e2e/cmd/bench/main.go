// Command bench is the end-to-end bench (`make bench`): on the local control plane with the
// GitHub simulator and the trigger and reporter as real processes, it opens 1, 10 and 50 pull
// requests at once with task pods that finish immediately, and measures what this system adds:
// latency percentiles, the same objects written directly with client-go as a baseline, GitHub
// calls per deployment, API server requests per pull request, and peak memory, including the
// reporter's with 1,000 existing environments. It prints a table and writes JSON.
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
	flag.StringVar(&o.Levels, "levels", "1,10,50", "concurrent pull requests per level")
	flag.IntVar(&o.Environments, "environments", 1000, "existing environments for the memory measurement (0: skip)")
	flag.StringVar(&o.Out, "out", "bench/results", "folder for the JSON results")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
