package githubapp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-github/v62/github"
	"go.uber.org/zap"
)

// Marker returns the hidden HTML comment that identifies one kind of
// comment, e.g. Marker("report") is "<!-- catalyst-preview:report -->".
func Marker(name string) string { return "<!-- catalyst-preview:" + name + " -->" }

// UpsertComment makes the PR conversation hold exactly one comment by the
// bot that carries marker, with body; it returns that comment's ID, which
// callers store (annotation) and pass back as knownID to skip the search.
//
// The marker is prepended to body when body lacks it. With knownID the
// comment is read and edited only if its body differs; if it is gone (a
// user deleted it) or not ours, all pages of comments are searched: the
// newest of the bot's comments with the marker is kept (edited if needed),
// older duplicates are deleted (left by a retried create or a lost ID), and
// a comment is created when none exists. Comments by other users that quote
// the marker are never touched.
func (a *Adapter) UpsertComment(ctx context.Context, owner, repo string, number int, marker, body string, knownID int64) (int64, error) {
	if marker == "" {
		return 0, errors.New("upsert comment: empty marker")
	}
	if !strings.Contains(body, marker) {
		body = marker + "\n" + body
	}
	where := fmt.Sprintf("%s/%s#%d", owner, repo, number)
	bot, err := a.BotLogin(ctx)
	if err != nil {
		return 0, fmt.Errorf("upsert comment on %s: %w", where, err)
	}
	if knownID > 0 {
		id, done, err := a.upsertKnown(ctx, owner, repo, number, marker, body, bot, knownID)
		if err != nil {
			return 0, fmt.Errorf("upsert comment on %s: %w", where, err)
		}
		if done {
			return id, nil
		}
	}
	id, err := a.upsertSearch(ctx, owner, repo, number, marker, body, bot)
	if err != nil {
		return 0, fmt.Errorf("upsert comment on %s: %w", where, err)
	}
	return id, nil
}

// upsertKnown handles the remembered ID; done is false when the caller must
// search because the comment is gone or not ours.
func (a *Adapter) upsertKnown(ctx context.Context, owner, repo string, number int, marker, body, bot string, id int64) (int64, bool, error) {
	var c *github.IssueComment
	err := a.guard.do(ctx, "get comment", func(ctx context.Context) (r *github.Response, err error) {
		c, r, err = a.gh.Issues.GetComment(ctx, owner, repo, id)
		return r, err
	})
	if IsNotFound(err) {
		a.log.Info("known comment is gone, searching", zap.Int64("comment", id))
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if !isOurs(c, bot, marker) || !onIssue(c, number) {
		return 0, false, nil
	}
	if c.GetBody() == body {
		return id, true, nil
	}
	if err := a.editComment(ctx, owner, repo, id, body); err != nil {
		if IsNotFound(err) { // deleted between read and edit
			return 0, false, nil
		}
		return 0, false, err
	}
	return id, true, nil
}

func (a *Adapter) upsertSearch(ctx context.Context, owner, repo string, number int, marker, body, bot string) (int64, error) {
	all, err := a.listComments(ctx, owner, repo, number)
	if err != nil {
		return 0, err
	}
	mine := ownComments(all, bot, marker)
	if len(mine) == 0 {
		return a.createComment(ctx, owner, repo, number, body)
	}
	keep, dupes := mine[len(mine)-1], mine[:len(mine)-1]
	if keep.GetBody() != body {
		if err := a.editComment(ctx, owner, repo, keep.GetID(), body); err != nil {
			if !IsNotFound(err) {
				return 0, err
			}
			if len(dupes) == 0 {
				return a.createComment(ctx, owner, repo, number, body)
			}
			// The newest vanished under us: keep the next one instead.
			keep, dupes = dupes[len(dupes)-1], dupes[:len(dupes)-1]
			if err := a.editComment(ctx, owner, repo, keep.GetID(), body); err != nil {
				return 0, err
			}
		}
	}
	for _, d := range dupes {
		err := a.guard.write(ctx, "delete comment", classComment, func(ctx context.Context) (*github.Response, error) {
			return a.gh.Issues.DeleteComment(ctx, owner, repo, d.GetID())
		})
		if err != nil && !IsNotFound(err) {
			// Return no ID so the caller searches (and cleans) again.
			return 0, fmt.Errorf("delete duplicate comment %d: %w", d.GetID(), err)
		}
		a.log.Info("deleted duplicate comment", zap.Int64("comment", d.GetID()))
	}
	return keep.GetID(), nil
}

// ownComments keeps the bot's comments carrying marker, oldest first.
func ownComments(all []*github.IssueComment, bot, marker string) []*github.IssueComment {
	var mine []*github.IssueComment
	for _, c := range all {
		if isOurs(c, bot, marker) {
			mine = append(mine, c)
		}
	}
	slices.SortStableFunc(mine, func(x, y *github.IssueComment) int {
		if c := x.GetCreatedAt().Compare(y.GetCreatedAt().Time); c != 0 {
			return c
		}
		return cmp.Compare(x.GetID(), y.GetID())
	})
	return mine
}

func isOurs(c *github.IssueComment, bot, marker string) bool {
	return c.GetUser().GetLogin() == bot && strings.Contains(c.GetBody(), marker)
}

// onIssue guards a remembered ID against pointing at another PR's comment.
func onIssue(c *github.IssueComment, number int) bool {
	u := c.GetIssueURL()
	return u == "" || strings.HasSuffix(u, fmt.Sprintf("/issues/%d", number))
}

func (a *Adapter) listComments(ctx context.Context, owner, repo string, number int) ([]*github.IssueComment, error) {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: perPage}}
	var all []*github.IssueComment
	for {
		var page []*github.IssueComment
		var resp *github.Response
		err := a.guard.do(ctx, "list comments", func(ctx context.Context) (r *github.Response, err error) {
			page, resp, err = a.gh.Issues.ListComments(ctx, owner, repo, number, opts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if resp.NextPage == 0 {
			return all, nil
		}
		opts.Page = resp.NextPage
	}
}

func (a *Adapter) createComment(ctx context.Context, owner, repo string, number int, body string) (int64, error) {
	var c *github.IssueComment
	err := a.guard.write(ctx, "create comment", classComment, func(ctx context.Context) (r *github.Response, err error) {
		c, r, err = a.gh.Issues.CreateComment(ctx, owner, repo, number, &github.IssueComment{Body: github.String(body)})
		return r, err
	})
	if err != nil {
		return 0, err
	}
	return c.GetID(), nil
}

func (a *Adapter) editComment(ctx context.Context, owner, repo string, id int64, body string) error {
	_, err := a.editCommentReturning(ctx, owner, repo, id, body)
	return err
}

func (a *Adapter) editCommentReturning(ctx context.Context, owner, repo string, id int64, body string) (*github.IssueComment, error) {
	var c *github.IssueComment
	err := a.guard.write(ctx, "edit comment", classComment, func(ctx context.Context) (r *github.Response, err error) {
		c, r, err = a.gh.Issues.EditComment(ctx, owner, repo, id, &github.IssueComment{Body: github.String(body)})
		return r, err
	})
	return c, err
}

// UpsertKnownComment is UpsertComment for a caller that keeps its own record of what the
// comment says and calls only when the body changed: the known comment is edited without
// being read first (one call instead of two). A comment that is gone, or that the answer shows
// is not the bot's on this pull request (a corrupted record), is searched for as
// UpsertComment does. knownID 0 searches at once.
func (a *Adapter) UpsertKnownComment(ctx context.Context, owner, repo string, number int, marker, body string, knownID int64) (int64, error) {
	if knownID <= 0 {
		return a.UpsertComment(ctx, owner, repo, number, marker, body, 0)
	}
	if marker == "" {
		return 0, errors.New("upsert comment: empty marker")
	}
	if !strings.Contains(body, marker) {
		body = marker + "\n" + body
	}
	bot, err := a.BotLogin(ctx)
	if err != nil {
		return 0, fmt.Errorf("upsert comment on %s/%s#%d: %w", owner, repo, number, err)
	}
	c, err := a.editCommentReturning(ctx, owner, repo, knownID, body)
	switch {
	case IsNotFound(err):
		a.log.Info("known comment is gone, searching", zap.Int64("comment", knownID))
	case err != nil:
		return 0, fmt.Errorf("upsert comment on %s/%s#%d: %w", owner, repo, number, err)
	case isOurs(c, bot, marker) && onIssue(c, number):
		return knownID, nil
	default:
		a.log.Error("recorded comment is not the bot's on this pull request, searching", zap.Int64("comment", knownID),
			zap.String("author", c.GetUser().GetLogin()), zap.String("issue_url", c.GetIssueURL()))
	}
	id, err := a.upsertSearch(ctx, owner, repo, number, marker, body, bot)
	if err != nil {
		return 0, fmt.Errorf("upsert comment on %s/%s#%d: %w", owner, repo, number, err)
	}
	return id, nil
}
