package kubelogin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/catalyst-preview/catalyst/e2e/oidcsim"
)

const clientID = "previewctl"

func newIssuer(t *testing.T, o oidcsim.Options) (*oidcsim.Provider, Provider) {
	t.Helper()
	o.Users = append(o.Users, oidcsim.User{Name: "alice", Groups: []string{"team-a"}}, oidcsim.User{Name: "bob"})
	o.Clients = append(o.Clients, oidcsim.Client{ID: clientID})
	op, err := oidcsim.New(o)
	assert.NilError(t, err)
	t.Cleanup(op.Close)
	ca := filepath.Join(t.TempDir(), "issuer-ca.pem")
	assert.NilError(t, os.WriteFile(ca, op.CAPEM(), 0o600))
	return op, Provider{Issuer: op.Issuer(), ClientID: clientID, CAFile: ca}
}

// clock is the provider's and the cache's time, moved forward by tests.
type clock struct {
	mu    sync.Mutex
	shift time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.shift)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shift += d
}

// browseAs is a browser in which user is signed in at the provider: it follows the
// authorization URL through the provider's redirect to previewctl's loopback callback.
func browseAs(op *oidcsim.Provider, user string) func(string) error {
	return func(authURL string) error {
		resp, err := op.HTTPClient().Get(authURL + "&login_hint=" + user)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("callback answered %s: %s", resp.Status, body)
		}
		return nil
	}
}

// an admin kubeconfig as a cluster installer would leave it
func adminKubeconfig(t *testing.T) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443"}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "admin-token"}
	cfg.Contexts["admin"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin", Namespace: "team-a"}
	cfg.CurrentContext = "admin"
	path := filepath.Join(t.TempDir(), "config")
	assert.NilError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// The browser flow signs alice in, and the kubeconfig gains a user whose exec plugin is
// `previewctl token` with the same provider, and a current context on the same cluster and
// namespace; the admin entries are untouched.
func TestLoginBrowserWritesKubeconfig(t *testing.T) {
	op, p := newIssuer(t, oidcsim.Options{})
	kc := adminKubeconfig(t)
	var out bytes.Buffer
	cache := Cache{Dir: t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	name, err := Login(ctx, LoginOptions{
		Provider:   p,
		Browser:    BrowserOptions{Open: browseAs(op, "alice")},
		Cache:      cache,
		Kubeconfig: KubeconfigOptions{Path: kc, Command: "/usr/local/bin/previewctl"},
		Out:        &out,
	})
	assert.NilError(t, err, out.String())
	assert.Check(t, is.Equal(name, "oidc@local"))
	assert.Check(t, is.Contains(out.String(), "Signed in as alice@example.com"))

	cfg, err := clientcmd.LoadFromFile(kc)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(cfg.CurrentContext, "oidc@local"))
	ctxt := cfg.Contexts["oidc@local"]
	assert.Assert(t, ctxt != nil)
	assert.Check(t, is.Equal(ctxt.Cluster, "local"))
	assert.Check(t, is.Equal(ctxt.AuthInfo, "oidc"))
	assert.Check(t, is.Equal(ctxt.Namespace, "team-a"))
	exec := cfg.AuthInfos["oidc"].Exec
	assert.Assert(t, exec != nil)
	assert.Check(t, is.Equal(exec.APIVersion, "client.authentication.k8s.io/v1"))
	assert.Check(t, is.Equal(exec.Command, "/usr/local/bin/previewctl"))
	assert.Check(t, is.DeepEqual(exec.Args, []string{"token", "--issuer=" + op.Issuer(), "--client-id=previewctl", "--certificate-authority=" + p.CAFile}))
	assert.Check(t, is.Equal(exec.InteractiveMode, clientcmdapi.NeverExecInteractiveMode))
	assert.Check(t, is.Equal(cfg.AuthInfos["admin"].Token, "admin-token"), "the admin user is kept")

	// the exec plugin answers from the cache, without asking the provider again
	before := len(op.Requests())
	var cred bytes.Buffer
	assert.NilError(t, RunToken(t.Context(), append(exec.Args[1:], "--token-cache-dir="+cache.Dir), &cred))
	var ec clientauthv1.ExecCredential
	assert.NilError(t, json.Unmarshal(cred.Bytes(), &ec))
	assert.Check(t, is.Equal(ec.APIVersion, "client.authentication.k8s.io/v1"))
	assert.Check(t, is.Equal(ec.Kind, "ExecCredential"))
	assert.Assert(t, ec.Status != nil && ec.Status.ExpirationTimestamp != nil)
	assert.Check(t, ec.Status.Token != "")
	assert.Check(t, ec.Status.ExpirationTimestamp.After(time.Now()))
	assert.Check(t, is.Len(op.Requests(), before))
}

// A callback that does not carry previewctl's state (another tab, a forged link) is turned
// away and the sign-in goes on; a refusal from the provider ends it with the provider's words.
func TestLoginBrowserHostileCallbacks(t *testing.T) {
	op, p := newIssuer(t, oidcsim.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var forged, refused int
	_, err := Login(ctx, LoginOptions{
		Provider: p,
		Browser: BrowserOptions{Open: func(authURL string) error {
			u := callbackOf(t, authURL)
			resp, err := http.Get(u + "?code=stolen&state=not-ours")
			assert.NilError(t, err)
			resp.Body.Close()
			forged = resp.StatusCode
			return browseAs(op, "alice")(authURL)
		}},
		Cache:      Cache{Dir: t.TempDir()},
		Kubeconfig: KubeconfigOptions{Path: adminKubeconfig(t), Command: "previewctl"},
	})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(forged, http.StatusBadRequest))

	_, err = Login(ctx, LoginOptions{
		Provider: p,
		Browser: BrowserOptions{Open: func(authURL string) error {
			state := regexp.MustCompile(`state=([0-9a-f]+)`).FindStringSubmatch(authURL)[1]
			resp, err := http.Get(callbackOf(t, authURL) + "?error=access_denied&error_description=not+in+the+allowed+group&state=" + state)
			assert.NilError(t, err)
			resp.Body.Close()
			refused = resp.StatusCode
			return nil
		}},
		Cache:      Cache{Dir: t.TempDir()},
		Kubeconfig: KubeconfigOptions{Path: adminKubeconfig(t), Command: "previewctl"},
	})
	assert.Check(t, is.ErrorContains(err, "the provider refused the sign-in: access_denied not in the allowed group"))
	assert.Check(t, is.Equal(refused, http.StatusBadRequest))
}

func callbackOf(t *testing.T, authURL string) string {
	t.Helper()
	m := regexp.MustCompile(`redirect_uri=([^&]+)`).FindStringSubmatch(authURL)
	assert.Assert(t, m != nil, authURL)
	u, err := url.QueryUnescape(m[1])
	assert.NilError(t, err)
	return u
}

// `previewctl login --device` prints a code; once the person approves it, the kubeconfig is
// written as with the browser.
func TestRunLoginDevice(t *testing.T) {
	op, p := newIssuer(t, oidcsim.Options{})
	kc := adminKubeconfig(t)
	cacheDir := t.TempDir()
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- RunLogin(t.Context(), []string{"--device", "--issuer=" + p.Issuer, "--client-id=" + p.ClientID,
			"--certificate-authority=" + p.CAFile, "--kubeconfig=" + kc, "--token-cache-dir=" + cacheDir, "--timeout=30s"}, w)
		w.Close()
	}()
	var printed bytes.Buffer
	sc := bufio.NewScanner(r)
	approved := false
	for sc.Scan() {
		printed.WriteString(sc.Text() + "\n")
		if m := regexp.MustCompile(`approve the code (\S+)`).FindStringSubmatch(sc.Text()); m != nil && !approved {
			assert.NilError(t, op.ApproveDevice(m[1], "bob"))
			approved = true
		}
	}
	assert.NilError(t, <-done, printed.String())
	assert.Check(t, approved, printed.String())
	assert.Check(t, is.Contains(printed.String(), "Signed in as bob@example.com"))
	cfg, err := clientcmd.LoadFromFile(kc)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(cfg.CurrentContext, "oidc@local"))
	assert.Check(t, is.Contains(cfg.AuthInfos["oidc"].Exec.Args, "--token-cache-dir="+cacheDir))
}

// Bad input fails before anything is written, saying what is wrong.
func TestRunLoginBadInput(t *testing.T) {
	_, p := newIssuer(t, oidcsim.Options{})
	kc := adminKubeconfig(t)
	before, err := os.ReadFile(kc)
	assert.NilError(t, err)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no issuer", []string{"--client-id=x"}, "the issuer URL is required (--issuer)"},
		{"no client", []string{"--issuer=" + p.Issuer}, "the client ID is required (--client-id)"},
		{"not loopback", []string{"--issuer=" + p.Issuer, "--client-id=previewctl", "--certificate-authority=" + p.CAFile, "--listen-address=0.0.0.0:0"}, "loopback addresses only"},
		{"untrusted issuer", []string{"--issuer=" + p.Issuer, "--client-id=previewctl"}, "certificate signed by unknown authority"},
		{"no such CA file", []string{"--issuer=" + p.Issuer, "--client-id=previewctl", "--certificate-authority=/nonexistent.pem"}, "issuer CA"},
		{"stray argument", []string{"--issuer=" + p.Issuer, "--client-id=previewctl", "extra"}, "login takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := RunLogin(t.Context(), append(tc.args, "--kubeconfig="+kc, "--token-cache-dir="+t.TempDir(), "--timeout=10s"), io.Discard)
			assert.Check(t, is.ErrorContains(err, tc.want))
			after, _ := os.ReadFile(kc)
			assert.Check(t, bytes.Equal(before, after), "the kubeconfig is unchanged")
		})
	}
}

func TestWriteKubeconfigUnknownCluster(t *testing.T) {
	kc := adminKubeconfig(t)
	before, _ := os.ReadFile(kc)
	_, err := WriteKubeconfig(Provider{Issuer: "https://id.example", ClientID: "x"}, KubeconfigOptions{Path: kc, Cluster: "elsewhere", Command: "previewctl"})
	assert.Check(t, is.ErrorContains(err, `has no cluster "elsewhere"`))
	after, _ := os.ReadFile(kc)
	assert.Check(t, bytes.Equal(before, after))

	// a missing kubeconfig is created with the user alone (no cluster to point a context at)
	fresh := filepath.Join(t.TempDir(), "sub", "config")
	name, err := WriteKubeconfig(Provider{Issuer: "https://id.example", ClientID: "x"}, KubeconfigOptions{Path: fresh, Command: "previewctl"})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(name, ""))
	cfg, err := clientcmd.LoadFromFile(fresh)
	assert.NilError(t, err)
	assert.Check(t, cfg.AuthInfos["oidc"] != nil && cfg.AuthInfos["oidc"].Exec != nil)
	st, err := os.Stat(fresh)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Mode().Perm(), os.FileMode(0o600)))
}

// The cache answers while the ID token has more than a minute left, refreshes it (once, and
// keeps the rotated refresh token) when it has less, and sends the person to `previewctl login`
// when the refresh is refused or there is nothing to refresh.
func TestCacheToken(t *testing.T) {
	clk := &clock{}
	op, p := newIssuer(t, oidcsim.Options{IDTokenTTL: 10 * time.Minute, Now: clk.Now})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cache := Cache{Dir: t.TempDir(), Now: clk.Now}
	_, err := Login(ctx, LoginOptions{Provider: p, Browser: BrowserOptions{Open: browseAs(op, "alice")}, Cache: cache,
		Kubeconfig: KubeconfigOptions{Path: adminKubeconfig(t), Command: "previewctl"}})
	assert.NilError(t, err)
	refreshes := func() (ok, failed int) {
		for _, r := range op.Requests() {
			if r.GrantType == "refresh_token" {
				if r.Error == "" {
					ok++
				} else {
					failed++
				}
			}
		}
		return
	}
	clk.Advance(8 * time.Minute)
	first, err := cache.Token(ctx, p)
	assert.NilError(t, err)
	ok, _ := refreshes()
	assert.Check(t, is.Equal(ok, 0), "a token with 2 minutes left is served from the cache")

	clk.Advance(90 * time.Second)
	second, err := cache.Token(ctx, p)
	assert.NilError(t, err)
	ok, _ = refreshes()
	assert.Check(t, is.Equal(ok, 1), "a token with 30 seconds left is refreshed")
	assert.Check(t, second.IDToken != first.IDToken)
	assert.Check(t, second.Expiry.After(first.Expiry))
	assert.Check(t, second.RefreshToken != first.RefreshToken, "the rotated refresh token is kept")
	third, err := cache.Token(ctx, p)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(third.IDToken, second.IDToken), "the refreshed token is cached")
	ok, _ = refreshes()
	assert.Check(t, is.Equal(ok, 1))

	op.RevokeRefreshTokens("alice")
	clk.Advance(time.Hour)
	_, err = cache.Token(ctx, p)
	assert.Check(t, is.ErrorContains(err, "cannot be renewed"))
	assert.Check(t, is.ErrorContains(err, "run previewctl login --issuer="+p.Issuer+" --client-id=previewctl"))

	_, err = Cache{Dir: t.TempDir()}.Token(ctx, p)
	assert.Check(t, is.ErrorContains(err, "not signed in with "+p.Issuer+": run previewctl login"))

	damaged := Cache{Dir: t.TempDir()}
	assert.NilError(t, os.WriteFile(damaged.file(p), []byte("{not json"), 0o600))
	_, err = damaged.Token(ctx, p)
	assert.Check(t, is.ErrorContains(err, "not signed in"))
}

// Many kubectl processes needing a refresh at once spend the (rotating) refresh token once:
// the others wait on the lock and find the refreshed token. Without the lock all but one would
// be refused with invalid_grant.
func TestCacheConcurrentRefresh(t *testing.T) {
	clk := &clock{}
	op, p := newIssuer(t, oidcsim.Options{Now: clk.Now})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	later := Cache{Dir: t.TempDir(), Now: clk.Now}
	_, err := Login(ctx, LoginOptions{Provider: p, Browser: BrowserOptions{Open: browseAs(op, "alice")}, Cache: later,
		Kubeconfig: KubeconfigOptions{Path: adminKubeconfig(t), Command: "previewctl"}})
	assert.NilError(t, err)
	clk.Advance(9*time.Minute + 30*time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	tokens := make([]string, 8)
	for i := range errs {
		wg.Go(func() {
			t, err := later.Token(ctx, p)
			errs[i] = err
			if err == nil {
				tokens[i] = t.IDToken
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		assert.Check(t, err, "caller %d", i)
		assert.Check(t, is.Equal(tokens[i], tokens[0]))
	}
	var grants []oidcsim.Request
	for _, r := range op.Requests() {
		if r.GrantType == "refresh_token" {
			grants = append(grants, r)
		}
	}
	assert.Check(t, is.Len(grants, 1))
}
