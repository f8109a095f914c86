// Command buildstack builds the e2e control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, KWOK, Tekton controller) into e2e/.cache/bin/<key>/ and exits. `make e2e-tools`
// runs it so CI can build the stack while unit tests run.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bins, err := cluster.Build(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(bins.Dir)
}
