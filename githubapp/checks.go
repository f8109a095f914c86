package githubapp

import (
	"context"
	"fmt"

	"github.com/google/go-github/v62/github"
)

// CreateCheckRun creates a check run. Store the returned ID (and use an
// ExternalID) so that updates never need a lookup.
func (a *Adapter) CreateCheckRun(ctx context.Context, owner, repo string, opts github.CreateCheckRunOptions) (*github.CheckRun, error) {
	var run *github.CheckRun
	err := a.guard.write(ctx, "create check run", classCheckRun, func(ctx context.Context) (r *github.Response, err error) {
		run, r, err = a.gh.Checks.CreateCheckRun(ctx, owner, repo, opts)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s/%s check run %q at %s: %w", owner, repo, opts.Name, opts.HeadSHA, err)
	}
	return run, nil
}

// UpdateCheckRun updates a check run by ID.
func (a *Adapter) UpdateCheckRun(ctx context.Context, owner, repo string, id int64, opts github.UpdateCheckRunOptions) (*github.CheckRun, error) {
	var run *github.CheckRun
	err := a.guard.write(ctx, "update check run", classCheckRun, func(ctx context.Context) (r *github.Response, err error) {
		run, r, err = a.gh.Checks.UpdateCheckRun(ctx, owner, repo, id, opts)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s/%s check run %d: %w", owner, repo, id, err)
	}
	return run, nil
}

// CheckRunFilter selects check runs of a ref. Name is filtered by GitHub;
// ExternalID, which the API cannot filter on, is filtered here.
type CheckRunFilter struct {
	Name       string
	ExternalID string
}

// ListCheckRunsForRef lists the latest check runs of a ref (all pages)
// matching f. It is for rare recovery when a stored check-run ID was lost.
func (a *Adapter) ListCheckRunsForRef(ctx context.Context, owner, repo, ref string, f CheckRunFilter) ([]*github.CheckRun, error) {
	opts := &github.ListCheckRunsOptions{ListOptions: github.ListOptions{PerPage: perPage}}
	if f.Name != "" {
		opts.CheckName = github.String(f.Name)
	}
	var out []*github.CheckRun
	for {
		var res *github.ListCheckRunsResults
		var resp *github.Response
		err := a.guard.do(ctx, "list check runs", func(ctx context.Context) (r *github.Response, err error) {
			res, resp, err = a.gh.Checks.ListCheckRunsForRef(ctx, owner, repo, ref, opts)
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("%s/%s check runs at %s: %w", owner, repo, ref, err)
		}
		for _, run := range res.CheckRuns {
			if f.ExternalID == "" || run.GetExternalID() == f.ExternalID {
				out = append(out, run)
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}
