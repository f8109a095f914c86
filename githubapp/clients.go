package githubapp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/bradleyfalzon/ghinstallation/v2"
	jwt "github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v62/github"
	"go.uber.org/zap"
)

// appLevel is the guard/metrics key of calls made as the App itself (JWT)
// or, in token mode, with the static token. Installation IDs are positive.
const appLevel int64 = 0

// Clients hands out one Adapter per installation, each with its own cached
// ghinstallation transport, rate-limit memory and breaker. Safe for
// concurrent use; build one per process.
type Clients struct {
	log     *zap.Logger
	metrics *Metrics
	clock   Clock
	policy  Policy
	baseURL *url.URL

	// newTransport authenticates requests for one installation.
	newTransport func(id int64) http.RoundTripper
	// app calls /app endpoints with the App JWT; nil in token mode.
	app      *github.Client
	appGuard *guard
	token    string // token mode only

	mu       sync.Mutex
	adapters map[int64]*Adapter
	botLogin string // cached once known
}

// NewApp builds clients that authenticate as a GitHub App: a JWT for
// app-level calls, and a cached installation token per installation.
func NewApp(cfg AppConfig, log *zap.Logger, m *Metrics) (*Clients, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("github app config: %w", err)
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(cfg.PrivateKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("github app config: parse private key: %w", err)
	}
	c, err := newClients(cfg.BaseURL, cfg.Transport, cfg.Clock, cfg.Policy, log, m)
	if err != nil {
		return nil, err
	}
	tr := c.countingTransport(cfg.Transport)
	root := strings.TrimSuffix(c.baseURL.String(), "/") // ghinstallation appends "/app/..."
	appsTransport := func() *ghinstallation.AppsTransport {
		atr := ghinstallation.NewAppsTransportFromPrivateKey(tr, cfg.AppID, key)
		atr.BaseURL = root
		return atr
	}
	c.app = c.newGitHubClient(appsTransport())
	c.newTransport = func(id int64) http.RoundTripper {
		// Each installation gets its own AppsTransport: ghinstallation
		// writes to it while refreshing, so sharing one would race.
		itr := ghinstallation.NewFromAppsTransport(appsTransport(), id)
		itr.BaseURL = root
		return itr
	}
	return c, nil
}

// NewTokenClients builds development clients around one static token.
// ForInstallation returns the same pseudo-installation (ID 0) for any ID.
func NewTokenClients(cfg TokenConfig, log *zap.Logger, m *Metrics) (*Clients, error) {
	if cfg.Token == "" {
		return nil, fmt.Errorf("github token config: Token is empty")
	}
	c, err := newClients(cfg.BaseURL, cfg.Transport, cfg.Clock, cfg.Policy, log, m)
	if err != nil {
		return nil, err
	}
	c.token = cfg.Token
	tr := &tokenTransport{token: cfg.Token, next: c.countingTransport(cfg.Transport)}
	c.newTransport = func(int64) http.RoundTripper { return tr }
	return c, nil
}

func newClients(rawBase string, tr http.RoundTripper, clock Clock, p Policy, log *zap.Logger, m *Metrics) (*Clients, error) {
	base, err := parseBaseURL(rawBase)
	if err != nil {
		return nil, fmt.Errorf("github config: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	c := &Clients{
		log:      log.Named("github"),
		metrics:  m,
		clock:    clockOrReal(clock),
		policy:   p.withDefaults(),
		baseURL:  base,
		adapters: map[int64]*Adapter{},
	}
	c.appGuard = newGuard(appLevel, c.clock, c.policy, c.log, m)
	return c, nil
}

func (c *Clients) countingTransport(tr http.RoundTripper) http.RoundTripper {
	return &countingTransport{next: baseTransport(tr), basePath: c.baseURL.Path, metrics: c.metrics}
}

func (c *Clients) newGitHubClient(tr http.RoundTripper) *github.Client {
	gh := github.NewClient(&http.Client{Transport: tr, Timeout: c.policy.RequestTimeout})
	u := *c.baseURL
	gh.BaseURL = &u
	return gh
}

func (c *Clients) tokenMode() bool { return c.app == nil }

// TokenMode is true when GitHub is reached with a token rather than as a GitHub App: check
// runs cannot be written then (GitHub takes them from Apps only).
func (c *Clients) TokenMode() bool { return c.tokenMode() }

// ForInstallation returns the Adapter of an installation, creating and
// caching it (and its token transport) on first use.
func (c *Clients) ForInstallation(id int64) (*Adapter, error) {
	if c.tokenMode() {
		id = appLevel
	} else if id <= 0 {
		return nil, fmt.Errorf("github installation ID %d: must be positive", id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.adapters[id]; ok {
		return a, nil
	}
	g := c.appGuard
	if !c.tokenMode() {
		g = newGuard(id, c.clock, c.policy, c.log, c.metrics)
	}
	a := &Adapter{
		installationID: id,
		gh:             c.newGitHubClient(c.newTransport(id)),
		guard:          g,
		clients:        c,
		log:            c.log.With(zap.Int64("installation", id)),
	}
	c.adapters[id] = a
	return a, nil
}

// InstallationFor finds the installation of a repository (App JWT call), for
// work that starts without a webhook, such as the periodic resync. In token
// mode it returns 0, the pseudo-installation.
func (c *Clients) InstallationFor(ctx context.Context, owner, repo string) (int64, error) {
	if c.tokenMode() {
		return appLevel, nil
	}
	var inst *github.Installation
	err := c.appGuard.do(ctx, "find repository installation", func(ctx context.Context) (r *github.Response, err error) {
		inst, r, err = c.app.Apps.FindRepositoryInstallation(ctx, owner, repo)
		return r, err
	})
	if err != nil {
		return 0, fmt.Errorf("%s/%s: %w", owner, repo, err)
	}
	return inst.GetID(), nil
}

// tokenTransport adds a static token, for development mode.
type tokenTransport struct {
	token string
	next  http.RoundTripper
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.next.RoundTrip(r)
}
