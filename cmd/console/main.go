// Command console serves Catalyst Preview's web console and JSON API. People sign in with
// OpenID Connect; every Kubernetes call is made as them (impersonation), so the console's own
// ServiceAccount needs only the right to impersonate users and groups.
package main

import (
	"context"

	"github.com/catalyst-preview/catalyst/cmd/internal/setup"
)

func main() {
	var o options
	setup.Main("console", &o, func(ctx context.Context) error { return run(ctx, o) })
}
