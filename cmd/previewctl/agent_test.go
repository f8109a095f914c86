package main

import (
	"context"
	"io"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/previewmcp"
)

// operations is the parity table: every operation on environments, as each surface offers
// it. A previewctl command or an MCP tool missing from it, or a row naming one that does not
// exist, fails TestParity. (The console's column joins when the console is on main.)
var operations = []struct{ op, cli, tool string }{
	{"list", "list", previewmcp.ToolList},
	{"get", "get", previewmcp.ToolGet},
	{"logs", "logs", previewmcp.ToolLogs},
	{"explain", "explain", previewmcp.ToolExplain},
	{"retry", "retry", previewmcp.ToolRetry},
	{"keep", "keep", previewmcp.ToolKeep},
	{"unkeep", "unkeep", previewmcp.ToolKeep},
	{"delete", "delete", previewmcp.ToolDelete},
	{"gc", "gc", previewmcp.ToolGC},
}

// notOperations are previewctl's commands about previewctl itself.
var notOperations = []string{"version", "login", "token", "mcp", "help", "completion"}

// mcpTools lists the tools `previewctl mcp` serves, as an agent sees them over stdio.
func mcpTools(t *testing.T, args ...string) []string {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	q := preview.New(preview.Clients{Kube: fake.NewClientset(), Tekton: tektonfake.NewSimpleClientset()}, preview.Options{})
	go func() {
		a := &app{streams: streams{In: inR, Out: outW, Err: io.Discard}}
		done <- a.runWith(ctx, append([]string{"mcp"}, args...), q)
		outW.Close()
	}()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent"}, nil).Connect(ctx, &mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	assert.NilError(t, err)
	res, err := cs.ListTools(ctx, nil)
	assert.NilError(t, err)
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	_ = cs.Close()
	cancel()
	assert.Check(t, is.Equal(<-done, exitOK), "previewctl mcp ends cleanly when the agent goes")
	slices.Sort(names)
	return names
}

func TestParity(t *testing.T) {
	root := (&app{}).rootCommandForTest()
	commands := map[string]bool{}
	for _, c := range root.Commands() {
		commands[c.Name()] = true
	}
	rows := map[string]bool{}
	tools := map[string]bool{}
	for _, o := range operations {
		assert.Check(t, commands[o.cli], "%s: previewctl has no %q command", o.op, o.cli)
		rows[o.cli] = true
		tools[o.tool] = true
	}
	for name := range commands {
		assert.Check(t, rows[name] || slices.Contains(notOperations, name), "previewctl %s is not in the parity table", name)
	}
	served := mcpTools(t)
	assert.Check(t, is.DeepEqual(served, slices.Sorted(maps.Keys(tools))), "MCP tools and the parity table differ")
}

// --read-only serves the read tools alone.
func TestMCPReadOnly(t *testing.T) {
	assert.Check(t, is.DeepEqual(mcpTools(t, "--read-only"), slices.Sorted(slices.Values(previewmcp.ReadTools))))
}

func (a *app) rootCommandForTest() *cobra.Command {
	a.config, a.now = genericclioptions.NewConfigFlags(true), time.Now
	return a.rootCommand()
}
