// Package oidcsim is an OpenID Connect provider that runs inside a test process: discovery,
// JWKS, an authorization endpoint with a sign-in page, and a token endpoint (authorization code
// with PKCE, refresh tokens), issuing real RS256-signed ID tokens over HTTPS with its own CA.
//
// The device authorization grant (RFC 8628) is served too, for `previewctl login --device`:
// the device asks for a code, the person approves it at the verification page (or a test calls
// ApproveDevice), and the device polls the token endpoint.
//
// It is the identity provider of the end-to-end tests: the console signs users in through it,
// and the local kube-apiserver trusts it (cluster.Options.AuthenticationConfig with
// AuthenticationConfig), so a token it issues is a real Kubernetes credential.
package oidcsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// User is someone who can sign in.
type User struct {
	// Name is the login shown on the sign-in page and accepted as login_hint.
	Name string
	// Email is the "email" claim (always verified); Name@example.com when empty.
	Email  string
	Groups []string
}

// Client is a registered OAuth client.
type Client struct {
	ID string
	// Secret of a confidential client; empty for a public client (previewctl), which must use
	// PKCE like every client here.
	Secret string
	// RedirectURIs allowed exactly; a public client may also use any loopback http URI (RFC 8252).
	RedirectURIs []string
}

// Options configure New.
type Options struct {
	Users   []User
	Clients []Client
	// IDTokenTTL is how long ID and access tokens are valid; 10 minutes when zero.
	IDTokenTTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Provider is a running OIDC provider. It is safe for concurrent use.
type Provider struct {
	srv    *httptest.Server
	caPEM  []byte
	spki   string
	key    *rsa.PrivateKey
	keyID  string
	signer jose.Signer
	o      Options

	mu       sync.Mutex
	codes    map[string]*grant       // authorization code -> grant
	devices  map[string]*deviceGrant // device code -> pending device authorization
	refresh  map[string]*grant       // refresh token -> grant
	requests []Request
}

// grant is what an authorization code or a refresh token stands for.
type grant struct {
	user          User
	client        string
	redirectURI   string
	nonce         string
	challenge     string
	expires       time.Time
	scopes        []string
	authenticated time.Time
}

// Request is one call to the token endpoint, recorded for assertions.
type Request struct {
	GrantType string
	Client    string
	User      string
	Error     string // the OAuth error returned, empty on success
}

// New starts a provider on a loopback HTTPS port.
func New(o Options) (*Provider, error) {
	if o.IDTokenTTL == 0 {
		o.IDTokenTTL = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for i := range o.Users {
		if o.Users[i].Email == "" {
			o.Users[i].Email = o.Users[i].Name + "@example.com"
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("oidcsim: signing key: %w", err)
	}
	p := &Provider{key: key, keyID: randomString(8), o: o, codes: map[string]*grant{}, refresh: map[string]*grant{}, devices: map[string]*deviceGrant{}}
	p.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), p.keyID))
	if err != nil {
		return nil, fmt.Errorf("oidcsim: signer: %w", err)
	}
	cert, caPEM, err := servingCert()
	if err != nil {
		return nil, err
	}
	p.caPEM = caPEM
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("oidcsim: %w", err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	p.spki = base64.StdEncoding.EncodeToString(spki[:])
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /keys", p.keys)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("POST /device/code", p.deviceCode)
	mux.HandleFunc("GET /device", p.deviceVerify)
	mux.HandleFunc("POST /device", p.deviceVerify)
	p.srv = httptest.NewUnstartedServer(mux)
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	p.srv.StartTLS()
	return p, nil
}

// Close stops the provider.
func (p *Provider) Close() { p.srv.Close() }

// Issuer is the provider's issuer URL (https://127.0.0.1:PORT).
func (p *Provider) Issuer() string { return p.srv.URL }

// CAPEM is the certificate of the CA that signed the provider's serving certificate.
func (p *Provider) CAPEM() []byte { return p.caPEM }

// SPKIFingerprint is the base64 SHA-256 of the serving certificate's public key, for a
// browser's --ignore-certificate-errors-spki-list (Chromium trusts exactly this key, and no
// other certificate error).
func (p *Provider) SPKIFingerprint() string { return p.spki }

// HTTPClient trusts the provider's CA: give it to OIDC and OAuth libraries.
func (p *Provider) HTTPClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
}

// Requests returns the token endpoint's calls so far.
func (p *Provider) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// RevokeRefreshTokens makes every refresh token issued to user invalid, as an administrator
// disabling the account would.
func (p *Provider) RevokeRefreshTokens(user string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for tok, g := range p.refresh {
		if g.user.Name == user {
			delete(p.refresh, tok)
		}
	}
}

// IDToken issues an ID token for user with audience clientID directly, without a browser: what
// `kubectl --token` or an MCP client would present to the apiserver.
func (p *Provider) IDToken(user, clientID string) (string, error) {
	u, ok := p.user(user)
	if !ok {
		return "", fmt.Errorf("oidcsim: no user %q", user)
	}
	now := p.o.Now()
	return p.sign(&grant{user: u, client: clientID, authenticated: now}, now)
}

// AuthenticationConfig is a kube-apiserver AuthenticationConfiguration (for
// --authentication-config) that trusts this provider for the given audiences (client IDs):
// the username is the email claim with no prefix, the groups the "groups" claim with no prefix.
func (p *Provider) AuthenticationConfig(audiences ...string) []byte {
	cfg := map[string]any{
		"apiVersion": "apiserver.config.k8s.io/v1",
		"kind":       "AuthenticationConfiguration",
		"jwt": []any{map[string]any{
			"issuer": map[string]any{
				"url":                  p.Issuer(),
				"audiences":            audiences,
				"audienceMatchPolicy":  "MatchAny",
				"certificateAuthority": string(p.caPEM),
			},
			"claimMappings": map[string]any{
				"username": map[string]any{"claim": "email", "prefix": ""},
				"groups":   map[string]any{"claim": "groups", "prefix": ""},
			},
		}},
	}
	out, _ := json.MarshalIndent(cfg, "", "  ") // JSON is YAML; cannot fail on these types
	return out
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.Issuer(),
		"authorization_endpoint":                p.Issuer() + "/authorize",
		"token_endpoint":                        p.Issuer() + "/token",
		"jwks_uri":                              p.Issuer() + "/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "email", "profile", "groups", "offline_access"},
		"device_authorization_endpoint":         p.Issuer() + "/device/code",
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", deviceGrantType},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
		"claims_supported":                      []string{"sub", "email", "email_verified", "name", "preferred_username", "groups"},
	})
}

func (p *Provider) keys(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &p.key.PublicKey, KeyID: p.keyID, Algorithm: string(jose.RS256), Use: "sig",
	}}})
}

// authorize checks the request like a real provider (client, redirect URI, response type, PKCE
// S256), then signs in the user named by login_hint or chosen on the sign-in page, and
// redirects back with a code.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.Form
	client, ok := p.client(q.Get("client_id"))
	if !ok {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	if !client.allows(redirect) {
		// never redirect to an unregistered URI
		http.Error(w, "redirect_uri not registered for this client", http.StatusBadRequest)
		return
	}
	fail := func(code, desc string) {
		u, _ := url.Parse(redirect)
		v := u.Query()
		v.Set("error", code)
		v.Set("error_description", desc)
		if s := q.Get("state"); s != "" {
			v.Set("state", s)
		}
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	scopes := strings.Fields(q.Get("scope"))
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only the authorization code flow is supported")
		return
	case !slices.Contains(scopes, "openid"):
		fail("invalid_scope", "the openid scope is required")
		return
	case q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		fail("invalid_request", "PKCE with code_challenge_method=S256 is required")
		return
	}
	login := q.Get("login_hint")
	if r.Method == http.MethodPost {
		login = r.PostForm.Get("user")
	}
	user, ok := p.user(login)
	if !ok {
		p.signInPage(w, q)
		return
	}
	code := randomString(16)
	p.mu.Lock()
	p.codes[code] = &grant{
		user: user, client: client.ID, redirectURI: redirect, nonce: q.Get("nonce"),
		challenge: q.Get("code_challenge"), expires: p.o.Now().Add(time.Minute), scopes: scopes,
		authenticated: p.o.Now(),
	}
	p.mu.Unlock()
	u, _ := url.Parse(redirect)
	v := u.Query()
	v.Set("code", code)
	if s := q.Get("state"); s != "" {
		v.Set("state", s)
	}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (p *Provider) signInPage(w http.ResponseWriter, q url.Values) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in — test identity provider</title></head><body><h1>Sign in</h1><form method="post" action="/authorize">`)
	for k, vs := range q {
		if k == "user" {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(w, `<input type="hidden" name="%s" value="%s">`, html.EscapeString(k), html.EscapeString(v))
		}
	}
	for _, u := range p.o.Users {
		fmt.Fprintf(w, `<button type="submit" name="user" value="%s">Sign in as %s</button> `, html.EscapeString(u.Name), html.EscapeString(u.Name))
	}
	fmt.Fprint(w, `</form></body></html>`)
}

// token answers the authorization_code and refresh_token grants with RFC 6749 errors.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request", err.Error())
		return
	}
	rec := Request{GrantType: r.PostForm.Get("grant_type")}
	defer func() {
		p.mu.Lock()
		p.requests = append(p.requests, rec)
		p.mu.Unlock()
	}()
	fail := func(code, desc string) {
		rec.Error = code
		oauthError(w, code, desc)
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	rec.Client = id
	client, ok := p.client(id)
	if !ok || client.Secret != secret {
		fail("invalid_client", "unknown client or wrong secret")
		return
	}
	now := p.o.Now()
	var g *grant
	p.mu.Lock()
	switch rec.GrantType {
	case "authorization_code":
		code := r.PostForm.Get("code")
		g = p.codes[code]
		delete(p.codes, code) // single use, even when the exchange fails
	case "refresh_token":
		tok := r.PostForm.Get("refresh_token")
		g = p.refresh[tok]
		delete(p.refresh, tok) // rotated
	case deviceGrantType:
		code := r.PostForm.Get("device_code")
		d := p.devices[code]
		switch {
		case d == nil || d.client != client.ID:
		case now.After(d.expires):
			delete(p.devices, code)
			p.mu.Unlock()
			fail("expired_token", "the device code expired")
			return
		case d.user == nil:
			p.mu.Unlock()
			fail("authorization_pending", "the user has not approved the device yet")
			return
		default:
			delete(p.devices, code) // single use
			g = &grant{user: *d.user, client: d.client, scopes: d.scopes, authenticated: now}
		}
	}
	p.mu.Unlock()
	switch {
	case rec.GrantType != "authorization_code" && rec.GrantType != "refresh_token" && rec.GrantType != deviceGrantType:
		fail("unsupported_grant_type", rec.GrantType)
		return
	case g == nil || g.client != client.ID:
		fail("invalid_grant", "unknown, used, revoked or foreign code or refresh token")
		return
	case rec.GrantType == "authorization_code" && now.After(g.expires):
		fail("invalid_grant", "the authorization code expired")
		return
	case rec.GrantType == "authorization_code" && r.PostForm.Get("redirect_uri") != g.redirectURI:
		fail("invalid_grant", "redirect_uri differs from the authorization request's")
		return
	case rec.GrantType == "authorization_code" && s256(r.PostForm.Get("code_verifier")) != g.challenge:
		fail("invalid_grant", "PKCE verification failed")
		return
	}
	rec.User = g.user.Name
	if rec.GrantType == "refresh_token" {
		g = &grant{user: g.user, client: g.client, scopes: g.scopes, authenticated: g.authenticated} // no nonce on refresh
	}
	idToken, err := p.sign(g, now)
	if err != nil {
		fail("server_error", err.Error())
		return
	}
	refresh := randomString(24)
	p.mu.Lock()
	p.refresh[refresh] = g
	p.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  randomString(24),
		"token_type":    "Bearer",
		"expires_in":    int(p.o.IDTokenTTL.Seconds()),
		"id_token":      idToken,
		"refresh_token": refresh,
		"scope":         strings.Join(g.scopes, " "),
	})
}

type idClaims struct {
	jwt.Claims
	Nonce             string   `json:"nonce,omitempty"`
	AuthTime          int64    `json:"auth_time,omitempty"`
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Groups            []string `json:"groups"`
}

func (p *Provider) sign(g *grant, now time.Time) (string, error) {
	groups := g.user.Groups
	if groups == nil {
		groups = []string{}
	}
	c := idClaims{
		Claims: jwt.Claims{
			Issuer: p.Issuer(), Subject: "user-" + g.user.Name, Audience: jwt.Audience{g.client},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			Expiry: jwt.NewNumericDate(now.Add(p.o.IDTokenTTL)),
		},
		Nonce: g.nonce, AuthTime: g.authenticated.Unix(),
		Email: g.user.Email, EmailVerified: true, Name: g.user.Name, PreferredUsername: g.user.Name, Groups: groups,
	}
	tok, err := jwt.Signed(p.signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("oidcsim: sign: %w", err)
	}
	return tok, nil
}

func (p *Provider) user(name string) (User, bool) {
	for _, u := range p.o.Users {
		if u.Name == name && name != "" {
			return u, true
		}
	}
	return User{}, false
}

func (p *Provider) client(id string) (Client, bool) {
	for _, c := range p.o.Clients {
		if c.ID == id && id != "" {
			return c, true
		}
	}
	return Client{}, false
}

func (c Client) allows(redirect string) bool {
	if slices.Contains(c.RedirectURIs, redirect) {
		return true
	}
	if c.Secret != "" {
		return false
	}
	u, err := url.Parse(redirect)
	if err != nil || u.Scheme != "http" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback() || u.Hostname() == "localhost"
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func oauthError(w http.ResponseWriter, code, desc string) {
	status := http.StatusBadRequest
	if code == "invalid_client" {
		status = http.StatusUnauthorized
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// servingCert makes a CA and a certificate for 127.0.0.1 and localhost signed by it.
func servingCert() (tls.Certificate, []byte, error) {
	fail := func(err error) (tls.Certificate, []byte, error) {
		return tls.Certificate{}, nil, fmt.Errorf("oidcsim: serving certificate: %w", err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "oidcsim CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fail(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fail(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "oidcsim"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fail(err)
	}
	if len(der) == 0 {
		return fail(errors.New("empty certificate"))
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}

const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// deviceGrant is a device authorization waiting for (or given) the user's approval.
type deviceGrant struct {
	client   string
	userCode string
	scopes   []string
	expires  time.Time
	user     *User // set once approved
}

// deviceCode answers the device authorization request (RFC 8628 section 3.2). Public clients
// need no secret; a confidential one must authenticate as at the token endpoint.
func (p *Provider) deviceCode(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request", err.Error())
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	client, ok := p.client(id)
	if !ok || client.Secret != secret {
		oauthError(w, "invalid_client", "unknown client or wrong secret")
		return
	}
	scopes := strings.Fields(r.PostForm.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		oauthError(w, "invalid_scope", "the openid scope is required")
		return
	}
	code, user := randomString(16), strings.ToUpper(randomString(4))
	p.mu.Lock()
	p.devices[code] = &deviceGrant{client: client.ID, userCode: user, scopes: scopes, expires: p.o.Now().Add(5 * time.Minute)}
	p.mu.Unlock()
	verify := p.Issuer() + "/device"
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               code,
		"user_code":                 user,
		"verification_uri":          verify,
		"verification_uri_complete": verify + "?user_code=" + user,
		"expires_in":                300,
		"interval":                  1,
	})
}

// deviceVerify is the verification page: a user code and a user (login_hint or a button)
// approve the device.
func (p *Provider) deviceVerify(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	userCode := r.Form.Get("user_code")
	login := r.Form.Get("login_hint")
	if r.Method == http.MethodPost {
		login = r.PostForm.Get("user")
	}
	if _, ok := p.user(login); !ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Approve a device</title></head><body><h1>Approve a device</h1><form method="post" action="/device"><label>Code <input name="user_code" value="%s"></label>`, html.EscapeString(userCode))
		for _, u := range p.o.Users {
			fmt.Fprintf(w, ` <button type="submit" name="user" value="%s">Approve as %s</button>`, html.EscapeString(u.Name), html.EscapeString(u.Name))
		}
		fmt.Fprint(w, `</form></body></html>`)
		return
	}
	if err := p.ApproveDevice(userCode, login); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintln(w, "Device approved: you may close this page.")
}

// ApproveDevice approves the pending device authorization with userCode as user, as the person
// on the verification page would.
func (p *Provider) ApproveDevice(userCode, user string) error {
	u, ok := p.user(user)
	if !ok {
		return fmt.Errorf("oidcsim: no user %q", user)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.devices {
		if d.userCode == userCode && d.user == nil && !p.o.Now().After(d.expires) {
			d.user = &u
			return nil
		}
	}
	return fmt.Errorf("oidcsim: no pending device authorization with user code %q", userCode)
}
