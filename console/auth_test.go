package console

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"k8s.io/client-go/rest"

	"github.com/catalyst-preview/catalyst/e2e/oidcsim"
)

// clock is a settable clock shared by the console and the provider.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// nowhere is a Kubernetes configuration for tests that never reach Kubernetes.
var nowhere = &rest.Config{Host: "http://127.0.0.1:1"}

type authFixture struct {
	idp     *oidcsim.Provider
	clock   *clock
	console *httptest.Server
	server  *Server
}

func newAuthFixture(t *testing.T, mutate func(*Options)) *authFixture {
	t.Helper()
	clk := &clock{now: time.Now()}
	// the console's URL must be known before the provider registers its redirect URI
	l, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	public := "http://" + l.Addr().String()
	idp, err := oidcsim.New(oidcsim.Options{
		Users: []oidcsim.User{
			{Name: "alice", Groups: []string{"team-a"}},
			{Name: "mallory", Groups: []string{"system:masters"}},
		},
		Clients:    []oidcsim.Client{{ID: "console", Secret: "s3cret", RedirectURIs: []string{public + "/auth/callback"}}, {ID: "previewctl"}},
		IDTokenTTL: 5 * time.Minute,
		Now:        clk.Now,
	})
	assert.NilError(t, err)
	t.Cleanup(idp.Close)
	o := Options{
		Kube: nowhere, PublicURL: public, Now: clk.Now,
		SessionKeys: [][]byte{[]byte(strings.Repeat("k", 32))},
		OIDC: &OIDC{IssuerURL: idp.Issuer(), ClientID: "console", ClientSecret: "s3cret", Scopes: []string{"email", "offline_access"},
			UsernameClaim: "email", GroupsClaim: "groups", HTTPClient: idp.HTTPClient()},
	}
	if mutate != nil {
		mutate(&o)
	}
	s, err := New(o)
	assert.NilError(t, err)
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return &authFixture{idp: idp, clock: clk, console: srv, server: s}
}

// browser is a cookie-keeping client that follows redirects only within the console and
// stops at the provider's sign-in page.
func (f *authFixture) browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	assert.NilError(t, err)
	c := f.idp.HTTPClient()
	c.Jar = jar
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), f.idp.Issuer()) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return c
}

// signIn runs the browser flow as user and returns the page it lands on.
func (f *authFixture) signIn(t *testing.T, b *http.Client, user, next string) *http.Response {
	t.Helper()
	resp, err := b.Get(f.console.URL + "/auth/login?next=" + url.QueryEscape(next))
	assert.NilError(t, err)
	resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusFound)
	authorize, err := url.Parse(resp.Header.Get("Location"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(authorize.Query().Get("code_challenge_method"), "S256"))
	form := authorize.Query()
	form.Set("user", user)
	// the person clicks "Sign in as <user>"; the provider sends the browser back to the
	// callback, which sends it on to the page it came from
	resp, err = b.PostForm(f.idp.Issuer()+"/authorize", form)
	assert.NilError(t, err)
	return resp
}

func whoami(t *testing.T, b *http.Client, base string) (int, map[string]any) {
	t.Helper()
	resp, err := b.Get(base + "/api/v1/whoami")
	assert.NilError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// A person signs in with the authorization code flow and PKCE; the session cookie carries
// their identity (as the apiserver would map their claims), is refreshed when the ID token
// expires, ends when the provider stops vouching for them, and ends after MaxSessionAge.
func TestSignInRefreshAndExpiry(t *testing.T) {
	f := newAuthFixture(t, nil)
	b := f.browser(t)

	code, body := whoami(t, b, f.console.URL)
	assert.Check(t, is.Equal(code, http.StatusUnauthorized))
	assert.Check(t, is.Equal(errorCode(body), "Unauthenticated"))

	resp := f.signIn(t, b, "alice", "/api/v1/whoami")
	defer resp.Body.Close()
	assert.Equal(t, resp.StatusCode, http.StatusOK, "lands on the page it started from")
	var me map[string]any
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&me))
	assert.Check(t, is.Equal(me["user"], "alice@example.com"))
	assert.Check(t, is.DeepEqual(me["groups"], []any{"team-a"}))
	assert.Check(t, is.Equal(me["via"], "session"))

	u, _ := url.Parse(f.console.URL)
	var session *http.Cookie
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			session = c
		}
		assert.Check(t, c.Name != loginCookie, "the login cookie is spent")
	}
	assert.Assert(t, session != nil)
	assert.Check(t, !strings.Contains(session.Value, "alice"), "the cookie is encrypted")

	// the ID token expires: the next request refreshes it transparently
	f.clock.Add(6 * time.Minute)
	code, me = whoami(t, b, f.console.URL)
	assert.Check(t, is.Equal(code, http.StatusOK))
	assert.Check(t, is.Equal(me["user"], "alice@example.com"))
	var refreshes int
	for _, r := range f.idp.Requests() {
		if r.GrantType == "refresh_token" && r.Error == "" {
			refreshes++
		}
	}
	assert.Check(t, is.Equal(refreshes, 1))

	// the provider revokes her: at the next expiry the session ends
	f.idp.RevokeRefreshTokens("alice")
	f.clock.Add(6 * time.Minute)
	code, body = whoami(t, b, f.console.URL)
	assert.Check(t, is.Equal(code, http.StatusUnauthorized))
	assert.Check(t, is.Equal(errorCode(body), "Unauthenticated"))

	// a page request without a session goes to sign-in and comes back
	req, _ := http.NewRequest(http.MethodGet, f.console.URL+"/environments/pr-shop-1?x=1", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := b.Do(req)
	assert.NilError(t, err)
	resp.Body.Close()
	assert.Check(t, is.Equal(resp.StatusCode, http.StatusFound))
	assert.Check(t, is.Equal(resp.Request.URL.Path, "/auth/login"))
	assert.Check(t, strings.HasPrefix(resp.Header.Get("Location"), f.idp.Issuer()+"/authorize?"), "on to the provider")

	// a fresh sign-in works again, until the maximum session age
	resp = f.signIn(t, b, "alice", "/api/v1/whoami")
	resp.Body.Close()
	assert.Check(t, is.Equal(resp.StatusCode, http.StatusOK))
	for range 3 {
		f.clock.Add(4*time.Hour + time.Minute) // refreshing every time
		code, _ = whoami(t, b, f.console.URL)
	}
	assert.Check(t, is.Equal(code, http.StatusUnauthorized), "12h after sign-in the session ends however often it was refreshed")
}

// Actions from a cookie session need the session's CSRF token, and cross-site requests are
// refused before any handler, token or not.
func TestActionsNeedCSRF(t *testing.T) {
	f := newAuthFixture(t, nil)
	b := f.browser(t)
	resp := f.signIn(t, b, "alice", "/api/v1/whoami")
	resp.Body.Close()
	token := sessionCSRF(t, f, b)

	post := func(token, site string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, f.console.URL+"/api/v1/environments/pr-shop-1/retry", nil)
		if token != "" {
			req.Header.Set("X-CSRF-Token", token)
		}
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		resp, err := b.Do(req)
		assert.NilError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, errorCode(body)
	}
	code, kind := post("", "same-origin")
	assert.Check(t, is.Equal(code, http.StatusForbidden))
	assert.Check(t, is.Equal(kind, "CSRF"))
	code, kind = post("forged", "same-origin")
	assert.Check(t, is.Equal(code, http.StatusForbidden))
	assert.Check(t, is.Equal(kind, "CSRF"))
	code, _ = post(token, "cross-site")
	assert.Check(t, is.Equal(code, http.StatusForbidden), "cross-site requests never reach the handler")
	code, kind = post(token, "same-origin")
	assert.Check(t, is.Equal(code, http.StatusServiceUnavailable), "with the token the request reaches Kubernetes (unreachable here): %s", kind)
}

// sessionCSRF opens the session cookie as the console does, for the test to know the token the
// pages embed.
func sessionCSRF(t *testing.T, f *authFixture, b *http.Client) string {
	t.Helper()
	u, _ := url.Parse(f.console.URL)
	req := &http.Request{Header: http.Header{}}
	for _, c := range b.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	var s Session
	assert.NilError(t, f.server.jar.get(req, sessionCookie, &s))
	assert.Assert(t, s.CSRF != "")
	return s.CSRF
}

// What the sign-in refuses: a callback that does not belong to this browser's sign-in, an
// identity provider error, and an account whose groups would make it a Kubernetes system
// identity through impersonation.
func TestSignInRefusals(t *testing.T) {
	f := newAuthFixture(t, nil)

	t.Run("system groups", func(t *testing.T) {
		resp := f.signIn(t, f.browser(t), "mallory", "/")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Check(t, is.Equal(resp.StatusCode, http.StatusForbidden))
		assert.Check(t, is.Contains(string(body), `group &#34;system:masters&#34; is reserved`))
	})
	t.Run("callback without the sign-in cookie", func(t *testing.T) {
		b := f.browser(t)
		resp, err := b.Get(f.console.URL + "/auth/callback?code=x&state=y")
		assert.NilError(t, err)
		resp.Body.Close()
		assert.Check(t, is.Equal(resp.StatusCode, http.StatusBadRequest))
	})
	t.Run("state of another sign-in", func(t *testing.T) {
		b := f.browser(t)
		resp, err := b.Get(f.console.URL + "/auth/login")
		assert.NilError(t, err)
		resp.Body.Close()
		resp, err = b.Get(f.console.URL + "/auth/callback?code=x&state=forged")
		assert.NilError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Check(t, is.Equal(resp.StatusCode, http.StatusBadRequest))
		assert.Check(t, is.Contains(string(body), "does not belong to this browser"))
	})
	t.Run("provider error", func(t *testing.T) {
		b := f.browser(t)
		resp, err := b.Get(f.console.URL + "/auth/login")
		assert.NilError(t, err)
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		resp, err = b.Get(f.console.URL + "/auth/callback?error=access_denied&state=" + loc.Query().Get("state"))
		assert.NilError(t, err)
		resp.Body.Close()
		assert.Check(t, is.Equal(resp.StatusCode, http.StatusForbidden))
	})
	t.Run("no open redirect after sign-in", func(t *testing.T) {
		resp := f.signIn(t, f.browser(t), "alice", "//evil.test/x")
		resp.Body.Close()
		assert.Check(t, is.Equal(resp.Request.URL.Host, strings.TrimPrefix(f.console.URL, "http://")))
	})
}

// Programs present ID tokens: the console's audience and the configured extra ones.
func TestBearerTokens(t *testing.T) {
	f := newAuthFixture(t, func(o *Options) { o.OIDC.ExtraAudiences = []string{"previewctl"} })
	call := func(token string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, f.console.URL+"/api/v1/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		assert.NilError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	for _, aud := range []string{"console", "previewctl"} {
		tok, err := f.idp.IDToken("alice", aud)
		assert.NilError(t, err)
		code, me := call(tok)
		assert.Check(t, is.Equal(code, http.StatusOK), aud)
		assert.Check(t, is.Equal(me["user"], "alice@example.com"), aud)
		assert.Check(t, is.Equal(me["via"], "bearer"), aud)
	}
	tok, err := f.idp.IDToken("alice", "other-app")
	assert.NilError(t, err)
	code, body := call(tok)
	assert.Check(t, is.Equal(code, http.StatusUnauthorized))
	assert.Check(t, is.Contains(body["error"].(map[string]any)["message"].(string), "audience"))
	code, _ = call("not-a-jwt")
	assert.Check(t, is.Equal(code, http.StatusUnauthorized))
	f.clock.Add(time.Hour)
	tok, _ = f.idp.IDToken("alice", "console")
	f.clock.Add(time.Hour)
	code, _ = call(tok)
	assert.Check(t, is.Equal(code, http.StatusUnauthorized), "expired")
}

// Served over https, the cookies are Secure and __Host- prefixed (bound to this host).
func TestSecureCookies(t *testing.T) {
	s, err := New(Options{Kube: nowhere, PublicURL: "https://console.example.com", SessionKeys: [][]byte{[]byte(strings.Repeat("k", 32))},
		OIDC: &OIDC{IssuerURL: "https://idp.example.com", ClientID: "c", UsernameClaim: "email"}})
	assert.NilError(t, err)
	rec := httptest.NewRecorder()
	assert.NilError(t, s.jar.set(rec, httptest.NewRequest(http.MethodGet, "/", nil), sessionCookie, Session{User: "a"}, time.Hour))
	c := rec.Result().Cookies()[0]
	assert.Check(t, is.Equal(c.Name, "__Host-catalyst-session"))
	assert.Check(t, c.Secure && c.HttpOnly)
	assert.Check(t, is.Equal(c.SameSite, http.SameSiteLaxMode))
	assert.Check(t, is.Equal(c.Path, "/"))
}

// The development identity: only on loopback listeners, only for loopback Host names (DNS
// rebinding), and actions still need its CSRF token.
func TestDevelopmentIdentity(t *testing.T) {
	s, err := New(Options{Kube: nowhere, PublicURL: "http://127.0.0.1:8080", Dev: &Identity{User: "developer"}})
	assert.NilError(t, err)

	l, err := net.Listen("tcp", "0.0.0.0:0")
	assert.NilError(t, err)
	err = s.Serve(t.Context(), l)
	assert.Check(t, is.ErrorContains(err, "loopback addresses only"))
	l.Close()

	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	code, me := whoami(t, http.DefaultClient, srv.URL)
	assert.Check(t, is.Equal(code, http.StatusOK))
	assert.Check(t, is.Equal(me["user"], "developer"))

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/whoami", nil)
	req.Host = "attacker.example:80"
	resp, err := http.DefaultClient.Do(req)
	assert.NilError(t, err)
	resp.Body.Close()
	assert.Check(t, is.Equal(resp.StatusCode, http.StatusMisdirectedRequest))

	req, _ = http.NewRequest(http.MethodDelete, srv.URL+"/api/v1/environments/pr-shop-1", nil)
	resp, err = http.DefaultClient.Do(req)
	assert.NilError(t, err)
	resp.Body.Close()
	assert.Check(t, is.Equal(resp.StatusCode, http.StatusForbidden), "no CSRF token")

	_, err = New(Options{Kube: nowhere, PublicURL: "http://127.0.0.1:8080", Dev: &Identity{User: "dev", Groups: []string{"system:masters"}}})
	assert.Check(t, is.ErrorContains(err, "reserved"))
	_, err = New(Options{Kube: nowhere, PublicURL: "http://console.example.com", Dev: &Identity{User: "dev"}})
	assert.Check(t, is.ErrorContains(err, "plain http only on a loopback host"))
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "/",
		"/environments/x?run=1": "/environments/x?run=1",
		"//evil.test":           "/",
		"/\\evil.test":          "/",
		"https://evil.test/":    "/",
		"javascript:alert(1)":   "/",
	} {
		assert.Check(t, is.Equal(safeNext(in), want), in)
	}
}
