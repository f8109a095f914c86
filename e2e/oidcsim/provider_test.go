package oidcsim

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const redirect = "https://console.test/auth/callback"

func newProvider(t *testing.T) *Provider {
	t.Helper()
	p, err := New(Options{
		Users:   []User{{Name: "alice", Groups: []string{"team-a"}}, {Name: "bob"}},
		Clients: []Client{{ID: "console", Secret: "s3cret", RedirectURIs: []string{redirect}}, {ID: "previewctl"}},
	})
	assert.NilError(t, err)
	t.Cleanup(p.Close)
	return p
}

// flow runs the authorization request with the provider's HTTP client (no redirects followed)
// and returns the redirect back to the client.
func flow(t *testing.T, p *Provider, authURL string) *url.URL {
	t.Helper()
	c := p.HTTPClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURL)
	assert.NilError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusFound)
	u, err := url.Parse(resp.Header.Get("Location"))
	assert.NilError(t, err)
	return u
}

// The flow a relying party runs with go-oidc and x/oauth2 works end to end, and the ID token
// verifies against the published keys with the user's claims.
func TestCodeFlowWithPKCE(t *testing.T) {
	p := newProvider(t)
	ctx := oidc.ClientContext(t.Context(), p.HTTPClient())
	op, err := oidc.NewProvider(ctx, p.Issuer())
	assert.NilError(t, err)
	conf := oauth2.Config{ClientID: "console", ClientSecret: "s3cret", Endpoint: op.Endpoint(), RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID, "email"}}
	verifier := oauth2.GenerateVerifier()
	back := flow(t, p, conf.AuthCodeURL("st", oidc.Nonce("n0nce"), oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", "alice")))
	assert.Equal(t, back.Query().Get("state"), "st")

	tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	assert.NilError(t, err)
	raw, _ := tok.Extra("id_token").(string)
	idt, err := op.Verifier(&oidc.Config{ClientID: "console"}).Verify(ctx, raw)
	assert.NilError(t, err)
	var claims struct {
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
		Groups        []string `json:"groups"`
	}
	assert.NilError(t, idt.Claims(&claims))
	assert.Check(t, is.Equal(idt.Nonce, "n0nce"))
	assert.Check(t, is.Equal(claims.Email, "alice@example.com"))
	assert.Check(t, claims.EmailVerified)
	assert.Check(t, is.DeepEqual(claims.Groups, []string{"team-a"}))

	// refresh: a new ID token, and the old refresh token is spent
	fresh, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	assert.NilError(t, err)
	_, err = op.Verifier(&oidc.Config{ClientID: "console"}).Verify(ctx, fresh.Extra("id_token").(string))
	assert.NilError(t, err)
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	assert.ErrorContains(t, err, "invalid_grant")

	p.RevokeRefreshTokens("alice")
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token()
	assert.ErrorContains(t, err, "invalid_grant")
}

// What a real provider refuses, this one refuses: the tests of its clients mean something.
func TestRefusals(t *testing.T) {
	p := newProvider(t)
	ctx := oidc.ClientContext(t.Context(), p.HTTPClient())
	op, err := oidc.NewProvider(ctx, p.Issuer())
	assert.NilError(t, err)
	conf := oauth2.Config{ClientID: "console", ClientSecret: "s3cret", Endpoint: op.Endpoint(), RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID}}
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader // auto-detection would retry a refused exchange, with the code spent
	hint := oauth2.SetAuthURLParam("login_hint", "bob")

	t.Run("no PKCE", func(t *testing.T) {
		back := flow(t, p, conf.AuthCodeURL("st", hint))
		assert.Check(t, is.Equal(back.Query().Get("error"), "invalid_request"))
		assert.Check(t, is.Equal(back.Query().Get("code"), ""))
	})
	t.Run("wrong verifier, then the code is spent", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		code := flow(t, p, conf.AuthCodeURL("st", hint, oauth2.S256ChallengeOption(verifier))).Query().Get("code")
		_, err := conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		assert.Check(t, is.ErrorContains(err, "PKCE verification failed"))
		_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		assert.Check(t, is.ErrorContains(err, "invalid_grant"))
	})
	t.Run("wrong client secret", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		code := flow(t, p, conf.AuthCodeURL("st", hint, oauth2.S256ChallengeOption(verifier))).Query().Get("code")
		bad := conf
		bad.ClientSecret = "guess"
		_, err := bad.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		assert.Check(t, is.ErrorContains(err, "invalid_client"))
	})
	t.Run("unregistered redirect is not followed", func(t *testing.T) {
		other := conf
		other.RedirectURL = "https://evil.test/cb"
		resp, err := p.HTTPClient().Get(other.AuthCodeURL("st", hint, oauth2.S256ChallengeOption("x")))
		assert.NilError(t, err)
		resp.Body.Close()
		assert.Check(t, is.Equal(resp.StatusCode, http.StatusBadRequest))
	})
	t.Run("a token for another audience does not verify", func(t *testing.T) {
		raw, err := p.IDToken("alice", "previewctl")
		assert.NilError(t, err)
		_, err = op.Verifier(&oidc.Config{ClientID: "console"}).Verify(ctx, raw)
		assert.Check(t, is.ErrorContains(err, "audience"))
	})
}

// Without login_hint the provider shows a sign-in page that lists the users; choosing one
// completes the flow, as a person in the browser tests does.
func TestSignInPage(t *testing.T) {
	p := newProvider(t)
	conf := oauth2.Config{ClientID: "previewctl", Endpoint: oauth2.Endpoint{AuthURL: p.Issuer() + "/authorize"}, RedirectURL: "http://127.0.0.1:9999/callback", Scopes: []string{"openid"}}
	authURL := conf.AuthCodeURL("st", oauth2.S256ChallengeOption("v"))
	resp, err := p.HTTPClient().Get(authURL)
	assert.NilError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Check(t, is.Contains(string(page), `value="alice">Sign in as alice</button>`))

	u, _ := url.Parse(authURL)
	form := u.Query()
	form.Set("user", "bob")
	c := p.HTTPClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = c.PostForm(p.Issuer()+"/authorize", form)
	assert.NilError(t, err)
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(back.Host, "127.0.0.1:9999"), "a public client may use any loopback redirect")
	assert.Check(t, back.Query().Get("code") != "")
}

// The device flow as x/oauth2 runs it: the device polls while the person has not approved,
// gets an ID token once they have, and the device code cannot be used twice.
func TestDeviceFlow(t *testing.T) {
	p := newProvider(t)
	ctx := oidc.ClientContext(t.Context(), p.HTTPClient())
	op, err := oidc.NewProvider(ctx, p.Issuer())
	assert.NilError(t, err)
	conf := oauth2.Config{ClientID: "previewctl", Endpoint: op.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email"}}
	da, err := conf.DeviceAuth(ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Contains(da.VerificationURIComplete, da.UserCode))

	// not approved yet: pending (x/oauth2 keeps polling; a short context shows it)
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	_, err = conf.DeviceAccessToken(short, da)
	cancel()
	assert.Check(t, is.ErrorContains(err, "context deadline exceeded"))
	assert.Check(t, is.Equal(p.Requests()[0].Error, "authorization_pending"))

	assert.Check(t, is.ErrorContains(p.ApproveDevice("WRONG", "alice"), "no pending device authorization"))
	// the verification page approves as the chosen user
	resp, err := p.HTTPClient().PostForm(p.Issuer()+"/device", url.Values{"user_code": {da.UserCode}, "user": {"alice"}})
	assert.NilError(t, err)
	resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusOK)

	tok, err := conf.DeviceAccessToken(ctx, da)
	assert.NilError(t, err)
	idt, err := op.Verifier(&oidc.Config{ClientID: "previewctl"}).Verify(ctx, tok.Extra("id_token").(string))
	assert.NilError(t, err)
	var claims struct{ Email string }
	assert.NilError(t, idt.Claims(&claims))
	assert.Check(t, is.Equal(claims.Email, "alice@example.com"))
	assert.Check(t, tok.RefreshToken != "")

	// a device code is single use
	short, cancel = context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = conf.DeviceAccessToken(short, da)
	assert.Check(t, is.ErrorContains(err, "invalid_grant"))
}
