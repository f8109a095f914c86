package trigger

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"

	"github.com/catalyst-preview/catalyst/preview"
)

// countingGitHub mints tokens that expire an hour after now and counts the mints.
type countingGitHub struct {
	GitHub
	now   *time.Time
	mints int
}

func (g *countingGitHub) For(int64) (GitHub, error) { return g, nil }
func (g *countingGitHub) InstallationFor(context.Context, string, string) (int64, error) {
	return 1, nil
}
func (g *countingGitHub) InstallationToken(context.Context, int64, []string) (*github.InstallationToken, error) {
	g.mints++
	return &github.InstallationToken{Token: github.String("t"), ExpiresAt: &github.Timestamp{Time: g.now.Add(time.Hour)}}, nil
}

// A burst of deployments of one repository costs GitHub one token; a token too close to its
// expiry is replaced.
func TestTokensAreSharedPerRepository(t *testing.T) {
	now := testNow
	gh := &countingGitHub{now: &now}
	c := &Controller{Deps: Deps{GitHub: gh, Now: func() time.Time { return now }}}
	rec := func(n int, repo string) prRecord {
		return prRecord{Name: "pr", Repo: repo, Number: n, Ann: map[string]string{preview.AnnotationInstallationID: "7"}}
	}
	for n := range 5 {
		_, err := c.token(t.Context(), rec(n, "acme/shop"))
		assert.NilError(t, err)
	}
	assert.Equal(t, gh.mints, 1, "five pull requests of one repository share a token")
	_, err := c.token(t.Context(), rec(1, "acme/docs"))
	assert.NilError(t, err)
	assert.Equal(t, gh.mints, 2, "tokens are scoped to one repository")
	now = now.Add(time.Hour - tokenMinValidity + time.Second)
	_, err = c.token(t.Context(), rec(1, "acme/shop"))
	assert.NilError(t, err)
	assert.Equal(t, gh.mints, 3, "a token about to expire is not handed out")
}
