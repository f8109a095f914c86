package ghsim

import (
	"fmt"
	"strings"

	"github.com/google/go-github/v62/github"
)

// PullRequest returns a copy of a pull request as the simulator holds it.
func (s *Sim) PullRequest(repo string, number int) (*github.PullRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, pr, err := s.pullLocked(repo, number)
	if err != nil {
		return nil, err
	}
	return clone(pr), nil
}

// Comments returns the comments of a PR, oldest first.
func (s *Sim) Comments(repo string, number int) []*github.IssueComment {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repo]
	if r == nil {
		return nil
	}
	var out []*github.IssueComment
	for _, c := range r.issueComments(number) {
		out = append(out, clone(c))
	}
	return out
}

// Annotations are the annotations a check run received, in the order sent.
func (s *Sim) Annotations(repo string, checkRunID int64) []*github.CheckRunAnnotation {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repo]
	if r == nil {
		return nil
	}
	var out []*github.CheckRunAnnotation
	for _, a := range r.annotations[checkRunID] {
		out = append(out, clone(a))
	}
	return out
}

// CheckRuns returns every check run of a commit, oldest first.
func (s *Sim) CheckRuns(repo, sha string) []*github.CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repo]
	if r == nil {
		return nil
	}
	var out []*github.CheckRun
	for _, run := range r.checkRuns {
		if run.GetHeadSHA() == sha {
			out = append(out, clone(run))
		}
	}
	return out
}

// Conversation is what a reviewer sees on the PR page: the PR, its
// comments and the latest check run per name at the head commit.
type Conversation struct {
	Repo      string
	PR        *github.PullRequest
	Comments  []*github.IssueComment
	CheckRuns []*github.CheckRun
}

// Conversation snapshots a PR's page.
func (s *Sim) Conversation(repo string, number int) (Conversation, error) {
	pr, err := s.PullRequest(repo, number)
	if err != nil {
		return Conversation{}, err
	}
	c := Conversation{Repo: repo, PR: pr, Comments: s.Comments(repo, number)}
	seen := map[string]bool{}
	runs := s.CheckRuns(repo, pr.GetHead().GetSHA())
	for i := len(runs) - 1; i >= 0; i-- {
		if !seen[runs[i].GetName()] {
			seen[runs[i].GetName()] = true
			c.CheckRuns = append([]*github.CheckRun{runs[i]}, c.CheckRuns...)
		}
	}
	return c, nil
}

// String renders the conversation as plain text, for `make run` and for
// test failure messages.
func (c Conversation) String() string {
	var b strings.Builder
	pr := c.PR
	state := pr.GetState()
	if pr.GetMerged() {
		state = "merged"
	}
	if pr.GetDraft() {
		state += ", draft"
	}
	fmt.Fprintf(&b, "%s#%d %q by %s (%s)\n", c.Repo, pr.GetNumber(), pr.GetTitle(), pr.GetUser().GetLogin(), state)
	fmt.Fprintf(&b, "head %s on %s\n", short(pr.GetHead().GetSHA()), pr.GetHead().GetLabel())
	if len(pr.Labels) > 0 {
		var names []string
		for _, l := range pr.Labels {
			names = append(names, l.GetName())
		}
		fmt.Fprintf(&b, "labels: %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintf(&b, "\nchecks (%d):\n", len(c.CheckRuns))
	for _, run := range c.CheckRuns {
		result := run.GetStatus()
		if run.GetConclusion() != "" {
			result += "/" + run.GetConclusion()
		}
		fmt.Fprintf(&b, "  [%s] %s: %s\n", result, run.GetName(), run.GetOutput().GetTitle())
		if u := run.GetDetailsURL(); u != "" {
			fmt.Fprintf(&b, "      details: %s\n", u)
		}
	}
	fmt.Fprintf(&b, "\ncomments (%d):\n", len(c.Comments))
	for _, cm := range c.Comments {
		fmt.Fprintf(&b, "  --- %s (comment %d)\n", cm.GetUser().GetLogin(), cm.GetID())
		for _, line := range strings.Split(strings.TrimRight(cm.GetBody(), "\n"), "\n") {
			fmt.Fprintf(&b, "  | %s\n", line)
		}
	}
	return b.String()
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
