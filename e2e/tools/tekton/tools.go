//go:build tools

// Package tools pins the Tekton Pipelines controller the e2e harness builds. Keep its version
// equal to the one in the root go.mod (a test in e2e/cluster checks it).
package tools

import (
	_ "github.com/tektoncd/pipeline/cmd/controller"
)
