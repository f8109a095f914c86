package githubapp

import (
	"context"
	"fmt"

	"github.com/google/go-github/v62/github"
	"go.uber.org/zap"
)

// BotLogin is the login GitHub shows as the author of what this App writes:
// "{slug}[bot]" (token mode: the token owner's login). It is fetched once.
func (a *Adapter) BotLogin(ctx context.Context) (string, error) {
	c := a.clients
	c.mu.Lock()
	login := c.botLogin
	c.mu.Unlock()
	if login != "" {
		return login, nil
	}
	if c.tokenMode() {
		var u *github.User
		err := a.guard.do(ctx, "get authenticated user", func(ctx context.Context) (r *github.Response, err error) {
			u, r, err = a.gh.Users.Get(ctx, "")
			return r, err
		})
		if err != nil {
			return "", fmt.Errorf("bot login: %w", err)
		}
		login = u.GetLogin()
	} else {
		var app *github.App
		err := c.appGuard.do(ctx, "get app", func(ctx context.Context) (r *github.Response, err error) {
			app, r, err = c.app.Apps.Get(ctx, "")
			return r, err
		})
		if err != nil {
			return "", fmt.Errorf("bot login: %w", err)
		}
		login = app.GetSlug() + "[bot]"
	}
	if login == "" || login == "[bot]" {
		return "", fmt.Errorf("bot login: GitHub returned no login")
	}
	c.mu.Lock()
	c.botLogin = login
	c.mu.Unlock()
	c.log.Info("resolved bot login", zap.String("login", login))
	return login, nil
}

// InstallationToken mints a short-lived installation token for a pipeline's git fetch. The
// token can only read the contents (and metadata) of the named repositories (names without
// owner, at least one): whatever holds it — every pod of a preview namespace can — cannot write
// Check Runs, comment, or read another repository. It uses the App JWT, so it works for any
// installation of the App. In token mode it returns the static token without an expiry.
func (a *Adapter) InstallationToken(ctx context.Context, installationID int64, repos []string) (*github.InstallationToken, error) {
	c := a.clients
	if c.tokenMode() {
		return &github.InstallationToken{Token: github.String(c.token)}, nil
	}
	if len(repos) == 0 {
		return nil, fmt.Errorf("installation %d token: refusing a token for every repository of the installation", installationID)
	}
	opts := &github.InstallationTokenOptions{Repositories: repos, Permissions: PipelineTokenPermissions()}
	var tok *github.InstallationToken
	err := c.appGuard.do(ctx, "create installation token", func(ctx context.Context) (r *github.Response, err error) {
		tok, r, err = c.app.Apps.CreateInstallationToken(ctx, installationID, opts)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("installation %d token: %w", installationID, err)
	}
	return tok, nil
}

// PipelineTokenPermissions are the only permissions of the token given to pipelines.
func PipelineTokenPermissions() *github.InstallationPermissions {
	return &github.InstallationPermissions{Contents: github.String("read")}
}
