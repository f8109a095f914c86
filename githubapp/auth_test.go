package githubapp

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestAppTokenExchange(t *testing.T) {
	f := setup(t)
	f.mux.HandleFunc("GET "+prPath, okPR(t))

	// Two installations, two calls each: one token exchange per installation,
	// signed with the App key (the fixture verifies the JWT and rejects any
	// request without a token it issued).
	for _, id := range []int64{1, 2} {
		for range 2 {
			_, err := f.adapter(id).GetPullRequest(t.Context(), "o", "r", 7)
			assert.NilError(t, err)
		}
	}
	assert.DeepEqual(t, f.exchanges, map[int64]int{1: 1, 2: 1})
	a1, a2 := f.adapter(1), f.adapter(1)
	assert.Assert(t, a1 == a2, "adapters are cached per installation")
	assert.Equal(t, a1.InstallationID(), int64(1))
}

func TestInstallationTokenForPipelines(t *testing.T) {
	f := setup(t)
	tok, err := f.adapter(1).InstallationToken(t.Context(), 9, []string{"shop"})
	assert.NilError(t, err)
	assert.Equal(t, tok.GetToken(), "ghs_test_9_1")
	assert.Assert(t, !tok.GetExpiresAt().IsZero())
	assert.DeepEqual(t, f.tokenBody[9].Repositories, []string{"shop"})
	assert.DeepEqual(t, f.tokenBody[9].Permissions, &github.InstallationPermissions{Contents: github.String("read")})

	_, err = f.adapter(1).InstallationToken(t.Context(), 9, nil)
	assert.ErrorContains(t, err, "refusing a token for every repository")
}

func TestBotLoginIsCached(t *testing.T) {
	f := setup(t)
	for _, id := range []int64{1, 2} {
		login, err := f.adapter(id).BotLogin(t.Context())
		assert.NilError(t, err)
		assert.Equal(t, login, testBot)
	}
	assert.Equal(t, f.count("GET /app"), 1)
}

func TestInstallationFor(t *testing.T) {
	f := setup(t)
	f.mux.HandleFunc("GET /repos/o/r/installation", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, http.StatusOK, &github.Installation{ID: github.Int64(31)})
	})
	// The fixture rejects this route unless it carries a valid App JWT.
	id, err := f.clients.InstallationFor(t.Context(), "o", "r")
	assert.NilError(t, err)
	assert.Equal(t, id, int64(31))
}

func TestForInstallationRejectsAppLevelID(t *testing.T) {
	f := setup(t)
	_, err := f.clients.ForInstallation(0)
	assert.ErrorContains(t, err, "must be positive")
}

func TestNewAppValidates(t *testing.T) {
	tests := map[string]struct {
		cfg  AppConfig
		want string
	}{
		"no app id":   {cfg: AppConfig{PrivateKeyPEM: appKeyPEM()}, want: "AppID must be positive"},
		"no key":      {cfg: AppConfig{AppID: 1}, want: "PrivateKeyPEM is empty"},
		"bad key":     {cfg: AppConfig{AppID: 1, PrivateKeyPEM: []byte("nope")}, want: "parse private key"},
		"bad base":    {cfg: AppConfig{AppID: 1, PrivateKeyPEM: appKeyPEM(), BaseURL: "ftp://x/"}, want: "want http(s)"},
		"ok defaults": {cfg: AppConfig{AppID: 1, PrivateKeyPEM: appKeyPEM()}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := NewApp(tc.cfg, nil, nil)
			if tc.want != "" {
				assert.ErrorContains(t, err, tc.want)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, c.baseURL.String(), DefaultBaseURL)
		})
	}
}

func TestTokenMode(t *testing.T) {
	var auths []string
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
	})
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		auths = append(auths, r.Header.Get("Authorization"))
		writeJSON(t, w, http.StatusOK, &github.User{Login: github.String("dev-bot")})
	})
	mux.HandleFunc("GET /repos/o/r/pulls/7", func(w http.ResponseWriter, r *http.Request) {
		auths = append(auths, r.Header.Get("Authorization"))
		okPR(t)(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	c, err := NewTokenClients(TokenConfig{Token: "dev-token", BaseURL: srv.URL}, nil, nil)
	assert.NilError(t, err)
	a5, err := c.ForInstallation(5)
	assert.NilError(t, err)
	a7, err := c.ForInstallation(7)
	assert.NilError(t, err)
	assert.Assert(t, a5 == a7, "one pseudo-installation")
	assert.Equal(t, a5.InstallationID(), int64(0))

	_, err = a5.GetPullRequest(t.Context(), "o", "r", 7)
	assert.NilError(t, err)
	login, err := a7.BotLogin(t.Context())
	assert.NilError(t, err)
	assert.Equal(t, login, "dev-bot")
	tok, err := a7.InstallationToken(t.Context(), 5, nil)
	assert.NilError(t, err)
	assert.Equal(t, tok.GetToken(), "dev-token")
	id, err := c.InstallationFor(t.Context(), "o", "r")
	assert.NilError(t, err)
	assert.Equal(t, id, int64(0))
	assert.Check(t, is.DeepEqual(auths, []string{"Bearer dev-token", "Bearer dev-token"}))

	_, err = NewTokenClients(TokenConfig{}, nil, nil)
	assert.ErrorContains(t, err, "Token is empty")
}
