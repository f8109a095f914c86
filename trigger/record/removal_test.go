package record

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
)

// A removal request (previewctl delete, gc, the TTL) is a gate for the head it names: the
// environment is torn down and not redeployed, until a push or a /retest lifts it.
func TestRemovalGate(t *testing.T) {
	open := func() map[string]string {
		ann := map[string]string{}
		_, _ = Apply(ann, Event{Type: "pull_request", Action: ActionUpdate, Repo: "acme/shop", Number: 42,
			PR: &PRState{HeadSHA: sha1, State: "open", Author: "alice", AuthorAssociation: "MEMBER", UpdatedAt: testNow}}, testNow)
		return ann
	}
	removed := func() map[string]string {
		ann := open()
		preview.RemovalRequest(sha1, "bob", preview.RemoveReasonDelete, testNow).Apply(ann)
		return ann
	}
	tests := map[string]struct {
		ann  map[string]string
		ev   *Event
		gate string
	}{
		"open":                {ann: open(), gate: ""},
		"removal requested":   {ann: removed(), gate: preview.GateRemoved},
		"redelivered webhook": {ann: removed(), ev: &Event{Type: "pull_request", Action: ActionUpdate, Repo: "acme/shop", Number: 42, PR: &PRState{HeadSHA: sha1, State: "open", Author: "alice", AuthorAssociation: "MEMBER", UpdatedAt: testNow}}, gate: preview.GateRemoved},
		"a push lifts it": {ann: removed(), ev: &Event{Type: "pull_request", Action: ActionUpdate, Repo: "acme/shop", Number: 42,
			PR: &PRState{HeadSHA: sha2, Before: sha1, State: "open", Author: "alice", AuthorAssociation: "MEMBER", UpdatedAt: testNow.Add(time.Minute)}}, gate: ""},
		"a /retest lifts it": {ann: removed(), ev: &Event{Type: "issue_comment", Action: ActionRetest, Repo: "acme/shop", Number: 42, Actor: "alice", Delivery: "r1"}, gate: ""},
		"closed wins":        {ann: removed(), ev: &Event{Type: "pull_request", Action: ActionClose, Repo: "acme/shop", Number: 42, PR: &PRState{HeadSHA: sha1, State: "closed", UpdatedAt: testNow.Add(time.Minute)}}, gate: preview.GateClosed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.ev != nil {
				Apply(tc.ann, *tc.ev, testNow)
			}
			assert.Equal(t, Gate(config.Preview{}, true, tc.ann), tc.gate)
		})
	}
}
