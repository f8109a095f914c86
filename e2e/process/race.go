//go:build race

package process

// Race: this program is built with -race (`go test -race`, as `make test` runs it), so the
// programs the harness builds (trigger, reporter, preview-step) are too, and a data race in
// one of them fails the run.
const Race = true
