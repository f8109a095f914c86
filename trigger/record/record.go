package record

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/catalyst-preview/catalyst/preview"
)

// PR is a pull request's durable record: a PR namespace, or a pending ConfigMap.
type PR struct {
	Name   string // namespace name (for a pending record: the name its namespace will get)
	Repo   string // owner/repo
	Number int
	Ann    map[string]string
}

// Of reads the record from an object's metadata.
func Of(name string, labels, ann map[string]string) PR {
	n, _ := strconv.Atoi(labels[preview.LabelPR])
	return PR{Name: name, Repo: ann[preview.AnnotationRepo], Number: n, Ann: ann}
}

// trustedAssociations may run previews without an /ok-to-test.
var trustedAssociations = map[string]bool{"OWNER": true, "MEMBER": true, "COLLABORATOR": true}

// Apply folds an event into a record's annotations (the durable desired state) and says
// whether anything changed and, when not, why. It is pure: ordering, redelivery and permission
// rules are decided here and table-tested.
func Apply(ann map[string]string, ev Event, now time.Time) (changed bool, reason string) {
	before := Clone(ann)
	switch ev.Action {
	case ActionUpdate, ActionClose:
		if ev.PR == nil {
			return false, "event carries no pull request state"
		}
		if stale, why := isStale(ann, ev.PR); stale {
			return false, why
		}
		writePRState(ann, ev, now)
		if ev.Action == ActionClose && ann[preview.AnnotationClosedAt] == "" {
			ann[preview.AnnotationClosedAt] = now.UTC().Format(time.RFC3339)
		}
	case ActionRetest, ActionCancel, ActionApprove:
		head := ann[preview.AnnotationHeadSHA]
		if head == "" {
			return false, "no pull request state recorded yet"
		}
		if ann[preview.AnnotationPRState] != preview.PRStateOpen {
			return false, "pull request is not open"
		}
		if ev.SHA != "" && ev.SHA != head {
			return false, "re-run requested for " + short(ev.SHA) + ", superseded by " + short(head)
		}
		switch ev.Action {
		case ActionRetest:
			if ev.Type == "issue_comment" && !mayCommand(ann, ev) {
				return false, "/retest by " + ev.Actor + " who is neither the author nor a collaborator"
			}
			// The same request previewctl retry records; it also lifts a removal (delete, TTL).
			preview.RetestRequest(head, ev.Actor, nonce(ev)).Apply(ann)
		case ActionCancel:
			if !mayCommand(ann, ev) {
				return false, "/cancel by " + ev.Actor + " who is neither the author nor a collaborator"
			}
			ann[preview.AnnotationCancelSHA] = head
		case ActionApprove:
			if ann[preview.AnnotationApprovedSHA] == head {
				return false, "already approved for " + short(head)
			}
			// Whether the commenter may approve is checked by the reconciler against GitHub's
			// collaborator permission; the comment's author_association is not proof of write access.
			ann[preview.AnnotationApprovalRequestBy] = ev.Actor
			ann[preview.AnnotationApprovalRequestAt] = head
		}
	default:
		return false, "unknown action " + string(ev.Action)
	}
	if equal(before, ann) {
		return false, "state already recorded"
	}
	ann[preview.AnnotationLastEvent] = now.UTC().Format(time.RFC3339)
	return true, ""
}

// isStale tells an older delivery from a newer one. GitHub does not order deliveries and
// updated_at has one-second resolution, so same-second pushes are ordered by the before/after
// chain of synchronize events.
func isStale(ann map[string]string, pr *PRState) (bool, string) {
	recorded, err := time.Parse(time.RFC3339, ann[preview.AnnotationHeadUpdatedAt])
	if err != nil || pr.UpdatedAt.IsZero() {
		return false, ""
	}
	// Compare at the resolution that is recorded (GitHub's own: seconds); a finer incoming
	// time would otherwise look newer than the same second recorded.
	updated := pr.UpdatedAt.Truncate(time.Second)
	head := ann[preview.AnnotationHeadSHA]
	switch {
	case updated.After(recorded):
		return false, ""
	case updated.Before(recorded):
		return true, "stale delivery: pull request state of " + updated.UTC().Format(time.RFC3339) + " is older than the recorded " + recorded.UTC().Format(time.RFC3339)
	case pr.HeadSHA == head:
		return false, ""
	case ann[preview.AnnotationHeadBefore] == pr.HeadSHA:
		return true, "stale delivery: " + short(pr.HeadSHA) + " was superseded by " + short(head)
	default:
		return false, ""
	}
}

func writePRState(ann map[string]string, ev Event, now time.Time) {
	pr := ev.PR
	if ann[preview.AnnotationHeadSHA] != pr.HeadSHA {
		ann[preview.AnnotationHeadBefore] = pr.Before
		ann[preview.AnnotationHeadSeenAt] = now.UTC().Format(time.RFC3339Nano)
	}
	ann[preview.AnnotationRepo] = ev.Repo
	ann[preview.AnnotationHeadSHA] = pr.HeadSHA
	if !pr.UpdatedAt.IsZero() {
		ann[preview.AnnotationHeadUpdatedAt] = pr.UpdatedAt.UTC().Format(time.RFC3339)
	}
	setOrDelete(ann, preview.AnnotationHeadRef, pr.HeadRef)
	setOrDelete(ann, preview.AnnotationCloneURL, pr.CloneURL)
	setOrDelete(ann, preview.AnnotationPRURL, pr.HTMLURL)
	ann[preview.AnnotationPRState] = pr.State
	if ev.InstallationID != 0 {
		ann[preview.AnnotationInstallationID] = strconv.FormatInt(ev.InstallationID, 10)
	}
	setOrDelete(ann, preview.AnnotationAuthor, pr.Author)
	setOrDelete(ann, preview.AnnotationAuthorAssociation, pr.AuthorAssociation)
	ann[preview.AnnotationDraft] = strconv.FormatBool(pr.Draft)
	ann[preview.AnnotationFork] = strconv.FormatBool(pr.Fork)
	labels, _ := json.Marshal(nonNil(pr.Labels))
	ann[preview.AnnotationPRLabels] = string(labels)
	if pr.State == preview.PRStateOpen {
		delete(ann, preview.AnnotationClosedAt)
	}
}

// mayCommand: the PR's author and the repository's collaborators may /retest and /cancel.
func mayCommand(ann map[string]string, ev Event) bool {
	return ev.Actor != "" && (ev.Actor == ann[preview.AnnotationAuthor] || trustedAssociations[ev.ActorAssociation])
}

func nonce(ev Event) string {
	if ev.Delivery != "" {
		return ev.Delivery
	}
	return strconv.FormatInt(ev.At.UnixNano(), 36)
}

func setOrDelete(m map[string]string, k, v string) {
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}

// Clone copies an annotation map.
func Clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
