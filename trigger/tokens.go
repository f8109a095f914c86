package trigger

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/catalyst-preview/catalyst/preview"
)

// repoToken is an installation token scoped to one repository, with its expiry.
type repoToken struct {
	value   string
	expires time.Time
}

// tokenCache shares a repository's token among its pull requests while it is valid long enough,
// so that a burst of pushes costs GitHub one token, not one per deployment.
type tokenCache struct {
	mu     sync.Mutex
	tokens map[string]repoToken // installation/owner/repo
}

// token returns a token for rec's repository valid for at least tokenMinValidity.
func (c *Controller) token(ctx context.Context, rec prRecord) (repoToken, error) {
	inst, _ := strconv.ParseInt(rec.Ann[preview.AnnotationInstallationID], 10, 64)
	key := strconv.FormatInt(inst, 10) + "/" + rec.Repo
	c.tokens.mu.Lock()
	t, ok := c.tokens.tokens[key]
	c.tokens.mu.Unlock()
	if ok && t.expires.Sub(c.Now()) > tokenMinValidity {
		return t, nil
	}
	gh, err := c.githubFor(rec)
	if err != nil {
		return repoToken{}, err
	}
	_, name := splitOwnerRepo(rec.Repo)
	tok, err := gh.InstallationToken(ctx, inst, []string{name})
	if err != nil {
		return repoToken{}, err
	}
	t = repoToken{value: tok.GetToken(), expires: tok.GetExpiresAt().Time}
	if t.expires.IsZero() {
		// A development token has no expiry; refresh it hourly all the same.
		t.expires = c.Now().Add(time.Hour)
	}
	c.tokens.mu.Lock()
	if c.tokens.tokens == nil {
		c.tokens.tokens = map[string]repoToken{}
	}
	c.tokens.tokens[key] = t
	c.tokens.mu.Unlock()
	return t, nil
}
