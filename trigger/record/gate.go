package record

import (
	"encoding/json"
	"slices"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
)

// Gate says why a pull request may not deploy its head SHA now ("" when it may). It reads only
// the record, so the webhook handler, the reconciler and resync agree.
func Gate(p config.Preview, configured bool, ann map[string]string) string {
	switch {
	case !configured:
		return preview.GateUnconfigured
	case ann[preview.AnnotationPRState] != preview.PRStateOpen:
		return preview.GateClosed
	case preview.RemovalRequested(ann):
		return preview.GateRemoved
	case !trusted(p, ann):
		return preview.GateApproval
	case ann[preview.AnnotationDraft] == "true" && !p.DeployDrafts:
		return preview.GateDraft
	case p.RequireLabel != "" && !slices.Contains(prLabels(ann), p.RequireLabel):
		return preview.GateLabel
	}
	return ""
}

// trusted: a member, owner or collaborator, an allow-listed bot, or a collaborator's /ok-to-test
// for this head SHA (or for any SHA when approvals are sticky).
func trusted(p config.Preview, ann map[string]string) bool {
	if trustedAssociations[ann[preview.AnnotationAuthorAssociation]] {
		return true
	}
	if slices.Contains(p.TrustedBots, ann[preview.AnnotationAuthor]) {
		return true
	}
	approved := ann[preview.AnnotationApprovedSHA]
	return approved != "" && (approved == ann[preview.AnnotationHeadSHA] || p.ApprovalSticky)
}

func prLabels(ann map[string]string) []string {
	var labels []string
	_ = json.Unmarshal([]byte(ann[preview.AnnotationPRLabels]), &labels)
	return labels
}

// gateKeepsNamespace: gates under which an existing environment stays (but deploys nothing new).
// A closed PR or a removed opt-in label tears it down.
func gateKeepsNamespace(gate string) bool {
	return gate == "" || gate == preview.GateApproval || gate == preview.GateDraft
}
