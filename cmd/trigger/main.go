// Command trigger receives GitHub webhooks and turns pull requests into preview namespaces and
// Tekton PipelineRuns.
package main

import (
	"context"

	"github.com/catalyst-preview/catalyst/cmd/internal/setup"
)

func main() {
	var o options
	setup.Main("trigger", &o, func(ctx context.Context) error { return run(ctx, o) })
}
