package ghsim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"

	"github.com/catalyst-preview/catalyst/githubapp/fakeclock"
)

func TestInstallationTokenExchange(t *testing.T) {
	s, _ := newSim(t, Options{})
	inst := s.InstallationID("acme")
	assert.Assert(t, inst != 0)
	_, err := s.OpenPR(t.Context(), testRepo, PROptions{})
	assert.NilError(t, err)

	gh := installationClient(t, s, inst)
	for range 3 {
		pr, _, err := gh.PullRequests.Get(t.Context(), "acme", "shop", 1)
		assert.NilError(t, err)
		assert.Equal(t, pr.GetNumber(), 1)
	}
	assert.Equal(t, s.CountCalls("POST", RouteAccessTokens), 1, "ghinstallation caches the token")
	assert.Equal(t, s.CountCalls("GET", RoutePull), 3)
	for _, c := range s.Calls() {
		if c.Route == RoutePull {
			assert.Equal(t, c.InstallationID, inst)
			assert.Equal(t, c.Auth, "installation")
		}
	}
}

func TestAppEndpoints(t *testing.T) {
	s, _ := newSim(t, Options{AppSlug: "preview-bot"})
	app, _, err := appClient(t, s).Apps.Get(t.Context(), "")
	assert.NilError(t, err)
	assert.Equal(t, app.GetSlug(), "preview-bot")
	assert.Equal(t, s.BotLogin(), "preview-bot[bot]")

	inst, _, err := appClient(t, s).Apps.FindRepositoryInstallation(t.Context(), "acme", "shop")
	assert.NilError(t, err)
	assert.Equal(t, inst.GetID(), s.InstallationID("acme"))

	tok, _, err := appClient(t, s).Apps.CreateInstallationToken(t.Context(), inst.GetID(),
		&github.InstallationTokenOptions{Repositories: []string{"shop"}})
	assert.NilError(t, err)
	assert.Assert(t, len(tok.GetToken()) > 10)
	assert.Equal(t, len(tok.Repositories), 1)
}

func TestAuthRejections(t *testing.T) {
	s, _ := newSim(t, Options{})
	_, err := s.AddRepo("globex/site")
	assert.NilError(t, err)

	tests := map[string]struct {
		call func() error
	}{
		"made-up installation token": {call: func() error {
			gh := clientFor(t, s, http.DefaultTransport).WithAuthToken("ghs_madeup")
			_, _, err := gh.PullRequests.List(t.Context(), "acme", "shop", nil)
			return err
		}},
		"no credentials": {call: func() error {
			_, _, err := clientFor(t, s, http.DefaultTransport).PullRequests.List(t.Context(), "acme", "shop", nil)
			return err
		}},
		"JWT signed by another key": {call: func() error {
			atr, err := ghinstallation.NewAppsTransport(http.DefaultTransport, s.AppID(), otherKey())
			assert.NilError(t, err)
			_, _, err = clientFor(t, s, atr).Apps.Get(t.Context(), "")
			return err
		}},
		"installation token on an App route": {call: func() error {
			tok := mintToken(t, s, s.InstallationID("acme"))
			_, _, err := clientFor(t, s, http.DefaultTransport).WithAuthToken(tok).Apps.Get(t.Context(), "")
			return err
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var er *github.ErrorResponse
			err := tc.call()
			assert.Assert(t, errors.As(err, &er), "got %v", err)
			assert.Equal(t, er.Response.StatusCode, http.StatusUnauthorized)
		})
	}

	t.Run("another installation's repo is not found", func(t *testing.T) {
		gh := clientFor(t, s, http.DefaultTransport).WithAuthToken(mintToken(t, s, s.InstallationID("globex")))
		_, _, err := gh.PullRequests.List(t.Context(), "acme", "shop", nil)
		var er *github.ErrorResponse
		assert.Assert(t, errors.As(err, &er), "got %v", err)
		assert.Equal(t, er.Response.StatusCode, http.StatusNotFound)
	})
}

func TestTokenExpiresOnSimClock(t *testing.T) {
	clock := fakeclock.New(time.Now())
	s, _ := newSim(t, Options{Clock: clock, TokenTTL: 10 * time.Minute})
	gh := clientFor(t, s, http.DefaultTransport).WithAuthToken(mintToken(t, s, s.InstallationID("acme")))
	_, _, err := gh.PullRequests.List(t.Context(), "acme", "shop", nil)
	assert.NilError(t, err)

	clock.Advance(10 * time.Minute)
	_, _, err = gh.PullRequests.List(t.Context(), "acme", "shop", nil)
	var er *github.ErrorResponse
	assert.Assert(t, errors.As(err, &er), "got %v", err)
	assert.Equal(t, er.Response.StatusCode, http.StatusUnauthorized)
}

// mintToken mints an installation token through the API, as the App would.
func mintToken(t *testing.T, s *Sim, inst int64) string {
	t.Helper()
	tok, _, err := appClient(t, s).Apps.CreateInstallationToken(t.Context(), inst, nil)
	assert.NilError(t, err)
	return tok.GetToken()
}

// otherKey is an RSA key that is not the App's.
var otherKey = sync.OnceValue(func() []byte {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
})

// A token restricted to contents:read — the one Catalyst hands to pipelines — is refused
// wherever GitHub wants another permission, with GitHub's answer; asking for more than the
// installation grants is refused at the exchange.
func TestTokenPermissionsAreEnforced(t *testing.T) {
	s, _ := newSim(t, Options{})
	ctx := t.Context()
	_, err := s.OpenPR(ctx, testRepo, PROptions{})
	assert.NilError(t, err)
	app := appClient(t, s)
	inst := s.InstallationID("acme")
	tok, _, err := app.Apps.CreateInstallationToken(ctx, inst, &github.InstallationTokenOptions{
		Repositories: []string{"shop"}, Permissions: &github.InstallationPermissions{Contents: github.String("read")},
	})
	assert.NilError(t, err)
	assert.DeepEqual(t, tok.GetPermissions(), &github.InstallationPermissions{Contents: github.String("read"), Metadata: github.String("read")})
	gh := clientFor(t, s, http.DefaultTransport).WithAuthToken(tok.GetToken())

	forbidden := map[string]func() (*github.Response, error){
		"create check run": func() (*github.Response, error) {
			_, r, err := gh.Checks.CreateCheckRun(ctx, "acme", "shop", github.CreateCheckRunOptions{Name: "x", HeadSHA: "0123456789abcdef0123456789abcdef01234567"})
			return r, err
		},
		"list check runs": func() (*github.Response, error) {
			_, r, err := gh.Checks.ListCheckRunsForRef(ctx, "acme", "shop", "main", nil)
			return r, err
		},
		"comment": func() (*github.Response, error) {
			_, r, err := gh.Issues.CreateComment(ctx, "acme", "shop", 1, &github.IssueComment{Body: github.String("pwned")})
			return r, err
		},
		"list pull requests": func() (*github.Response, error) {
			_, r, err := gh.PullRequests.List(ctx, "acme", "shop", nil)
			return r, err
		},
	}
	for name, call := range forbidden {
		t.Run(name, func(t *testing.T) {
			resp, err := call()
			var ge *github.ErrorResponse
			assert.Assert(t, errors.As(err, &ge), "got %v", err)
			assert.Equal(t, resp.StatusCode, http.StatusForbidden)
			assert.Equal(t, ge.Message, "Resource not accessible by integration")
		})
	}
	assert.Equal(t, len(s.Comments(testRepo, 1)), 0, "nothing was written")
	perm, _, err := gh.Repositories.GetPermissionLevel(ctx, "acme", "shop", "alice")
	assert.NilError(t, err, "metadata comes with every token")
	assert.Assert(t, perm != nil)

	// An unrestricted token of the same installation may do all of it.
	full := installationClient(t, s, inst)
	_, _, err = full.Issues.CreateComment(ctx, "acme", "shop", 1, &github.IssueComment{Body: github.String("hello")})
	assert.NilError(t, err)

	_, resp, err := app.Apps.CreateInstallationToken(ctx, inst, &github.InstallationTokenOptions{
		Permissions: &github.InstallationPermissions{Administration: github.String("write")},
	})
	assert.Assert(t, err != nil)
	assert.Equal(t, resp.StatusCode, http.StatusUnprocessableEntity)
	_, resp, err = app.Apps.CreateInstallationToken(ctx, inst, &github.InstallationTokenOptions{
		Permissions: &github.InstallationPermissions{Contents: github.String("write")},
	})
	assert.Assert(t, err != nil)
	assert.Equal(t, resp.StatusCode, http.StatusUnprocessableEntity)
}
