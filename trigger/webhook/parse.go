package webhook

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/catalyst-preview/catalyst/trigger/record"
)

// ignored is an event that is valid but needs nothing; the reason is returned to GitHub.
type ignored struct{ reason string }

func (i ignored) Error() string { return i.reason }

func ignore(format string, args ...any) error { return ignored{fmt.Sprintf(format, args...)} }

// pullRequestActions maps pull_request actions to what they ask.
var pullRequestActions = map[string]record.Action{
	"opened":             record.ActionUpdate,
	"reopened":           record.ActionUpdate,
	"synchronize":        record.ActionUpdate,
	"ready_for_review":   record.ActionUpdate,
	"converted_to_draft": record.ActionUpdate,
	"labeled":            record.ActionUpdate,
	"unlabeled":          record.ActionUpdate,
	"edited":             record.ActionUpdate,
	"closed":             record.ActionClose,
}

// commands maps the first word of a PR comment line to what it asks.
var commands = map[string]record.Action{
	"/retest":     record.ActionRetest,
	"/cancel":     record.ActionCancel,
	"/ok-to-test": record.ActionApprove,
}

// eventFromPayload turns a parsed go-github payload into an Event, or an ignored error that says
// why nothing is to be done, or a plain error for a payload that lacks what its type requires.
func eventFromPayload(eventType, delivery string, payload any) (record.Event, error) {
	ev := record.Event{Delivery: delivery, Type: eventType}
	switch p := payload.(type) {
	case *github.PingEvent:
		return ev, ignore("ping")
	case *github.PullRequestEvent:
		action, ok := pullRequestActions[p.GetAction()]
		if !ok {
			return ev, ignore("pull_request action %q is not handled", p.GetAction())
		}
		if p.PullRequest == nil || p.Repo == nil {
			return ev, fmt.Errorf("pull_request event without pull_request or repository")
		}
		ev.Action = action
		ev.Repo = p.Repo.GetFullName()
		ev.InstallationID = p.GetInstallation().GetID()
		ev.Number = p.GetNumber()
		if ev.Number == 0 {
			ev.Number = p.PullRequest.GetNumber()
		}
		ev.PR = record.StateOf(p.PullRequest, p.Repo)
		ev.PR.Before = p.GetBefore()
		ev.At = ev.PR.UpdatedAt
		ev.Actor = p.GetSender().GetLogin()
	case *github.IssueCommentEvent:
		if p.GetAction() != "created" {
			return ev, ignore("issue_comment action %q is not handled", p.GetAction())
		}
		if !p.GetIssue().IsPullRequest() {
			return ev, ignore("comment on an issue, not a pull request")
		}
		action, ok := commandIn(p.GetComment().GetBody())
		if !ok {
			return ev, ignore("comment has no command")
		}
		ev.Action = action
		ev.Repo = p.GetRepo().GetFullName()
		ev.InstallationID = p.GetInstallation().GetID()
		ev.Number = p.GetIssue().GetNumber()
		ev.Actor = p.GetComment().GetUser().GetLogin()
		ev.ActorAssociation = p.GetComment().GetAuthorAssociation()
		ev.At = p.GetComment().GetCreatedAt().Time
	case *github.CheckRunEvent:
		if p.GetAction() != "rerequested" {
			return ev, ignore("check_run action %q is not handled", p.GetAction())
		}
		cr := p.GetCheckRun()
		if err := rerun(&ev, "check run", cr.GetID(), cr.GetHeadSHA(), cr.PullRequests, p.GetRepo(), p.GetInstallation(), p.GetSender()); err != nil {
			return ev, err
		}
	case *github.CheckSuiteEvent:
		if p.GetAction() != "rerequested" {
			return ev, ignore("check_suite action %q is not handled", p.GetAction())
		}
		cs := p.GetCheckSuite()
		if err := rerun(&ev, "check suite", cs.GetID(), cs.GetHeadSHA(), cs.PullRequests, p.GetRepo(), p.GetInstallation(), p.GetSender()); err != nil {
			return ev, err
		}
	default:
		return ev, ignore("event %q is not handled", eventType)
	}
	if ev.Repo == "" || !strings.Contains(ev.Repo, "/") {
		return ev, fmt.Errorf("%s event without repository full_name", eventType)
	}
	if ev.Number <= 0 {
		return ev, fmt.Errorf("%s event without a pull request number", eventType)
	}
	if ev.PR != nil && ev.PR.HeadSHA == "" {
		return ev, fmt.Errorf("%s event without pull_request.head.sha", eventType)
	}
	return ev, nil
}

// rerun fills a Checks "Re-run" (of a check run or a whole suite) into ev.
func rerun(ev *record.Event, what string, id int64, sha string, prs []*github.PullRequest, repo *github.Repository, inst *github.Installation, sender *github.User) error {
	if len(prs) == 0 {
		return ignore("%s %d belongs to no pull request", what, id)
	}
	ev.Action = record.ActionRetest
	ev.Repo = repo.GetFullName()
	ev.InstallationID = inst.GetID()
	ev.Number = prs[0].GetNumber()
	ev.SHA = sha
	ev.Actor = sender.GetLogin()
	ev.At = time.Now()
	return nil
}

// commandIn finds the first command at the start of a line. Quoted lines ("> /retest") and
// commands inside words are not commands.
func commandIn(body string) (record.Action, bool) {
	for _, line := range strings.Split(body, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if a, ok := commands[strings.ToLower(fields[0])]; ok {
			return a, true
		}
	}
	return "", false
}
