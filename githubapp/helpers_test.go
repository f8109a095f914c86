package githubapp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jwt "github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v62/github"
	"github.com/prometheus/client_golang/prometheus"
	"gotest.tools/v3/assert"

	"github.com/catalyst-preview/catalyst/githubapp/fakeclock"
)

const (
	testAppID = 4242
	testSlug  = "catalyst-test"
	testBot   = testSlug + "[bot]"
	// basePath mounts the API like GitHub Enterprise so the prefix handling
	// of go-github and ghinstallation is exercised too.
	basePath = "/api/v3"
)

// epoch starts the fake clock in the past on purpose: go-github keeps its
// own copy of the rate-limit reset and compares it with the wall clock, so
// resets computed from a past fake clock never block go-github itself and
// the adapter's guard (on the fake clock) is what the tests observe.
var epoch = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

var appKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func appKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(appKey())})
}

// fixture is an httptest GitHub mounted like the real API (go-github's
// setup pattern): tests add handlers to mux with literal paths; anything
// else fails the test. It plays the App side: token exchange (JWT checked
// against the App public key) and GET /app.
type fixture struct {
	t       *testing.T
	mux     *http.ServeMux
	server  *httptest.Server
	clock   *fakeclock.Clock
	reg     *prometheus.Registry
	clients *Clients

	mu        sync.Mutex
	requests  []string         // "METHOD /path" as received, without basePath
	tokens    map[string]int64 // issued installation token → installation ID
	exchanges map[int64]int
	tokenBody map[int64]github.InstallationTokenOptions
}

type setupOption func(*AppConfig)

func withPolicy(p Policy) setupOption { return func(c *AppConfig) { c.Policy = p } }

func setup(t *testing.T, opts ...setupOption) *fixture {
	t.Helper()
	f := &fixture{
		t:         t,
		mux:       http.NewServeMux(),
		clock:     fakeclock.New(epoch),
		reg:       prometheus.NewRegistry(),
		tokens:    map[string]int64{},
		exchanges: map[int64]int{},
		tokenBody: map[int64]github.InstallationTokenOptions{},
	}
	f.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	})
	f.mux.HandleFunc("POST /app/installations/{id}/access_tokens", f.exchangeToken)
	f.mux.HandleFunc("GET /app", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, http.StatusOK, &github.App{ID: github.Int64(testAppID), Slug: github.String(testSlug)})
	})

	root := http.NewServeMux()
	root.Handle(basePath+"/", http.StripPrefix(basePath, http.HandlerFunc(f.serve)))
	root.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the API root: %s %s", r.Method, r.URL)
		http.Error(w, "outside API root", http.StatusNotFound)
	})
	f.server = httptest.NewServer(root)
	t.Cleanup(f.server.Close)

	cfg := AppConfig{
		AppID:         testAppID,
		PrivateKeyPEM: appKeyPEM(),
		BaseURL:       f.server.URL + basePath + "/",
		Clock:         f.clock,
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := NewApp(cfg, nil, NewMetrics(f.reg))
	assert.NilError(t, err)
	f.clients = c
	return f
}

// serve records the request and checks its credentials like GitHub: the
// App JWT on /app routes, an issued installation token elsewhere.
func (f *fixture) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	auth := r.Header.Get("Authorization")
	// App-level routes take the App JWT, like GitHub.
	if strings.HasPrefix(r.URL.Path, "/app") || strings.HasSuffix(r.URL.Path, "/installation") {
		if err := verifyJWT(strings.TrimPrefix(auth, "Bearer ")); err != nil {
			f.t.Errorf("bad app JWT on %s: %v", r.URL.Path, err)
			writeJSON(f.t, w, http.StatusUnauthorized, map[string]string{"message": "A JSON web token could not be decoded"})
			return
		}
	} else {
		f.mu.Lock()
		_, ok := f.tokens[strings.TrimPrefix(auth, "token ")]
		f.mu.Unlock()
		if !ok {
			f.t.Errorf("bad installation token on %s: %q", r.URL.Path, auth)
			writeJSON(f.t, w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
			return
		}
	}
	f.mux.ServeHTTP(w, r)
}

func verifyJWT(raw string) error {
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return &appKey().PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		return err
	}
	if claims.Issuer != strconv.Itoa(testAppID) {
		return fmt.Errorf("issuer %q, want the App ID", claims.Issuer)
	}
	return nil
}

func (f *fixture) exchangeToken(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	assert.NilError(f.t, err)
	var opts github.InstallationTokenOptions
	if r.ContentLength != 0 {
		assert.NilError(f.t, json.NewDecoder(r.Body).Decode(&opts))
	}
	f.mu.Lock()
	f.exchanges[id]++
	tok := fmt.Sprintf("ghs_test_%d_%d", id, f.exchanges[id])
	f.tokens[tok] = id
	f.tokenBody[id] = opts
	f.mu.Unlock()
	// ghinstallation judges expiry with the wall clock, not the fake one.
	writeJSON(f.t, w, http.StatusCreated, &github.InstallationToken{
		Token:     github.String(tok),
		ExpiresAt: &github.Timestamp{Time: time.Now().Add(time.Hour)},
	})
}

func (f *fixture) adapter(id int64) *Adapter {
	f.t.Helper()
	a, err := f.clients.ForInstallation(id)
	assert.NilError(f.t, err)
	return a
}

// count returns how many requests matched "METHOD /path" exactly.
func (f *fixture) count(req string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if r == req {
			n++
		}
	}
	return n
}

// apiRequests counts requests other than the App's own (token, /app).
func (f *fixture) apiRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if !strings.Contains(r, " /app") {
			n++
		}
	}
	return n
}

func writeJSON(t *testing.T, w http.ResponseWriter, status int, v any) {
	t.Helper()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	assert.NilError(t, json.NewEncoder(w).Encode(v))
}

// paginate slices n items by the request's page/per_page (GitHub defaults)
// and sets a Link header like GitHub's.
func paginate(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 || per > 100 {
		per = 30
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page <= 0 {
		page = 1
	}
	last := max(1, (n+per-1)/per)
	link := func(p int, rel string) string {
		u := url.URL{Scheme: "http", Host: r.Host, Path: basePath + r.URL.Path}
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(per))
		u.RawQuery = q.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min((page-1)*per, n)
	return lo, min(lo+per, n)
}

// rateHeaders sets GitHub's rate-limit headers with a reset on the fake clock.
func rateHeaders(w http.ResponseWriter, remaining int, reset time.Time) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(5000-remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}
