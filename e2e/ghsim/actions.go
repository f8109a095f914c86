package ghsim

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/google/go-github/v62/github"
)

// PROptions describe a pull request to open. Zero values take defaults.
type PROptions struct {
	Author string // login; "octocat"
	// AuthorAssociation as GitHub would show it; derived from the repo
	// (OWNER, COLLABORATOR, NONE) when empty.
	AuthorAssociation string
	Title, Body       string
	Branch            string // head ref; "feature-{number}"
	Base              string // base ref; the default branch "main"
	Draft             bool
	Labels            []string
	Fork              bool // head lives in Author's fork of the repository
}

// OpenPR opens a pull request and sends pull_request "opened". The
// returned delivery carries the PR number and head SHA.
func (s *Sim) OpenPR(ctx context.Context, repo string, o PROptions) (Delivery, error) {
	s.mu.Lock()
	r, err := s.repoLocked(repo)
	if err != nil {
		s.mu.Unlock()
		return Delivery{}, err
	}
	r.nextNumber++
	n := r.nextNumber
	author := cmp.Or(o.Author, "octocat")
	branch := cmp.Or(o.Branch, fmt.Sprintf("feature-%d", n))
	base := cmp.Or(o.Base, r.defaultBranch)
	now := &github.Timestamp{Time: s.now().UTC()}
	id := s.newIDLocked()
	headRepo, headOwner := s.repoJSONLocked(r), r.owner
	if o.Fork {
		headRepo, headOwner = s.forkJSONLocked(r, author), author
	}
	pr := &github.PullRequest{
		ID: github.Int64(id), NodeID: github.String(fmt.Sprintf("PR_%d", id)), Number: github.Int(n),
		State: github.String("open"), Locked: github.Bool(false),
		Title: github.String(cmp.Or(o.Title, fmt.Sprintf("Change %d", n))), Body: github.String(o.Body),
		Draft: github.Bool(o.Draft), Merged: github.Bool(false), User: s.userLocked(author),
		AuthorAssociation: github.String(cmp.Or(o.AuthorAssociation, associationLocked(r, author))),
		Head: &github.PullRequestBranch{
			Label: github.String(headOwner + ":" + branch), Ref: github.String(branch),
			SHA: github.String(fakeSHA(repo, n, 0)), Repo: headRepo, User: s.userLocked(headOwner),
		},
		Base: &github.PullRequestBranch{
			Label: github.String(r.owner + ":" + base), Ref: github.String(base),
			SHA: github.String(fakeSHA(repo, base)), Repo: s.repoJSONLocked(r), User: s.userLocked(r.owner),
		},
		URL:         github.String(s.apiURL("/repos/%s/pulls/%d", repo, n)),
		HTMLURL:     github.String(s.htmlURL("/%s/pull/%d", repo, n)),
		IssueURL:    github.String(s.apiURL("/repos/%s/issues/%d", repo, n)),
		CommentsURL: github.String(s.apiURL("/repos/%s/issues/%d/comments", repo, n)),
		CreatedAt:   now, UpdatedAt: now, Commits: github.Int(1),
	}
	for _, l := range o.Labels {
		pr.Labels = append(pr.Labels, s.labelLocked(r, l))
	}
	r.pulls[n] = pr
	r.issueIDs[n] = s.newIDLocked() // on GitHub the PR's issue is a separate object
	return s.pullEventLocked(ctx, r, pr, "opened", author, nil)
}

// Push pushes a new commit to the PR's head branch and sends
// pull_request "synchronize" with before/after.
func (s *Sim) Push(ctx context.Context, repo string, number int) (Delivery, error) {
	return s.prAction(ctx, repo, number, "synchronize", func(r *repoRec, pr *github.PullRequest) (func(*github.PullRequestEvent), error) {
		if pr.GetState() != "open" {
			return nil, fmt.Errorf("ghsim: %s#%d is closed", repo, number)
		}
		before := pr.GetHead().GetSHA()
		r.pushes[number]++
		after := fakeSHA(repo, number, r.pushes[number])
		pr.Head.SHA = github.String(after)
		pr.Commits = github.Int(pr.GetCommits() + 1)
		return func(ev *github.PullRequestEvent) { ev.Before, ev.After = &before, &after }, nil
	})
}

// ClosePR closes the PR without merging (pull_request "closed", merged false).
func (s *Sim) ClosePR(ctx context.Context, repo string, number int) (Delivery, error) {
	return s.prAction(ctx, repo, number, "closed", func(r *repoRec, pr *github.PullRequest) (func(*github.PullRequestEvent), error) {
		if pr.GetState() != "open" {
			return nil, fmt.Errorf("ghsim: %s#%d is already closed", repo, number)
		}
		pr.State, pr.ClosedAt = github.String("closed"), &github.Timestamp{Time: s.now().UTC()}
		return nil, nil
	})
}

// MergePR merges the PR (pull_request "closed", merged true).
func (s *Sim) MergePR(ctx context.Context, repo string, number int) (Delivery, error) {
	return s.prAction(ctx, repo, number, "closed", func(r *repoRec, pr *github.PullRequest) (func(*github.PullRequestEvent), error) {
		if pr.GetState() != "open" {
			return nil, fmt.Errorf("ghsim: %s#%d is already closed", repo, number)
		}
		now := &github.Timestamp{Time: s.now().UTC()}
		pr.State, pr.ClosedAt, pr.MergedAt = github.String("closed"), now, now
		pr.Merged, pr.MergedBy = github.Bool(true), pr.User
		pr.MergeCommitSHA = github.String(fakeSHA(repo, number, "merge"))
		return nil, nil
	})
}

// ReopenPR reopens a closed, unmerged PR (pull_request "reopened").
func (s *Sim) ReopenPR(ctx context.Context, repo string, number int) (Delivery, error) {
	return s.prAction(ctx, repo, number, "reopened", func(r *repoRec, pr *github.PullRequest) (func(*github.PullRequestEvent), error) {
		if pr.GetState() != "closed" || pr.GetMerged() {
			return nil, fmt.Errorf("ghsim: %s#%d is open or merged", repo, number)
		}
		pr.State, pr.ClosedAt = github.String("open"), nil
		return nil, nil
	})
}

// Label adds a label (pull_request "labeled").
func (s *Sim) Label(ctx context.Context, repo string, number int, label string) (Delivery, error) {
	return s.prAction(ctx, repo, number, "labeled", func(r *repoRec, pr *github.PullRequest) (func(*github.PullRequestEvent), error) {
		if hasLabel(pr, label) {
			return nil, fmt.Errorf("ghsim: %s#%d already has label %q", repo, number, label)
		}
		l := s.labelLocked(r, label)
		pr.Labels = append(pr.Labels, l)
		return func(ev *github.PullRequestEvent) { ev.Label = l }, nil
	})
}

// Unlabel removes a label (pull_request "unlabeled").
func (s *Sim) Unlabel(ctx context.Context, repo string, number int, label string) (Delivery, error) {
	return s.prAction(ctx, repo, number, "unlabeled", func(r *repoRec, pr *github.PullRequest) (func(*github.PullRequestEvent), error) {
		if !hasLabel(pr, label) {
			return nil, fmt.Errorf("ghsim: %s#%d has no label %q", repo, number, label)
		}
		l := s.labelLocked(r, label)
		pr.Labels = slices.DeleteFunc(pr.Labels, func(x *github.Label) bool { return x.GetName() == label })
		return func(ev *github.PullRequestEvent) { ev.Label = l }, nil
	})
}

// ReadyForReview marks a draft PR ready (pull_request "ready_for_review").
func (s *Sim) ReadyForReview(ctx context.Context, repo string, number int) (Delivery, error) {
	return s.prAction(ctx, repo, number, "ready_for_review", func(r *repoRec, pr *github.PullRequest) (func(*github.PullRequestEvent), error) {
		if !pr.GetDraft() {
			return nil, fmt.Errorf("ghsim: %s#%d is not a draft", repo, number)
		}
		pr.Draft = github.Bool(false)
		return nil, nil
	})
}

func hasLabel(pr *github.PullRequest, name string) bool {
	return slices.ContainsFunc(pr.Labels, func(l *github.Label) bool { return l.GetName() == name })
}

// labelLocked builds a repository label; its ID is stable per name.
func (s *Sim) labelLocked(r *repoRec, name string) *github.Label {
	h := fnv.New64a()
	h.Write([]byte(r.fullName() + "\x00" + name))
	return &github.Label{
		ID: github.Int64(int64(h.Sum64() >> 1)), Name: github.String(name), Color: github.String("ededed"),
		URL: github.String(s.apiURL("/repos/%s/labels/%s", r.fullName(), name)),
	}
}

// prAction applies mutate to a PR under the lock and sends the event; the
// sender is the PR author.
func (s *Sim) prAction(ctx context.Context, repo string, number int, action string,
	mutate func(*repoRec, *github.PullRequest) (func(*github.PullRequestEvent), error)) (Delivery, error) {
	s.mu.Lock()
	r, pr, err := s.pullLocked(repo, number)
	if err != nil {
		s.mu.Unlock()
		return Delivery{}, err
	}
	extra, err := mutate(r, pr)
	if err != nil {
		s.mu.Unlock()
		return Delivery{}, err
	}
	pr.UpdatedAt = &github.Timestamp{Time: s.now().UTC()}
	return s.pullEventLocked(ctx, r, pr, action, pr.GetUser().GetLogin(), extra)
}

// pullEventLocked builds the pull_request event, unlocks, and sends it.
func (s *Sim) pullEventLocked(ctx context.Context, r *repoRec, pr *github.PullRequest, action, sender string,
	extra func(*github.PullRequestEvent)) (Delivery, error) {
	ev := &github.PullRequestEvent{
		Action: github.String(action), Number: pr.Number, PullRequest: clone(pr),
		Repo: s.repoJSONLocked(r), Sender: s.userLocked(sender), Installation: s.installationJSONLocked(r.inst),
	}
	if extra != nil {
		extra(ev)
	}
	d, send := s.newDeliveryLocked("pull_request", action, r.fullName(), pr.GetNumber(), pr.GetHead().GetSHA(), ev)
	s.mu.Unlock()
	return s.emit(ctx, d, send)
}

// Comment posts a comment as user (e.g. "/retest", "/ok-to-test") and
// sends issue_comment "created".
func (s *Sim) Comment(ctx context.Context, repo string, number int, user, body string) (Delivery, error) {
	s.mu.Lock()
	r, pr, err := s.pullLocked(repo, number)
	if err != nil {
		s.mu.Unlock()
		return Delivery{}, err
	}
	c := s.addCommentLocked(r, number, user, body)
	return s.commentEventLocked(ctx, r, pr, "created", user, c)
}

// DeleteComment deletes any comment (say, the bot's report) as user and
// sends issue_comment "deleted".
func (s *Sim) DeleteComment(ctx context.Context, repo string, commentID int64, user string) (Delivery, error) {
	s.mu.Lock()
	r, err := s.repoLocked(repo)
	if err != nil {
		s.mu.Unlock()
		return Delivery{}, err
	}
	i := r.commentIndex(commentID)
	if i < 0 {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("ghsim: no comment %d in %s", commentID, repo)
	}
	c, pr := r.comments[i], r.pulls[r.commentIssue[commentID]]
	s.removeCommentLocked(r, i)
	return s.commentEventLocked(ctx, r, pr, "deleted", user, c)
}

func (s *Sim) commentEventLocked(ctx context.Context, r *repoRec, pr *github.PullRequest, action, sender string,
	c *github.IssueComment) (Delivery, error) {
	ev := &github.IssueCommentEvent{
		Action: github.String(action), Issue: s.issueOfLocked(r, pr), Comment: clone(c),
		Repo: s.repoJSONLocked(r), Sender: s.userLocked(sender), Installation: s.installationJSONLocked(r.inst),
	}
	d, send := s.newDeliveryLocked("issue_comment", action, r.fullName(), pr.GetNumber(), pr.GetHead().GetSHA(), ev)
	s.mu.Unlock()
	return s.emit(ctx, d, send)
}

// issueOfLocked is the issue view of a PR, as issue_comment events carry
// it; pull_request links mark it as a PR.
func (s *Sim) issueOfLocked(r *repoRec, pr *github.PullRequest) *github.Issue {
	n := pr.GetNumber()
	return &github.Issue{
		ID: github.Int64(r.issueIDs[n]), Number: pr.Number, State: pr.State, Title: pr.Title, Body: pr.Body,
		User: pr.User, Labels: pr.Labels, AuthorAssociation: pr.AuthorAssociation, Draft: pr.Draft,
		URL:         github.String(s.apiURL("/repos/%s/issues/%d", r.fullName(), n)),
		HTMLURL:     pr.HTMLURL,
		CommentsURL: pr.CommentsURL,
		CreatedAt:   pr.CreatedAt, UpdatedAt: pr.UpdatedAt, ClosedAt: pr.ClosedAt,
		PullRequestLinks: &github.PullRequestLinks{
			URL: pr.URL, HTMLURL: pr.HTMLURL,
			DiffURL:  github.String(s.htmlURL("/%s/pull/%d.diff", r.fullName(), n)),
			PatchURL: github.String(s.htmlURL("/%s/pull/%d.patch", r.fullName(), n)),
		},
	}
}

// RerunCheckRun is a user clicking "Re-run" on a check run: check_run
// "rerequested". The run itself is unchanged; the App is expected to act.
func (s *Sim) RerunCheckRun(ctx context.Context, repo string, checkRunID int64, user string) (Delivery, error) {
	s.mu.Lock()
	r, err := s.repoLocked(repo)
	if err != nil {
		s.mu.Unlock()
		return Delivery{}, err
	}
	i := slices.IndexFunc(r.checkRuns, func(c *github.CheckRun) bool { return c.GetID() == checkRunID })
	if i < 0 {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("ghsim: no check run %d in %s", checkRunID, repo)
	}
	run := clone(r.checkRuns[i])
	run.CheckSuite = s.suiteViewLocked(r, run.GetHeadSHA())
	run.PullRequests = s.prRefsLocked(r, run.GetHeadSHA())
	ev := &github.CheckRunEvent{
		Action: github.String("rerequested"), CheckRun: run,
		Repo: s.repoJSONLocked(r), Sender: s.userLocked(user), Installation: s.installationJSONLocked(r.inst),
	}
	d, send := s.newDeliveryLocked("check_run", "rerequested", repo, firstNumber(run.PullRequests), run.GetHeadSHA(), ev)
	s.mu.Unlock()
	return s.emit(ctx, d, send)
}

// RerunCheckSuite is "Re-run all checks" for a commit: check_suite
// "rerequested". The commit must have check runs of the App.
func (s *Sim) RerunCheckSuite(ctx context.Context, repo, headSHA, user string) (Delivery, error) {
	s.mu.Lock()
	r, err := s.repoLocked(repo)
	if err != nil {
		s.mu.Unlock()
		return Delivery{}, err
	}
	if _, ok := r.suites[headSHA]; !ok {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("ghsim: no check suite for %s in %s", headSHA, repo)
	}
	suite := s.suiteViewLocked(r, headSHA)
	ev := &github.CheckSuiteEvent{
		Action: github.String("rerequested"), CheckSuite: suite,
		Repo: s.repoJSONLocked(r), Sender: s.userLocked(user), Installation: s.installationJSONLocked(r.inst),
	}
	d, send := s.newDeliveryLocked("check_suite", "rerequested", repo, firstNumber(suite.PullRequests), headSHA, ev)
	s.mu.Unlock()
	return s.emit(ctx, d, send)
}

// suiteViewLocked is the suite as events show it, with its status rolled
// up from the runs and the PRs at that commit.
func (s *Sim) suiteViewLocked(r *repoRec, sha string) *github.CheckSuite {
	cs := clone(s.suiteLocked(r, sha))
	status, conclusion := "completed", ""
	for _, run := range r.checkRuns {
		if run.GetHeadSHA() != sha {
			continue
		}
		if run.GetStatus() != "completed" {
			status = run.GetStatus()
		} else if conclusion == "" || run.GetConclusion() != "success" {
			conclusion = run.GetConclusion()
		}
	}
	cs.Status = github.String(status)
	if status == "completed" && conclusion != "" {
		cs.Conclusion = github.String(conclusion)
	}
	cs.Repository = s.repoJSONLocked(r)
	cs.PullRequests = s.prRefsLocked(r, sha)
	return cs
}

func firstNumber(prs []*github.PullRequest) int {
	if len(prs) == 0 {
		return 0
	}
	return prs[0].GetNumber()
}
