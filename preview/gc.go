package preview

import (
	"context"
	"fmt"
	"time"
)

// GCOptions select what GC removes. With none of Closed, Orphans and Idle set, it selects
// closed and orphaned environments.
type GCOptions struct {
	Closed  bool          // environments of closed or merged pull requests still present
	Orphans bool          // environments whose repository left the configuration, or whose record is broken
	Idle    time.Duration // environments without a push for this long (the keep label exempts)
	DryRun  bool          // say what would be removed, remove nothing
	// Namespaces to look in when the caller may not list namespaces (as for List).
	Namespaces []string
}

// GC reasons.
const (
	GCClosed = "closed"
	GCOrphan = "orphaned"
	GCIdle   = "idle"
)

// GCItem is one environment GC selected.
type GCItem struct {
	Environment Environment `json:"environment"`
	Reason      string      `json:"reason"` // GCClosed | GCOrphan | GCIdle
	Detail      string      `json:"detail"`
	// Action is what was done: "would remove", "removal requested", "already being removed",
	// or the error that stopped it.
	Action string `json:"action"`
	Error  string `json:"error,omitempty"`
}

// GCResult lists what GC selected and did.
type GCResult struct {
	Items    []GCItem `json:"items"`
	Skipped  []GCItem `json:"skipped,omitempty"` // selected but kept (the keep label)
	Warnings []string `json:"warnings,omitempty"`
	DryRun   bool     `json:"dryRun"`
}

// Actions reported in GCItem.Action.
const (
	GCWouldRemove = "would remove"
	GCRequested   = "removal requested"
	GCUnderway    = "already being removed"
	GCFailed      = "failed"
	GCKept        = "kept"
)

// SelectGC decides, from environments as List returns them, which ones GC removes and why
// (pure, table-tested). Kept environments are exempt from the idle rule only: a closed pull
// request's environment goes regardless, as the trigger removes it anyway.
func SelectGC(envs []Environment, o GCOptions, now time.Time) (selected, kept []GCItem) {
	if !o.Closed && !o.Orphans && o.Idle == 0 {
		o.Closed, o.Orphans = true, true
	}
	for _, e := range envs {
		item := GCItem{Environment: e}
		switch {
		case o.Orphans && (e.Repo == "" || e.PR == 0):
			item.Reason, item.Detail = GCOrphan, "the namespace carries no pull request record"
		case o.Orphans && e.Gate == GateUnconfigured:
			item.Reason, item.Detail = GCOrphan, e.Repo+" is no longer configured"
		case o.Closed && e.PRState != "" && e.PRState != PRStateOpen:
			item.Reason, item.Detail = GCClosed, "pull request "+e.PRState
		case o.Idle > 0 && now.Sub(e.IdleSince) >= o.Idle:
			item.Reason, item.Detail = GCIdle, fmt.Sprintf("no push for %s", now.Sub(e.IdleSince).Round(time.Minute))
			if e.Kept {
				item.Action = GCKept
				kept = append(kept, item)
				continue
			}
		default:
			continue
		}
		selected = append(selected, item)
	}
	return selected, kept
}

// GC removes (or, with DryRun, lists) environments of closed pull requests, orphaned ones and
// idle ones, each through the same request as Delete, without waiting. One failure does not
// stop the others; each item says how it went.
func (c *Client) GC(ctx context.Context, o GCOptions) (*GCResult, error) {
	list, err := c.List(ctx, ListOptions{Namespaces: o.Namespaces, NoUsage: true})
	if err != nil {
		return nil, err
	}
	res := &GCResult{Warnings: list.Warnings, DryRun: o.DryRun}
	res.Items, res.Skipped = SelectGC(list.Items, o, c.o.Now())
	for i := range res.Items {
		it := &res.Items[i]
		switch {
		case o.DryRun:
			it.Action = GCWouldRemove
		case it.Environment.Terminating || it.Environment.Removal != nil:
			it.Action = GCUnderway
		default:
			_, err := c.Delete(ctx, Ref{Namespace: it.Environment.Namespace}, DeleteOptions{Reason: RemoveReasonGC})
			if err != nil {
				it.Action, it.Error = GCFailed, err.Error()
				continue
			}
			it.Action = GCRequested
		}
	}
	if res.Items == nil {
		res.Items = []GCItem{}
	}
	return res, nil
}
