package ghsim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Clock is the simulator's notion of now: token expiry, rate-limit windows,
// timed faults and timestamps. githubapp/fakeclock satisfies it.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Options configure a simulator. Zero values take the defaults shown.
type Options struct {
	AppID   int64  // 1
	AppSlug string // "catalyst-preview"; the bot login is AppSlug+"[bot]"
	// PrivateKeyPEM is the App key; empty means a key generated once per
	// process and shared by all simulators (generation is slow).
	PrivateKeyPEM []byte
	WebhookURL    string // where webhooks go; may be set later with SetWebhookURL
	WebhookSecret string // HMAC secret for X-Hub-Signature-256; "ghsim-secret"
	RateLimit     int    // requests per hour per installation; 5000
	TokenTTL      time.Duration
	Clock         Clock
	Addr          string // listen address; "127.0.0.1:0" (a free port)
	Logger        *zap.Logger
	// WebhookTimeout is how long a delivery waits for the receiver's answer;
	// GitHub gives up after 10 seconds, the default.
	WebhookTimeout time.Duration
}

// Sim is a running simulator. All methods are safe for concurrent use.
type Sim struct {
	opts   Options
	key    *rsa.PrivateKey
	keyPEM []byte
	clock  Clock
	log    *zap.Logger
	srv    *httptest.Server
	routes []route
	hook   *http.Client

	mu            sync.Mutex
	nextID        int64
	users         map[string]*userRec
	installations map[int64]*installation
	byOwner       map[string]*installation
	repos         map[string]*repoRec // by "owner/name"
	tokens        map[string]*token
	userRates     map[string]*bucket // personal access tokens' budgets, by login
	calls         []Call
	observers     []func(Call)
	faults        faults
	webhooks      webhookState
}

var sharedKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// New starts a simulator on a loopback port.
func New(o Options) (*Sim, error) {
	if o.AppID == 0 {
		o.AppID = 1
	}
	if o.AppSlug == "" {
		o.AppSlug = "catalyst-preview"
	}
	if o.WebhookSecret == "" {
		o.WebhookSecret = "ghsim-secret"
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 5000
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = 10 * time.Second
	}
	s := &Sim{
		opts:          o,
		clock:         o.Clock,
		log:           o.Logger.Named("ghsim"),
		hook:          &http.Client{Timeout: o.WebhookTimeout},
		nextID:        1000,
		users:         map[string]*userRec{},
		installations: map[int64]*installation{},
		byOwner:       map[string]*installation{},
		repos:         map[string]*repoRec{},
		tokens:        map[string]*token{},
	}
	if err := s.loadKey(o.PrivateKeyPEM); err != nil {
		return nil, err
	}
	s.webhooks.url = o.WebhookURL
	s.routes = s.routeTable()
	l, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("ghsim: listen on %s: %w", o.Addr, err)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	s.log.Info("github simulator started", zap.String("url", s.URL()), zap.Int64("app_id", o.AppID))
	return s, nil
}

func (s *Sim) loadKey(p []byte) error {
	if len(p) == 0 {
		k, err := sharedKey()
		if err != nil {
			return fmt.Errorf("ghsim: generate app key: %w", err)
		}
		s.key = k
		s.keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
		return nil
	}
	b, _ := pem.Decode(p)
	if b == nil {
		return fmt.Errorf("ghsim: app key: no PEM block")
	}
	k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
	if err != nil {
		return fmt.Errorf("ghsim: app key: %w", err)
	}
	s.key, s.keyPEM = k, p
	return nil
}

// Close stops the server.
func (s *Sim) Close() { s.srv.Close() }

// URL is the REST root without a trailing slash, e.g. http://127.0.0.1:PORT.
// Clients take URL()+"/" as their base URL.
func (s *Sim) URL() string { return s.srv.URL }

// AppID is the simulated App's ID.
func (s *Sim) AppID() int64 { return s.opts.AppID }

// PrivateKeyPEM is the App private key clients sign their JWT with.
func (s *Sim) PrivateKeyPEM() []byte { return append([]byte(nil), s.keyPEM...) }

// WebhookSecret is the secret webhooks are signed with.
func (s *Sim) WebhookSecret() []byte { return []byte(s.opts.WebhookSecret) }

// BotLogin is the author of what the App writes, "{slug}[bot]".
func (s *Sim) BotLogin() string { return s.opts.AppSlug + "[bot]" }

func (s *Sim) now() time.Time { return s.clock.Now() }

// newIDLocked hands out unique IDs for every kind of object, like GitHub's
// global ID space.
func (s *Sim) newIDLocked() int64 {
	s.nextID++
	return s.nextID
}

func (s *Sim) apiURL(format string, args ...any) string {
	return s.URL() + fmt.Sprintf(format, args...)
}

// htmlURL builds the github.com-style page link of an object. The simulator
// does not serve pages; the links exist for the shapes and the demo output.
func (s *Sim) htmlURL(format string, args ...any) string {
	return s.URL() + "/html" + fmt.Sprintf(format, args...)
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
