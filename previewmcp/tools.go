package previewmcp

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/catalyst-preview/catalyst/preview"
)

// EnvironmentInput names one environment.
type EnvironmentInput struct {
	Environment string `json:"environment" jsonschema:"the environment: OWNER/REPO#N, the pull request's URL, or its namespace (pr-REPO-N)"`
}

// ListInput filters list_preview_environments.
type ListInput struct {
	Repo   string   `json:"repo,omitempty" jsonschema:"only this repository, as owner/repo"`
	States []string `json:"states,omitempty" jsonschema:"only environments in one of these states: waiting, queued, building, deploying, ready, failed, stopped, cleaning, unknown"`
	// Namespaces matter to a user who may not list namespaces cluster-wide.
	Namespaces []string `json:"namespaces,omitempty" jsonschema:"PR namespaces to look in, for a user whose RBAC covers some namespaces only"`
	SortBy     string   `json:"sortBy,omitempty" jsonschema:"name (default), age (oldest first) or activity (least recently active first)"`
}

// GetInput selects get_preview_environment.
type GetInput struct {
	Environment string `json:"environment" jsonschema:"the environment: OWNER/REPO#N, the pull request's URL, or its namespace (pr-REPO-N)"`
	Runs        int    `json:"runs,omitempty" jsonschema:"how many recent runs to show (default 5)"`
}

// ExplainInput names a pull request.
type ExplainInput struct {
	Environment string `json:"environment" jsonschema:"the pull request: OWNER/REPO#N or its URL (a namespace works when the environment exists)"`
}

// KeepInput selects keep_preview_environment.
type KeepInput struct {
	Environment string `json:"environment" jsonschema:"the environment: OWNER/REPO#N, the pull request's URL, or its namespace (pr-REPO-N)"`
	Keep        bool   `json:"keep" jsonschema:"true exempts the environment from the idle TTL and gc; false ends the exemption"`
}

func (s *server) client(ctx context.Context, req *mcp.CallToolRequest) (*preview.Client, error) {
	c, err := s.o.Client(ctx, req)
	if err != nil {
		return nil, toolError(err)
	}
	return c, nil
}

func ref(env string) (preview.Ref, error) {
	r, err := preview.ParseRef(env)
	if err != nil {
		return preview.Ref{}, toolError(err)
	}
	return r, nil
}

func (s *server) list(ctx context.Context, req *mcp.CallToolRequest, in ListInput) (*mcp.CallToolResult, *preview.List, error) {
	o := preview.ListOptions{Repo: in.Repo, Namespaces: in.Namespaces}
	if len(in.States) > 0 {
		states, err := preview.ParseStates(strings.Join(in.States, ","))
		if err != nil {
			return nil, nil, toolError(err)
		}
		o.States = states
	}
	if in.SortBy != "" {
		by, err := preview.ParseSortBy(in.SortBy)
		if err != nil {
			return nil, nil, toolError(err)
		}
		o.SortBy = by
	}
	c, err := s.client(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	l, err := c.List(ctx, o)
	if err != nil {
		return nil, nil, toolError(err)
	}
	if l.Items == nil {
		l.Items = []preview.Environment{} // the schema says array: an empty list is [], not null
	}
	return nil, l, nil
}

func (s *server) get(ctx context.Context, req *mcp.CallToolRequest, in GetInput) (*mcp.CallToolResult, *preview.Detail, error) {
	r, err := ref(in.Environment)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.client(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	d, err := c.Get(ctx, r, preview.GetOptions{Runs: in.Runs})
	if err != nil {
		return nil, nil, toolError(err)
	}
	if d.Runs == nil {
		d.Runs = []preview.Run{}
	}
	if d.Commands == nil {
		d.Commands = []string{}
	}
	return nil, d, nil
}

func (s *server) explain(ctx context.Context, req *mcp.CallToolRequest, in ExplainInput) (*mcp.CallToolResult, *preview.Explanation, error) {
	r, err := ref(in.Environment)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.client(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	e, err := c.Explain(ctx, r)
	if err != nil {
		return nil, nil, toolError(err)
	}
	return nil, e, nil
}

func (s *server) retry(ctx context.Context, req *mcp.CallToolRequest, in EnvironmentInput) (*mcp.CallToolResult, *preview.RetryResult, error) {
	r, err := ref(in.Environment)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.client(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	res, err := c.Retry(ctx, r)
	if err != nil {
		return nil, nil, toolError(err)
	}
	return nil, res, nil
}

func (s *server) keep(ctx context.Context, req *mcp.CallToolRequest, in KeepInput) (*mcp.CallToolResult, *preview.KeepResult, error) {
	r, err := ref(in.Environment)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.client(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	res, err := c.Keep(ctx, r, in.Keep)
	if err != nil {
		return nil, nil, toolError(err)
	}
	return nil, res, nil
}

// toolError is the query layer's error as the agent reads it: the kind first (Forbidden is
// RBAC's decision, NotFound may be RBAC hiding it too), then the message.
func toolError(err error) error {
	return fmt.Errorf("%s: %w", preview.KindOf(err), err)
}
