package previewmcp

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/catalyst-preview/catalyst/preview"
)

// ToolGC is previewctl gc for agents.
const ToolGC = "gc_preview_environments"

// GCInput selects gc_preview_environments.
type GCInput struct {
	Closed       bool     `json:"closed,omitempty" jsonschema:"environments of closed or merged pull requests"`
	Orphans      bool     `json:"orphans,omitempty" jsonschema:"environments of repositories no longer configured, or with a broken record"`
	Idle         string   `json:"idle,omitempty" jsonschema:"environments without a push for this long, such as 168h (kept ones are skipped)"`
	Namespaces   []string `json:"namespaces,omitempty" jsonschema:"PR namespaces to look in, for a user whose RBAC covers some namespaces only"`
	Confirmation string   `json:"confirmation,omitempty" jsonschema:"the confirmation token of a first call that answered status confirmation_required; pass it only after the user agreed"`
}

// GCOutput is what gc selected and, once confirmed, did.
type GCOutput struct {
	Status       string           `json:"status" jsonschema:"requested, confirmation_required, declined or nothing"`
	Result       preview.GCResult `json:"result"`
	Confirmation string           `json:"confirmation,omitempty"`
	ExpiresAt    *time.Time       `json:"expiresAt,omitempty"`
	Message      string           `json:"message"`
}

// gc always selects first (a dry run): the user confirms that selection, and only the
// environments they saw are removed, each through the same request as delete.
func (s *server) gc(ctx context.Context, req *mcp.CallToolRequest, in GCInput) (*mcp.CallToolResult, *GCOutput, error) {
	o := preview.GCOptions{Closed: in.Closed, Orphans: in.Orphans, Namespaces: in.Namespaces, DryRun: true}
	if in.Idle != "" {
		d, err := time.ParseDuration(in.Idle)
		if err != nil || d <= 0 {
			return nil, nil, fmt.Errorf("%s: idle must be a positive duration such as 168h, got %q", preview.KindInvalid, in.Idle)
		}
		o.Idle = d
	}
	c, err := s.client(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	sel, err := c.GC(ctx, o)
	if err != nil {
		return nil, nil, toolError(err)
	}
	out := &GCOutput{Result: *sel}
	if len(sel.Items) == 0 {
		out.Status, out.Message = "nothing", "Nothing to remove."
		return nil, out, nil
	}
	var what, names []string
	for _, it := range sel.Items {
		what = append(what, it.Environment.Namespace+"@"+it.Environment.HeadSHA)
		names = append(names, fmt.Sprintf("%s (%s)", it.Environment.Ref(), it.Reason))
	}
	slices.Sort(what)
	question := fmt.Sprintf("Remove %d preview environments: %s?", len(names), strings.Join(names, ", "))
	ask, err := s.confirm(req, "gc", in.Confirmation, question, fmt.Sprintf("Remove %d environments", len(names)), what...)
	switch {
	case err != nil:
		return nil, nil, err
	case ask.input != nil:
		return ask.input, nil, nil
	case ask.token != "":
		out.Status, out.Confirmation, out.ExpiresAt = DeleteConfirmationRequired, ask.token, ask.expires
		out.Message = question + " Ask the user; if they agree, call " + ToolGC + " again with the same selection and this confirmation token."
		return nil, out, nil
	case ask.declined != "":
		out.Status, out.Message = DeleteDeclined, "The user did not confirm ("+ask.declined+"): nothing was removed."
		return nil, out, nil
	}
	out.Result.DryRun = false
	for i := range out.Result.Items {
		it := &out.Result.Items[i]
		if it.Environment.Terminating || it.Environment.Removal != nil {
			it.Action = preview.GCUnderway
			continue
		}
		if _, err := c.Delete(ctx, preview.Ref{Namespace: it.Environment.Namespace}, preview.DeleteOptions{Reason: preview.RemoveReasonGC}); err != nil {
			it.Action, it.Error = preview.GCFailed, err.Error()
			continue
		}
		it.Action = preview.GCRequested
	}
	out.Status, out.Message = DeleteRequested, "Removals requested; each item says how its request went."
	return nil, out, nil
}
