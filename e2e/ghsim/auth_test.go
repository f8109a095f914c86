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
