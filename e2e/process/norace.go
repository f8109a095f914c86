//go:build !race

package process

// Race: this program is built without -race (`make run`): the programs the harness builds are
// too, which keeps the demo's first build and its start-up fast.
const Race = false
