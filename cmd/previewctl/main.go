// Command previewctl lists, inspects and manages Catalyst Preview environments with the
// caller's own kubeconfig: Kubernetes RBAC decides what each person sees and may do, and no
// server of Catalyst's is involved. Every operation is the shared query layer (package
// preview); this command only parses flags, calls it and prints the result.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
