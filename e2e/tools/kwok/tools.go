//go:build tools

// Package tools pins the KWOK command the e2e harness builds (sigs.k8s.io/kwok/cmd/kwok).
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
