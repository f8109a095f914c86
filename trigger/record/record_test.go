package record

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
)

func TestApplyEvent(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2026, 11, 28, 10, min, 0, 0, time.UTC) }
	update := func(sha, before string, updated time.Time) Event {
		return Event{Type: "pull_request", Action: ActionUpdate, Repo: "acme/shop", Number: 42, InstallationID: 7, Delivery: "d",
			PR: &PRState{HeadSHA: sha, Before: before, State: "open", Author: "alice", AuthorAssociation: "MEMBER", UpdatedAt: updated}}
	}
	recorded := func(sha, before string, updated time.Time) map[string]string {
		ann := map[string]string{}
		Apply(ann, update(sha, before, updated), testNow)
		return ann
	}
	command := func(a Action, actor, assoc string) Event {
		return Event{Type: "issue_comment", Action: a, Repo: "acme/shop", Number: 42, Actor: actor, ActorAssociation: assoc, Delivery: "c1"}
	}
	tests := map[string]struct {
		ann     map[string]string
		ev      Event
		changed bool
		reason  string
		head    string
	}{
		"first event records":                      {ann: map[string]string{}, ev: update(sha1, "", at(0)), changed: true, head: sha1},
		"same state redelivered":                   {ann: recorded(sha1, "", at(0)), ev: update(sha1, "", at(0)), reason: "state already recorded", head: sha1},
		"newer push wins":                          {ann: recorded(sha1, "", at(0)), ev: update(sha2, sha1, at(5)), changed: true, head: sha2},
		"older push arriving late is refused":      {ann: recorded(sha2, sha1, at(5)), ev: update(sha1, "", at(0)), reason: "stale delivery", head: sha2},
		"same-second pushes ordered by before":     {ann: recorded(sha1, "", at(5)), ev: update(sha2, sha1, at(5)), changed: true, head: sha2},
		"same-second older push refused by before": {ann: recorded(sha2, sha1, at(5)), ev: update(sha1, "", at(5)), reason: "superseded by", head: sha2},
		"sub-second times compare by the recorded second": {
			ann: recorded(sha2, sha1, at(5).Add(900*time.Millisecond)), ev: update(sha1, "", at(5).Add(100*time.Millisecond)), reason: "superseded by", head: sha2,
		},
		"retest by the author":            {ann: recorded(sha1, "", at(0)), ev: command(ActionRetest, "alice", "CONTRIBUTOR"), changed: true, head: sha1},
		"retest by a collaborator":        {ann: recorded(sha1, "", at(0)), ev: command(ActionRetest, "bob", "COLLABORATOR"), changed: true, head: sha1},
		"retest by a stranger is refused": {ann: recorded(sha1, "", at(0)), ev: command(ActionRetest, "eve", "NONE"), reason: "neither the author nor a collaborator", head: sha1},
		"cancel by a stranger is refused": {ann: recorded(sha1, "", at(0)), ev: command(ActionCancel, "eve", "CONTRIBUTOR"), reason: "neither the author nor a collaborator", head: sha1},
		"command before any state":        {ann: map[string]string{}, ev: command(ActionRetest, "alice", "MEMBER"), reason: "no pull request state"},
		"re-run of a superseded commit":   {ann: recorded(sha2, sha1, at(5)), ev: Event{Type: "check_run", Action: ActionRetest, SHA: sha1, Delivery: "x"}, reason: "superseded", head: sha2},
		"approval request is recorded for the head": {
			ann: recorded(sha1, "", at(0)), ev: command(ActionApprove, "bob", "COLLABORATOR"), changed: true, head: sha1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			changed, reason := Apply(tc.ann, tc.ev, testNow)
			assert.Equal(t, changed, tc.changed)
			if tc.reason != "" {
				assert.Check(t, is.Contains(reason, tc.reason))
			}
			assert.Equal(t, tc.ann[preview.AnnotationHeadSHA], tc.head)
		})
	}
}

func TestGate(t *testing.T) {
	base := func(f func(map[string]string)) map[string]string {
		ann := map[string]string{preview.AnnotationPRState: "open", preview.AnnotationHeadSHA: sha1, preview.AnnotationAuthor: "mallory",
			preview.AnnotationAuthorAssociation: "CONTRIBUTOR", preview.AnnotationDraft: "false", preview.AnnotationPRLabels: `[]`}
		if f != nil {
			f(ann)
		}
		return ann
	}
	tests := map[string]struct {
		p          func(*config.Preview)
		configured bool
		ann        map[string]string
		want       string
	}{
		"unconfigured":                 {ann: base(nil), want: preview.GateUnconfigured},
		"closed":                       {configured: true, ann: base(func(a map[string]string) { a[preview.AnnotationPRState] = "merged" }), want: preview.GateClosed},
		"untrusted":                    {configured: true, ann: base(nil), want: preview.GateApproval},
		"member":                       {configured: true, ann: base(func(a map[string]string) { a[preview.AnnotationAuthorAssociation] = "MEMBER" })},
		"allow-listed bot":             {configured: true, p: func(p *config.Preview) { p.TrustedBots = []string{"renovate[bot]"} }, ann: base(func(a map[string]string) { a[preview.AnnotationAuthor] = "renovate[bot]" })},
		"approved for this SHA":        {configured: true, ann: base(func(a map[string]string) { a[preview.AnnotationApprovedSHA] = sha1 })},
		"approval pinned to older SHA": {configured: true, ann: base(func(a map[string]string) { a[preview.AnnotationApprovedSHA] = sha2 }), want: preview.GateApproval},
		"sticky approval":              {configured: true, p: func(p *config.Preview) { p.ApprovalSticky = true }, ann: base(func(a map[string]string) { a[preview.AnnotationApprovedSHA] = sha2 })},
		"draft": {configured: true, ann: base(func(a map[string]string) {
			a[preview.AnnotationAuthorAssociation] = "OWNER"
			a[preview.AnnotationDraft] = "true"
		}), want: preview.GateDraft},
		"draft allowed": {configured: true, p: func(p *config.Preview) { p.DeployDrafts = true }, ann: base(func(a map[string]string) {
			a[preview.AnnotationAuthorAssociation] = "OWNER"
			a[preview.AnnotationDraft] = "true"
		})},
		"label mode without label": {configured: true, p: func(p *config.Preview) { p.RequireLabel = "preview" }, ann: base(func(a map[string]string) { a[preview.AnnotationAuthorAssociation] = "OWNER" }), want: preview.GateLabel},
		"label mode with label": {configured: true, p: func(p *config.Preview) { p.RequireLabel = "preview" }, ann: base(func(a map[string]string) {
			a[preview.AnnotationAuthorAssociation] = "OWNER"
			a[preview.AnnotationPRLabels] = `["bug","preview"]`
		})},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var p config.Preview
			if tc.p != nil {
				tc.p(&p)
			}
			assert.Equal(t, Gate(p, tc.configured, tc.ann), tc.want)
		})
	}
}
