package githubapp

import (
	"context"
	"fmt"

	"github.com/google/go-github/v62/github"
	"go.uber.org/zap"
)

// perPage is GitHub's maximum page size; listing fewer pages spends fewer
// calls.
const perPage = 100

// Adapter is the GitHub API of one installation. Every method goes through
// the installation's guard (rate limit, breaker, retries).
type Adapter struct {
	installationID int64
	gh             *github.Client
	guard          *guard
	clients        *Clients
	log            *zap.Logger
}

// InstallationID is the installation this adapter acts for (0 in token mode).
func (a *Adapter) InstallationID() int64 { return a.installationID }

// GetPullRequest reads one pull request.
func (a *Adapter) GetPullRequest(ctx context.Context, owner, repo string, number int) (*github.PullRequest, error) {
	var pr *github.PullRequest
	err := a.guard.do(ctx, "get pull request", func(ctx context.Context) (r *github.Response, err error) {
		pr, r, err = a.gh.PullRequests.Get(ctx, owner, repo, number)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s/%s#%d: %w", owner, repo, number, err)
	}
	return pr, nil
}

// ListOpenPullRequests returns every open pull request, all pages.
func (a *Adapter) ListOpenPullRequests(ctx context.Context, owner, repo string) ([]*github.PullRequest, error) {
	opts := &github.PullRequestListOptions{State: "open", ListOptions: github.ListOptions{PerPage: perPage}}
	var all []*github.PullRequest
	for {
		var page []*github.PullRequest
		var resp *github.Response
		err := a.guard.do(ctx, "list open pull requests", func(ctx context.Context) (r *github.Response, err error) {
			page, resp, err = a.gh.PullRequests.List(ctx, owner, repo, opts)
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("%s/%s page %d: %w", owner, repo, max(opts.Page, 1), err)
		}
		all = append(all, page...)
		if resp.NextPage == 0 {
			return all, nil
		}
		opts.Page = resp.NextPage
	}
}

// CollaboratorPermission returns the login's permission on the repository:
// "admin", "write", "read" or "none". A login GitHub does not know (404) is
// "none".
func (a *Adapter) CollaboratorPermission(ctx context.Context, owner, repo, login string) (string, error) {
	var lvl *github.RepositoryPermissionLevel
	err := a.guard.do(ctx, "get collaborator permission", func(ctx context.Context) (r *github.Response, err error) {
		lvl, r, err = a.gh.Repositories.GetPermissionLevel(ctx, owner, repo, login)
		return r, err
	})
	if IsNotFound(err) {
		return "none", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s/%s permission of %s: %w", owner, repo, login, err)
	}
	return lvl.GetPermission(), nil
}
