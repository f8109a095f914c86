// Package kubelogin signs a person in with an OpenID Connect provider from the command line and
// hands the ID token to kubectl (and k9s, and anything else using a kubeconfig) through an exec
// credential plugin: `previewctl login` runs the browser authorization-code flow with PKCE on a
// loopback redirect (RFC 8252) or the device flow (RFC 8628) and writes a kubeconfig user whose
// exec plugin is `previewctl token`, which prints an ExecCredential from a token cache and
// refreshes it under a file lock, so that concurrent kubectl calls spend one refresh token once.
//
// The apiserver verifies the ID token itself (its --authentication-config trusts the issuer):
// nothing here is a permission decision.
package kubelogin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Provider is an issuer and the OAuth client previewctl is registered as there.
type Provider struct {
	Issuer   string
	ClientID string
	// ClientSecret of a confidential client; empty for a public client (the usual case for a
	// command-line tool: PKCE protects the code).
	ClientSecret string
	// ExtraScopes asked for beside openid (offline_access brings a refresh token with most
	// providers; groups with some).
	ExtraScopes []string
	// CAFile is a PEM bundle for the issuer's TLS certificate; system roots when empty.
	CAFile string
}

// DefaultExtraScopes are asked for when ExtraScopes is nil.
var DefaultExtraScopes = []string{"email", "profile", "offline_access"}

// Tokens are what a sign-in yields and the cache keeps.
type Tokens struct {
	IDToken      string    `json:"id_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry"` // the ID token's exp claim
	// Subject is who signed in (the email claim, else sub), for messages.
	Subject string `json:"subject,omitempty"`
}

// validFor: the ID token is still valid that long from now.
func (t *Tokens) validFor(now time.Time, d time.Duration) bool {
	return t != nil && t.IDToken != "" && now.Add(d).Before(t.Expiry)
}

// Validate names what is missing.
func (p Provider) Validate() error {
	var errs []error
	if p.Issuer == "" {
		errs = append(errs, errors.New("the issuer URL is required (--issuer)"))
	}
	if p.ClientID == "" {
		errs = append(errs, errors.New("the client ID is required (--client-id)"))
	}
	return errors.Join(errs...)
}

func (p Provider) scopes() []string {
	extra := p.ExtraScopes
	if extra == nil {
		extra = DefaultExtraScopes
	}
	out := []string{oidc.ScopeOpenID}
	for _, s := range extra {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// client is the HTTP client reaching the issuer.
func (p Provider) client() (*http.Client, error) {
	if p.CAFile == "" {
		return &http.Client{Timeout: 30 * time.Second}, nil
	}
	pem, err := os.ReadFile(p.CAFile)
	if err != nil {
		return nil, fmt.Errorf("issuer CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("issuer CA: %s holds no PEM certificate", p.CAFile)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, nil
}

// session is a discovered provider: the OAuth configuration, an ID token verifier and the
// context carrying the HTTP client for both.
type session struct {
	ctx      context.Context
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// discover reads the issuer's metadata. now is the clock ID tokens are verified with (the
// cache's), time.Now when nil.
func (p Provider) discover(ctx context.Context, now func() time.Time) (*session, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	hc, err := p.client()
	if err != nil {
		return nil, err
	}
	ctx = oidc.ClientContext(ctx, hc)
	op, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", p.Issuer, err)
	}
	return &session{
		ctx:      ctx,
		oauth:    &oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, Endpoint: op.Endpoint(), Scopes: p.scopes()},
		verifier: op.Verifier(&oidc.Config{ClientID: p.ClientID, Now: now}),
	}, nil
}

// tokens verifies a token response's ID token (signature, issuer, audience, expiry and, when
// given, the nonce) and keeps what the cache needs. previous is the refresh token to keep when
// the provider does not rotate it.
func (s *session) tokens(tok *oauth2.Token, nonce, previous string) (*Tokens, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("the provider returned no ID token (is the openid scope allowed for this client?)")
	}
	idt, err := s.verifier.Verify(s.ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	if nonce != "" && idt.Nonce != nonce {
		return nil, errors.New("ID token: the nonce does not match this sign-in")
	}
	refresh := tok.RefreshToken
	if refresh == "" {
		refresh = previous
	}
	var claims struct{ Email string }
	subject := idt.Subject
	if idt.Claims(&claims) == nil && claims.Email != "" {
		subject = claims.Email
	}
	return &Tokens{IDToken: raw, RefreshToken: refresh, Expiry: idt.Expiry, Subject: subject}, nil
}

// refresh exchanges the refresh token for fresh tokens.
func (s *session) refresh(t *Tokens) (*Tokens, error) {
	if t.RefreshToken == "" {
		return nil, errors.New("no refresh token (ask for the offline_access scope, or sign in again)")
	}
	// An expired access token makes the token source refresh at once.
	tok, err := s.oauth.TokenSource(s.ctx, &oauth2.Token{RefreshToken: t.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	return s.tokens(tok, "", t.RefreshToken)
}
