package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// OIDC configures sign-in with an OpenID Connect provider: the authorization code flow with
// PKCE for browsers, and ID tokens as bearer tokens for programs (previewctl, MCP clients).
type OIDC struct {
	IssuerURL    string
	ClientID     string
	ClientSecret string
	// Scopes asked for; openid is always included. Ask for offline_access (or the provider's
	// equivalent) to get refresh tokens.
	Scopes []string
	// UsernameClaim and the prefixes must equal the apiserver's claim mappings, so that a user
	// is the same Kubernetes user through the console as with kubectl. With "email", the
	// email_verified claim must be true, as the apiserver requires.
	UsernameClaim, UsernamePrefix string
	GroupsClaim, GroupsPrefix     string
	// ExtraAudiences are other client IDs whose ID tokens are accepted as bearer tokens.
	ExtraAudiences []string
	// HTTPClient reaches the provider (a private CA); http.DefaultClient when nil.
	HTTPClient *http.Client
}

const (
	sessionCookie = "catalyst-session"
	loginCookie   = "catalyst-login"
	loginTimeout  = 10 * time.Minute
	// refreshEarly refreshes a little before the ID token expires, so that a request is never
	// made with an identity the provider no longer vouches for.
	refreshEarly = 30 * time.Second
)

// oidcAuth signs people in and keeps their sessions fresh. The provider's discovery document
// is fetched on first use (and again after a failure), so the console starts while the
// provider is down and says so instead of crash-looping.
type oidcAuth struct {
	o      OIDC
	jar    cookieJar
	maxAge time.Duration
	now    func() time.Time
	log    *zap.Logger
	// redirectURL is <public URL>/auth/callback.
	redirectURL string

	mu       sync.Mutex
	provider *oidc.Provider
}

func (a *oidcAuth) context(ctx context.Context) context.Context {
	if a.o.HTTPClient == nil {
		return ctx
	}
	return oidc.ClientContext(ctx, a.o.HTTPClient)
}

// discover returns the provider, fetching its discovery document the first time.
func (a *oidcAuth) discover(ctx context.Context) (*oidc.Provider, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.provider != nil {
		return a.provider, nil
	}
	// The provider keeps the context for fetching keys later: it must outlive this request.
	p, err := oidc.NewProvider(a.context(context.WithoutCancel(ctx)), a.o.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("identity provider %s: %w", a.o.IssuerURL, err)
	}
	a.provider = p
	return p, nil
}

func (a *oidcAuth) oauth2(p *oidc.Provider) *oauth2.Config {
	scopes := []string{oidc.ScopeOpenID}
	for _, s := range a.o.Scopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{ClientID: a.o.ClientID, ClientSecret: a.o.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: a.redirectURL, Scopes: scopes}
}

func (a *oidcAuth) verifier(p *oidc.Provider) *oidc.IDTokenVerifier {
	return p.Verifier(&oidc.Config{ClientID: a.o.ClientID, Now: a.now})
}

// login starts the authorization code flow: state, nonce and PKCE verifier go into a sealed
// cookie bound to this browser, then the browser goes to the provider.
func (a *oidcAuth) login(w http.ResponseWriter, r *http.Request) {
	p, err := a.discover(r.Context())
	if err != nil {
		a.log.Warn("identity provider unreachable", zap.Error(err))
		renderProblem(w, r, http.StatusServiceUnavailable, "Unavailable", "The identity provider cannot be reached; try again in a moment.")
		return
	}
	st := loginState{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(),
		Next: safeNext(r.URL.Query().Get("next")), Expires: a.now().Add(loginTimeout)}
	if err := a.jar.set(w, r, loginCookie, st, loginTimeout); err != nil {
		renderProblem(w, r, http.StatusInternalServerError, "Internal", err.Error())
		return
	}
	u := a.oauth2(p).AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier))
	http.Redirect(w, r, u, http.StatusFound)
}

// callback finishes the flow: the state must match this browser's login cookie, the code is
// exchanged with the PKCE verifier, and the ID token must carry the nonce.
func (a *oidcAuth) callback(w http.ResponseWriter, r *http.Request) {
	var st loginState
	err := a.jar.get(r, loginCookie, &st)
	a.jar.clear(w, r, loginCookie)
	q := r.URL.Query()
	switch {
	case err != nil || a.now().After(st.Expires):
		renderSignIn(w, r, http.StatusBadRequest, "The sign-in took too long or was started in another browser. Sign in again.", "/")
		return
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1:
		renderSignIn(w, r, http.StatusBadRequest, "The sign-in response does not belong to this browser's sign-in. Sign in again.", st.Next)
		return
	case q.Get("error") != "":
		renderSignIn(w, r, http.StatusForbidden, "The identity provider refused the sign-in: "+q.Get("error")+" "+q.Get("error_description"), st.Next)
		return
	}
	p, err := a.discover(r.Context())
	if err != nil {
		renderProblem(w, r, http.StatusServiceUnavailable, "Unavailable", "The identity provider cannot be reached; try again in a moment.")
		return
	}
	ctx := a.context(r.Context())
	tok, err := a.oauth2(p).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		a.log.Warn("code exchange failed", zap.Error(err))
		renderSignIn(w, r, http.StatusBadGateway, "The identity provider did not accept the sign-in code. Sign in again.", st.Next)
		return
	}
	s, err := a.sessionFrom(ctx, p, tok, st.Nonce)
	if err != nil {
		a.log.Warn("sign-in refused", zap.Error(err))
		renderSignIn(w, r, http.StatusForbidden, "Signing in is not possible with this account: "+err.Error(), st.Next)
		return
	}
	s.SignedIn, s.CSRF = a.now(), randomToken()
	if err := a.jar.set(w, r, sessionCookie, s, a.maxAge); err != nil {
		renderProblem(w, r, http.StatusInternalServerError, "Internal", err.Error())
		return
	}
	a.log.Info("signed in", zap.String("user", s.User), zap.Strings("groups", s.Groups))
	http.Redirect(w, r, st.Next, http.StatusFound)
}

// sessionFrom verifies the token response's ID token (and its nonce, unless empty: refreshed
// tokens carry none) and maps its claims to a session.
func (a *oidcAuth) sessionFrom(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, nonce string) (*Session, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("the provider returned no ID token")
	}
	idt, err := a.verifier(p).Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, errors.New("ID token: nonce does not match the sign-in")
	}
	id, err := a.identity(idt)
	if err != nil {
		return nil, err
	}
	return &Session{User: id.User, Groups: id.Groups, Expiry: idt.Expiry, Refresh: tok.RefreshToken}, nil
}

// identity maps an ID token's claims to the Kubernetes user and groups, as the apiserver's
// claim mappings would.
func (a *oidcAuth) identity(idt *oidc.IDToken) (Identity, error) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("ID token claims: %w", err)
	}
	user, _ := claims[a.o.UsernameClaim].(string)
	if user == "" {
		return Identity{}, fmt.Errorf("the ID token has no %q claim", a.o.UsernameClaim)
	}
	if a.o.UsernameClaim == "email" {
		if verified, _ := claims["email_verified"].(bool); !verified {
			return Identity{}, errors.New("the email address is not verified")
		}
	}
	id := Identity{User: a.o.UsernamePrefix + user}
	switch g := claims[a.o.GroupsClaim].(type) {
	case string:
		id.Groups = []string{a.o.GroupsPrefix + g}
	case []any:
		for _, v := range g {
			if s, ok := v.(string); ok {
				id.Groups = append(id.Groups, a.o.GroupsPrefix+s)
			}
		}
	}
	return id, id.Validate()
}

// session returns the request's session, refreshed (and re-sealed on w) when its ID token has
// expired. ok is false when there is none, or it can no longer be used.
func (a *oidcAuth) session(w http.ResponseWriter, r *http.Request) (*Session, bool) {
	var s Session
	if err := a.jar.get(r, sessionCookie, &s); err != nil {
		return nil, false
	}
	now := a.now()
	if now.After(s.SignedIn.Add(a.maxAge)) {
		a.jar.clear(w, r, sessionCookie)
		return nil, false
	}
	if now.Before(s.Expiry.Add(-refreshEarly)) {
		return &s, true
	}
	fresh, err := a.refresh(r.Context(), &s)
	if err != nil {
		a.log.Info("session refresh failed; signing in again", zap.String("user", s.User), zap.Error(err))
		a.jar.clear(w, r, sessionCookie)
		return nil, false
	}
	if err := a.jar.set(w, r, sessionCookie, fresh, a.maxAge); err != nil {
		return nil, false
	}
	return fresh, true
}

func (a *oidcAuth) refresh(ctx context.Context, s *Session) (*Session, error) {
	if s.Refresh == "" {
		return nil, errors.New("no refresh token")
	}
	p, err := a.discover(ctx)
	if err != nil {
		return nil, err
	}
	ctx = a.context(ctx)
	// No access token: the token source refreshes at once.
	tok, err := a.oauth2(p).TokenSource(ctx, &oauth2.Token{RefreshToken: s.Refresh}).Token()
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	fresh, err := a.sessionFrom(ctx, p, tok, "")
	if err != nil {
		return nil, err
	}
	if fresh.Refresh == "" {
		fresh.Refresh = s.Refresh // the provider keeps the old one valid
	}
	fresh.SignedIn, fresh.CSRF = s.SignedIn, s.CSRF
	return fresh, nil
}

// bearer verifies an ID token presented as "Authorization: Bearer": issued by the provider for
// the console's client ID or one of the extra audiences.
func (a *oidcAuth) bearer(ctx context.Context, raw string) (Identity, error) {
	p, err := a.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	idt, err := p.Verifier(&oidc.Config{SkipClientIDCheck: true, Now: a.now}).Verify(a.context(ctx), raw)
	if err != nil {
		return Identity{}, fmt.Errorf("bearer token: %w", err)
	}
	allowed := append([]string{a.o.ClientID}, a.o.ExtraAudiences...)
	if !slices.ContainsFunc(idt.Audience, func(aud string) bool { return slices.Contains(allowed, aud) }) {
		return Identity{}, fmt.Errorf("bearer token: audience %v is not accepted", idt.Audience)
	}
	return a.identity(idt)
}

// safeNext keeps a post-sign-in redirect on this site: a path, never another host.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}
