// Command reporter keeps GitHub in step with preview deployments: one Check Run per commit and
// one comment per pull request, rendered from the PipelineRuns and TaskRuns of PR namespaces.
package main

import (
	"context"

	"github.com/catalyst-preview/catalyst/cmd/internal/setup"
)

func main() {
	var o options
	setup.Main("reporter", &o, func(ctx context.Context) error { return run(ctx, o) })
}
