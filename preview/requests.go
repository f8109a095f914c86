package preview

import "time"

// Requests are how a person asks the trigger to act on an environment: annotations on the PR
// namespace that the trigger's reconciler honours, written by the webhook (a /retest comment)
// or by a user's own Kubernetes identity (previewctl, the console, MCP tools), so that RBAC on
// the namespace decides who may ask, and the trigger — the only writer of workloads — does the
// work. Both writers build the request here, so there is one definition of each.

// AnnotationPatch sets annotations (nil values remove them), as in a JSON merge patch.
type AnnotationPatch map[string]*string

// Apply writes the patch into ann.
func (p AnnotationPatch) Apply(ann map[string]string) {
	for k, v := range p {
		if v == nil {
			delete(ann, k)
			continue
		}
		ann[k] = *v
	}
}

// RetestRequest asks for a new attempt at sha (the head), as /retest does. nonce must differ
// from every earlier request's, so that a second request is seen as new. It lifts a /cancel and
// a removal request for the same head: a person asking for a run wants the environment back.
func RetestRequest(sha, by, nonce string) AnnotationPatch {
	return AnnotationPatch{
		AnnotationRetestSHA:    &sha,
		AnnotationRetestNonce:  &nonce,
		AnnotationRetestBy:     &by,
		AnnotationCancelSHA:    nil,
		AnnotationRemoveSHA:    nil,
		AnnotationRemoveBy:     nil,
		AnnotationRemoveAt:     nil,
		AnnotationRemoveReason: nil,
	}
}

// RemovalRequest asks the trigger to remove the environment of sha (the head): stop its runs,
// run the cleanup pipeline, delete the namespace, keep the record. A push of another SHA
// supersedes it.
func RemovalRequest(sha, by, reason string, at time.Time) AnnotationPatch {
	ts := at.UTC().Format(time.RFC3339)
	if sha == "" {
		sha = "-" // a record without a head (never deployed): any value holds
	}
	return AnnotationPatch{
		AnnotationRemoveSHA:    &sha,
		AnnotationRemoveBy:     &by,
		AnnotationRemoveAt:     &ts,
		AnnotationRemoveReason: &reason,
	}
}

// RemovalRequested: the record carries a removal request that still holds (it names the current
// head SHA, or the record has no head).
func RemovalRequested(ann map[string]string) bool {
	r := ann[AnnotationRemoveSHA]
	return r != "" && (r == ann[AnnotationHeadSHA] || ann[AnnotationHeadSHA] == "")
}

// Kept: the namespace carries the keep label.
func Kept(labels map[string]string) bool { return labels[LabelKeep] == "true" }

// IdleSince is when the environment last saw a push: the time the trigger first recorded its
// head SHA, or, for a record without one, created (the namespace's creation).
func IdleSince(ann map[string]string, created time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, ann[AnnotationHeadSeenAt]); err == nil {
		return t
	}
	return created
}
