package trigger

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"go.uber.org/zap"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/catalyst-preview/catalyst/config"
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

// Token mode never puts the operator's token into a PR namespace unless configured to, and
// removes a copy made while it was configured.
func TestTokenModeCopiesTheTokenOnlyWhenConfigured(t *testing.T) {
	now := testNow
	for name, tc := range map[string]struct {
		copyToken   bool
		recorded    string // token-expires-at already in the record
		wantSecret  bool
		wantExpires *string
		wantMints   int
	}{
		"not configured":                   {},
		"not configured, copy from before": {recorded: testNow.Add(time.Hour).Format(time.RFC3339), wantExpires: nil},
		"configured":                       {copyToken: true, wantSecret: true, wantMints: 1},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, func(c *config.Config) {
				c.GitHub.AppID, c.GitHub.PrivateKeyFile, c.GitHub.TokenFile = 0, "", "/etc/catalyst/token"
				c.GitHub.CopyTokenToPreviews = tc.copyToken
			})
			existing := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: preview.GitTokenSecret, Namespace: "pr-shop-1"}}
			kube := fake.NewClientset(existing)
			dyn := dynamicfake.NewSimpleDynamicClient(scheme.Scheme)
			gh := &countingGitHub{now: &now}
			c := &Controller{Deps: Deps{Kube: kube, Dynamic: dyn, GitHub: gh, Config: cfg, Now: func() time.Time { return now }, Log: zap.NewNop()}}
			rec := prRecord{Name: "pr-shop-1", Repo: "acme/shop", Number: 1, Ann: map[string]string{preview.AnnotationTokenExpiresAt: tc.recorded}}
			meta := map[string]*string{}
			err := c.ensureGitToken(t.Context(), rec, meta, zap.NewNop())
			if tc.copyToken {
				// The fake dynamic client cannot apply; what matters is that a token was minted and written.
				assert.ErrorContains(t, err, "apply Secret pr-shop-1/"+preview.GitTokenSecret)
				assert.Assert(t, is.Len(dyn.Actions(), 1))
				assert.Check(t, is.Equal(dyn.Actions()[0].GetVerb()+" "+dyn.Actions()[0].GetResource().Resource, "patch secrets"))
			} else {
				assert.NilError(t, err)
			}
			assert.Equal(t, gh.mints, tc.wantMints)
			_, getErr := kube.CoreV1().Secrets("pr-shop-1").Get(t.Context(), preview.GitTokenSecret, metav1.GetOptions{})
			if tc.recorded != "" {
				assert.Check(t, apierrors.IsNotFound(getErr), "the copy made before is removed")
				v, set := meta[preview.AnnotationTokenExpiresAt]
				assert.Check(t, set && v == nil, "the record forgets the token")
			} else {
				assert.NilError(t, getErr)
			}
			if !tc.copyToken {
				assert.Check(t, is.Len(dyn.Actions(), 0), "nothing written")
			}
		})
	}
}
