package record

import (
	"sort"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
)

// Action is what an event asks of a pull request's record.
type Action string

const (
	ActionUpdate  Action = "update"  // the PR changed (opened, pushed, labelled, ...): record its state
	ActionClose   Action = "close"   // closed or merged: tear the environment down
	ActionRetest  Action = "retest"  // /retest or a Checks "Re-run": a new attempt for the head SHA
	ActionCancel  Action = "cancel"  // /cancel: stop the running attempt, start nothing new for this SHA
	ActionApprove Action = "approve" // /ok-to-test: a collaborator vouches for an untrusted author
)

// Event is the part of a webhook delivery the trigger acts on, independent of the event type.
type Event struct {
	Delivery       string
	Type           string // X-GitHub-Event
	Action         Action
	Repo           string // owner/repo of the base repository
	InstallationID int64
	Number         int
	// PR is the pull request's state when the payload carries it (pull_request events, resync).
	PR *PRState
	// Actor is who asked for a command (/retest, Re-run), with their association to the repo.
	Actor            string
	ActorAssociation string
	// SHA is the commit a Checks "Re-run" was pressed on.
	SHA string
	// At is when GitHub says the event happened; it orders deliveries that arrive out of order.
	At time.Time
}

// PRState is a snapshot of a pull request as GitHub reported it.
type PRState struct {
	HeadSHA           string
	Before            string // previous head, for synchronize
	HeadRef           string
	CloneURL          string // base repository clone URL (a fork's head is fetched through it)
	HTMLURL           string
	State             string // preview.PRStateOpen | PRStateClosed | PRStateMerged
	Author            string
	AuthorAssociation string
	Draft             bool
	Fork              bool
	Labels            []string
	UpdatedAt         time.Time
}

// StateOf reads the fields the trigger records from a go-github pull request. base is the
// repository the pull request targets; nil takes it from the pull request.
func StateOf(pr *github.PullRequest, base *github.Repository) *PRState {
	s := &PRState{
		HeadSHA:           strings.ToLower(pr.GetHead().GetSHA()),
		HeadRef:           pr.GetHead().GetRef(),
		HTMLURL:           pr.GetHTMLURL(),
		Author:            pr.GetUser().GetLogin(),
		AuthorAssociation: pr.GetAuthorAssociation(),
		Draft:             pr.GetDraft(),
		UpdatedAt:         pr.GetUpdatedAt().Time,
		State:             "open",
	}
	if base == nil {
		base = pr.GetBase().GetRepo()
	}
	s.CloneURL = base.GetCloneURL()
	if head := pr.GetHead().GetRepo(); head != nil && base != nil && head.GetID() != 0 && head.GetID() != base.GetID() {
		s.Fork = true
	}
	switch {
	case pr.GetMerged() || pr.MergedAt != nil:
		s.State = "merged"
	case pr.GetState() == "closed":
		s.State = "closed"
	}
	for _, l := range pr.Labels {
		s.Labels = append(s.Labels, l.GetName())
	}
	sort.Strings(s.Labels)
	return s
}
