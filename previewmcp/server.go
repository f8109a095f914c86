// Package previewmcp serves the preview environments to AI agents as Model Context Protocol
// tools: list, get, logs, explain, retry, keep, delete and gc, each a call of the query layer
// (package preview) with the caller's own Kubernetes identity, so that RBAC decides what an
// agent sees and may do exactly as it does for its person on the other surfaces. previewctl
// serves it over stdio (the kubeconfig's identity); the console over streamable HTTP (the
// signed-in user, impersonated).
package previewmcp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/catalyst-preview/catalyst/preview"
)

// Options configure New.
type Options struct {
	// Client returns the query layer acting as the caller of req. Required.
	Client func(ctx context.Context, req *mcp.CallToolRequest) (*preview.Client, error)
	// Caller names the caller of req, to bind delete confirmations to them; nil when one person
	// uses the server (stdio).
	Caller func(req *mcp.CallToolRequest) string
	// ReadOnly serves the read tools only (list, get, logs, explain).
	ReadOnly bool
	// Version of the server, told to clients.
	Version string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Secret signs delete confirmation tokens; random when nil (tokens then die with the
	// server, which is fine: they live minutes).
	Secret []byte
}

// Tool names: the seed's five, and the rest of what previewctl and the console do.
const (
	ToolList    = "list_preview_environments"
	ToolGet     = "get_preview_environment"
	ToolLogs    = "get_preview_logs"
	ToolExplain = "explain_preview"
	ToolRetry   = "retry_preview_deployment"
	ToolKeep    = "keep_preview_environment"
	ToolDelete  = "delete_preview_environment"
)

// ReadTools and WriteTools are every tool New serves, by kind; --read-only serves ReadTools.
var (
	ReadTools  = []string{ToolList, ToolGet, ToolLogs, ToolExplain}
	WriteTools = []string{ToolRetry, ToolKeep, ToolDelete, ToolGC}
)

type server struct {
	o Options
}

// New returns the MCP server; run it on a transport (mcp.StdioTransport, or the console's
// streamable HTTP handler).
func New(o Options) (*mcp.Server, error) {
	if o.Client == nil {
		return nil, errors.New("previewmcp: Options.Client is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Secret == nil {
		o.Secret = make([]byte, 32)
		if _, err := rand.Read(o.Secret); err != nil {
			return nil, fmt.Errorf("previewmcp: confirmation secret: %w", err)
		}
	}
	if o.Caller == nil {
		o.Caller = func(*mcp.CallToolRequest) string { return "" }
	}
	s := &server{o: o}
	srv := mcp.NewServer(&mcp.Implementation{Name: "catalyst-preview", Title: "Catalyst Preview", Version: o.Version}, &mcp.ServerOptions{
		Instructions: instructions,
	})
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(false)}
	mcp.AddTool(srv, &mcp.Tool{Name: ToolList, Title: "List preview environments", Annotations: readOnly,
		OutputSchema: schemaFor[preview.List](),
		Description:  "Lists the preview environments of pull requests that you may see (Kubernetes RBAC decides), with their state, URL and resource usage. Filter by repository or state."},
		s.list)
	mcp.AddTool(srv, &mcp.Tool{Name: ToolGet, Title: "Get a preview environment", Annotations: readOnly,
		OutputSchema: schemaFor[preview.Detail](),
		Description:  "Shows one preview environment with its recent runs, task by task and step by step, with the diagnostics of a failed deploy or health check."},
		s.get)
	mcp.AddTool(srv, &mcp.Tool{Name: ToolLogs, Title: "Read a preview's logs", Annotations: readOnly,
		Description: fmt.Sprintf("Reads the logs of an environment's pipeline (build, deploy, health check: the latest attempt of the head commit unless a run is named) or, with app, of its application's containers. At most the last %d lines and %d KiB are returned. Secret values are NOT masked: what the user may read, the agent reads.", maxTail, maxLogBytes/1024)},
		s.logs)
	mcp.AddTool(srv, &mcp.Tool{Name: ToolExplain, Title: "Explain a missing or failed preview", Annotations: readOnly,
		Description: "Answers \"why is there no preview for this pull request?\": the chain from the pull request to its preview, link by link, up to the first that is not ok, and what to do about it."},
		s.explain)
	if o.ReadOnly {
		return srv, nil
	}
	mcp.AddTool(srv, &mcp.Tool{Name: ToolRetry, Title: "Retry a preview deployment",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(false), OpenWorldHint: ptr(false)},
		Description: "Asks for a new attempt at the pull request's head commit, as a /retest comment does. Refused for a closed pull request or while a gate (approval, draft, label) holds it."},
		s.retry)
	mcp.AddTool(srv, &mcp.Tool{Name: ToolKeep, Title: "Keep a preview environment",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)},
		Description: "Exempts an environment from the idle TTL and from garbage collection (keep=true), or ends the exemption (keep=false). A closed pull request's environment goes regardless."},
		s.keep)
	mcp.AddTool(srv, &mcp.Tool{Name: ToolDelete, Title: "Delete a preview environment",
		Annotations:  &mcp.ToolAnnotations{DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(false)},
		OutputSchema: schemaFor[DeleteOutput](),
		Description:  "Removes a preview environment as closing the pull request would: its runs stop, the cleanup runs, the namespace is deleted. A later push or retry brings it back. The user confirms: through the client when it can ask them, otherwise by calling again with the confirmation token the first call returns."},
		s.delete)
	mcp.AddTool(srv, &mcp.Tool{Name: ToolGC, Title: "Garbage-collect preview environments",
		Annotations:  &mcp.ToolAnnotations{DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(false)},
		OutputSchema: schemaFor[GCOutput](),
		Description:  "Removes environments of closed pull requests, orphaned ones and (with idle) those without a push for that long, as previewctl gc does; with no selector, closed and orphaned ones. It shows the selection first: the user confirms it (through the client, or by calling again with the same selection and the confirmation token), and only what they saw is removed."},
		s.gc)
	return srv, nil
}

const instructions = `Catalyst Preview runs a preview environment for each pull request of the configured repositories. Name an environment as OWNER/REPO#N, by its pull request URL, or by its namespace (pr-REPO-N). What you see and may do is what the user's Kubernetes RBAC allows: a Forbidden error is a decision, not a fault. Retry, keep and delete are requests the trigger carries out within seconds; get_preview_environment shows the outcome.`

// schemaFor infers T's JSON schema, with Kubernetes quantities as the strings they marshal to.
func schemaFor[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](&jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
		reflect.TypeFor[resource.Quantity](): {Type: "string"},
	}})
	if err != nil {
		panic(fmt.Sprintf("previewmcp: schema of %T: %v", *new(T), err)) // a programming error, caught by every test
	}
	return s
}

func ptr[T any](v T) *T { return &v }
