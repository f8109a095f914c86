package previewmcp

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/catalyst-preview/catalyst/preview"
)

// connect runs the server and a client on in-memory transports; version is the protocol
// version the client asks for (latest when empty).
func connect(t *testing.T, o Options, co *mcp.ClientOptions, version ...string) *mcp.ClientSession {
	t.Helper()
	srv, err := New(o)
	assert.NilError(t, err)
	st, ct := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(t.Context(), st, nil)
	assert.NilError(t, err)
	t.Cleanup(func() { _ = ss.Close() })
	var so *mcp.ClientSessionOptions
	if len(version) > 0 {
		so = &mcp.ClientSessionOptions{ProtocolVersion: version[0]}
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "v0"}, co).Connect(t.Context(), ct, so)
	assert.NilError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func noCluster(context.Context, *mcp.CallToolRequest) (*preview.Client, error) {
	return nil, &preview.Error{Kind: preview.KindUnavailable, Msg: "no cluster in this test"}
}

// Every tool has typed schemas and the hints a client uses to decide what to ask the user
// about; --read-only serves the read tools alone.
func TestToolsAndHints(t *testing.T) {
	tools := func(readOnly bool) map[string]*mcp.Tool {
		cs := connect(t, Options{Client: noCluster, ReadOnly: readOnly}, nil)
		res, err := cs.ListTools(t.Context(), nil)
		assert.NilError(t, err)
		out := map[string]*mcp.Tool{}
		for _, tl := range res.Tools {
			out[tl.Name] = tl
		}
		return out
	}
	all := tools(false)
	assert.Check(t, is.DeepEqual(slices.Sorted(maps.Keys(all)), slices.Sorted(slices.Values(append(slices.Clone(ReadTools), WriteTools...)))))
	for name, tl := range all {
		assert.Check(t, tl.Annotations != nil, name)
		assert.Check(t, tl.Description != "", name)
		in, _ := tl.InputSchema.(map[string]any)
		assert.Check(t, is.Equal(in["type"], "object"), name)
		assert.Check(t, tl.OutputSchema != nil, "%s has a typed output", name)
		read := slices.Contains(ReadTools, name)
		assert.Check(t, is.Equal(tl.Annotations.ReadOnlyHint, read), name)
		if !read {
			assert.Check(t, tl.Annotations.DestructiveHint != nil, name)
		}
	}
	assert.Check(t, *all[ToolDelete].Annotations.DestructiveHint)
	assert.Check(t, all[ToolDelete].Annotations.IdempotentHint)
	assert.Check(t, !*all[ToolRetry].Annotations.DestructiveHint)
	assert.Check(t, !all[ToolRetry].Annotations.IdempotentHint, "each retry is a new attempt")
	props := all[ToolLogs].InputSchema.(map[string]any)["properties"].(map[string]any)
	assert.Check(t, props["tail"] != nil && props["since"] != nil && props["app"] != nil)
	assert.Check(t, is.DeepEqual(all[ToolGet].InputSchema.(map[string]any)["required"], []any{"environment"}))

	ro := tools(true)
	assert.Check(t, is.DeepEqual(slices.Sorted(maps.Keys(ro)), slices.Sorted(slices.Values(ReadTools))))
}

// Bad arguments are tool errors that say what is expected, before any cluster call.
func TestBadInput(t *testing.T) {
	cs := connect(t, Options{Client: noCluster}, nil)
	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{ToolGet, map[string]any{"environment": "not a ref!"}, "Invalid: "},
		{ToolGet, map[string]any{}, `missing properties: ["environment"]`},
		{ToolList, map[string]any{"states": []string{"exploded"}}, "exploded"},
		{ToolList, map[string]any{"sortBy": "size"}, "size"},
		{ToolLogs, map[string]any{"environment": "acme/shop#1", "since": "yesterday"}, "since must be a positive duration"},
		{ToolLogs, map[string]any{"environment": "acme/shop#1", "tail": -3}, "tail must be positive"},
		{ToolDelete, map[string]any{"environment": "acme/shop#1"}, "Unavailable: no cluster in this test"},
	} {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
		assert.NilError(t, err, "a tool error, not a protocol error")
		assert.Check(t, res.IsError, "%s %v", tc.tool, tc.args)
		assert.Check(t, is.Contains(text(res), tc.want), "%s %v", tc.tool, tc.args)
	}
}

func text(res *mcp.CallToolResult) string {
	var sb strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			sb.WriteString(tc.Text)
		}
	}
	return sb.String()
}

// A confirmation token confirms one environment at one commit for one caller, for a while.
func TestConfirmationToken(t *testing.T) {
	now := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	s := &server{o: Options{Secret: []byte("k"), Now: func() time.Time { return now }}}
	tok := s.token(now.Add(confirmationTTL), "delete", "alice", "pr-shop-1", "abc")
	assert.Check(t, s.checkToken(tok, "delete", "alice", "pr-shop-1", "abc"))
	for name, err := range map[string]error{
		"another caller":      s.checkToken(tok, "delete", "mallory", "pr-shop-1", "abc"),
		"another environment": s.checkToken(tok, "delete", "alice", "pr-shop-2", "abc"),
		"a push since":        s.checkToken(tok, "delete", "alice", "pr-shop-1", "def"),
		"another operation":   s.checkToken(tok, "gc", "alice", "pr-shop-1", "abc"),
		"forged expiry":       s.checkToken("9999999999."+strings.SplitN(tok, ".", 2)[1], "delete", "alice", "pr-shop-1", "abc"),
		"garbage":             s.checkToken("nonsense", "delete", "alice", "pr-shop-1", "abc"),
		"another server":      (&server{o: Options{Secret: []byte("other"), Now: s.o.Now}}).checkToken(tok, "delete", "alice", "pr-shop-1", "abc"),
	} {
		assert.Check(t, is.ErrorContains(err, "the confirmation token is not for this"), name)
	}
	now = now.Add(confirmationTTL + time.Second)
	assert.Check(t, is.ErrorContains(s.checkToken(tok, "delete", "alice", "pr-shop-1", "abc"), "expired"))
}

// The log bound keeps the newest lines within the tail and the byte budget, and says so.
func TestBounded(t *testing.T) {
	b := &bounded{tail: 3, maxBytes: 1 << 20}
	for _, l := range []string{"one", "two", "three", "four"} {
		b.add(preview.LogLine{Line: l})
	}
	out := b.output()
	assert.Check(t, out.Truncated)
	assert.Check(t, is.DeepEqual(lineTexts(out), []string{"two", "three", "four"}))

	b = &bounded{tail: 1000, maxBytes: 200}
	for i := range 50 {
		b.add(preview.LogLine{Task: "build", Step: "compile", Line: strings.Repeat("x", i)})
	}
	out = b.output()
	assert.Check(t, out.Truncated)
	assert.Check(t, out.Bytes <= 200, "%d bytes", out.Bytes)
	assert.Check(t, is.Equal(out.Lines[len(out.Lines)-1].Line, strings.Repeat("x", 49)), "the newest line is kept")

	b = &bounded{tail: 10, maxBytes: 100}
	b.add(preview.LogLine{Line: strings.Repeat("a", 500) + "END"})
	out = b.output()
	assert.Check(t, is.Len(out.Lines, 1))
	assert.Check(t, strings.HasSuffix(out.Lines[0].Line, "END"), "a huge line keeps its end")
	assert.Check(t, out.Truncated)

	b = &bounded{tail: 10, maxBytes: 100}
	out = b.output()
	assert.Check(t, !out.Truncated && out.Lines != nil && len(out.Lines) == 0)
}

func lineTexts(o *LogsOutput) []string {
	var out []string
	for _, l := range o.Lines {
		out = append(out, l.Line)
	}
	return out
}
