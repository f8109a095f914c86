// Package console is Catalyst Preview's web console and JSON API: server-rendered pages over
// the shared query layer (preview/), live logs over Server-Sent Events, OpenID Connect sign-in,
// and every Kubernetes call made as the signed-in user (impersonation), so that Kubernetes RBAC
// alone decides what each person sees and may do.
package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/catalyst-preview/catalyst/preview"
)

// Options configure a Server.
type Options struct {
	// Kube is the console's own Kubernetes configuration: a ServiceAccount that may only
	// impersonate users and groups.
	Kube *rest.Config
	// PublicURL is where people reach the console (https://console.example.com); it makes the
	// sign-in redirect URL and decides Secure cookies. http is accepted for loopback hosts only.
	PublicURL string
	// OIDC signs people in; nil only with Dev.
	OIDC *OIDC
	// SessionKeys seal the session cookies (at least 32 bytes each); the first seals, all
	// open, so a new key goes first and the old one stays until sessions have turned over.
	SessionKeys [][]byte
	// MaxSessionAge ends a session however often it was refreshed; 12h when zero.
	MaxSessionAge time.Duration
	// Dev, when set, is a development identity every request acts as, without signing in. The
	// console then serves loopback addresses only (see Serve) and answers only requests that
	// name a loopback host.
	Dev *Identity
	// SystemNamespace holds the trigger's pending records (explain); preview's default when empty.
	SystemNamespace string
	// ListRefresh is how often the list page refreshes itself (with JavaScript); 15s when zero.
	ListRefresh time.Duration
	// LogLines is how many lines a log page keeps in the browser; 5,000 when zero.
	LogLines int
	// ClientsFor builds the Kubernetes clients acting as an identity; nil: impersonation with
	// Kube (tests give fakes).
	ClientsFor func(Identity) (Clients, error)
	// Metrics, when set, is served at /metrics without authentication.
	Metrics http.Handler
	Log     *zap.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Server serves the console. Its handler is built once by New.
type Server struct {
	o       Options
	log     *zap.Logger
	auth    *oidcAuth // nil in development mode
	jar     cookieJar
	devCSRF string
	mux     *http.ServeMux
	pages   *pages
	ready   kubernetes.Interface
}

// New checks the options and builds the server.
func New(o Options) (*Server, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSessionAge == 0 {
		o.MaxSessionAge = 12 * time.Hour
	}
	if o.ListRefresh == 0 {
		o.ListRefresh = 15 * time.Second
	}
	if o.LogLines == 0 {
		o.LogLines = 5000
	}
	if o.Kube == nil {
		return nil, errors.New("console: no Kubernetes configuration")
	}
	pub, err := url.Parse(o.PublicURL)
	if err != nil || (pub.Scheme != "https" && pub.Scheme != "http") || pub.Host == "" {
		return nil, fmt.Errorf("console: public URL %q must be an absolute http(s) URL", o.PublicURL)
	}
	if pub.Scheme == "http" && !loopbackHost(pub.Host) {
		return nil, fmt.Errorf("console: public URL %s: plain http only on a loopback host; serve the console over https", o.PublicURL)
	}
	if o.ClientsFor == nil {
		imp, err := NewImpersonator(o.Kube)
		if err != nil {
			return nil, err
		}
		o.ClientsFor = imp.Clients
	}
	ready, err := kubernetes.NewForConfig(o.Kube)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	s := &Server{o: o, log: o.Log, ready: ready}
	switch {
	case o.Dev != nil && o.OIDC != nil:
		return nil, errors.New("console: a development identity and OIDC sign-in exclude each other")
	case o.Dev != nil:
		if err := o.Dev.Validate(); err != nil {
			return nil, fmt.Errorf("console: development identity: %w", err)
		}
		s.devCSRF = randomToken()
	case o.OIDC == nil:
		return nil, errors.New("console: OIDC sign-in is required (or a development identity on loopback)")
	default:
		if o.OIDC.IssuerURL == "" || o.OIDC.ClientID == "" || o.OIDC.UsernameClaim == "" {
			return nil, errors.New("console: OIDC needs an issuer URL, a client ID and a username claim")
		}
		sealer, err := newSealer(o.SessionKeys)
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		s.jar = cookieJar{sealer: sealer, secure: pub.Scheme == "https"}
		s.auth = &oidcAuth{o: *o.OIDC, jar: s.jar, maxAge: o.MaxSessionAge, now: o.Now, log: o.Log,
			redirectURL: strings.TrimSuffix(o.PublicURL, "/") + "/auth/callback"}
	}
	if s.pages, err = newPages(o); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// Handler is the whole console: pages, API, sign-in, static assets, health endpoints.
func (s *Server) Handler() http.Handler {
	var h http.Handler = s.mux
	// Browsers say where a request comes from (Sec-Fetch-Site, Origin): a cross-site form post
	// or fetch never reaches a handler, whatever the cookie's SameSite did.
	h = http.NewCrossOriginProtection().Handler(h)
	if s.o.Dev != nil {
		h = loopbackOnly(h)
	}
	return securityHeaders(h)
}

// Handle registers h at pattern behind authentication (a session, a bearer ID token, or the
// development identity): h finds the caller with IdentityOf and acts with Clients. Actions
// from a cookie session must carry the session's CSRF token (form field "csrf" or header
// X-CSRF-Token); bearer requests need none. The MCP endpoint mounts here.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.Authenticated(h))
}

// Clients returns Kubernetes clients acting as the caller of r (see Handle).
func (s *Server) Clients(r *http.Request) (Clients, error) {
	c := callerOf(r)
	if c == nil {
		return Clients{}, errors.New("console: request is not authenticated")
	}
	return s.o.ClientsFor(c.Identity)
}

// Preview is the query layer acting as the caller of r: what every page, the JSON API and a
// handler mounted with Handle (the MCP endpoint) call.
func (s *Server) Preview(r *http.Request) (*preview.Client, error) {
	c, err := s.Clients(r)
	if err != nil {
		return nil, err
	}
	return preview.New(preview.Clients{Kube: c.Kube, Tekton: c.Tekton}, preview.Options{
		SystemNamespace: s.o.SystemNamespace, Actor: callerOf(r).User, Now: s.o.Now,
	}), nil
}

// Authenticated runs h for authenticated requests only. A page request without a session goes
// to sign-in and comes back; an API request gets 401 with the error shape.
func (s *Server) Authenticated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.authenticate(w, r)
		if err != nil {
			writeError(w, r, http.StatusUnauthorized, "Unauthenticated", err.Error())
			return
		}
		if c == nil {
			if wantsHTML(r) && r.Method == http.MethodGet {
				http.Redirect(w, r, "/auth/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
				return
			}
			writeError(w, r, http.StatusUnauthorized, "Unauthenticated", "sign in first, or send an ID token as a bearer token")
			return
		}
		if !safeMethod(r.Method) && c.CSRF != "" {
			token := r.Header.Get("X-CSRF-Token")
			if token == "" {
				token = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(token), []byte(c.CSRF)) != 1 {
				writeError(w, r, http.StatusForbidden, "CSRF", "the form is stale or did not come from the console: reload the page and try again")
				return
			}
		}
		h.ServeHTTP(w, r.WithContext(withCaller(r.Context(), c)))
	})
}

// authenticate finds the caller: the development identity, a bearer ID token, or the session
// cookie (refreshed when due). It returns nil, nil when there is no credential at all, and an
// error for a credential that does not verify.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*caller, error) {
	if s.o.Dev != nil {
		return &caller{Identity: *s.o.Dev, CSRF: s.devCSRF, Via: "development"}, nil
	}
	if h := r.Header.Get("Authorization"); h != "" {
		raw, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, errors.New("only Bearer authorization is accepted")
		}
		id, err := s.auth.bearer(r.Context(), strings.TrimSpace(raw))
		if err != nil {
			return nil, err
		}
		return &caller{Identity: id, Via: "bearer"}, nil
	}
	sess, ok := s.auth.session(w, r)
	if !ok {
		return nil, nil
	}
	return &caller{Identity: Identity{User: sess.User, Groups: sess.Groups}, CSRF: sess.CSRF, Via: "session"}, nil
}

// Serve serves the console on l until ctx ends. With a development identity it refuses any
// listener that is not on a loopback address: that identity signs nobody in, so it must never
// be reachable from another machine.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	if s.o.Dev != nil {
		tcp, ok := l.Addr().(*net.TCPAddr)
		if !ok || !tcp.IP.IsLoopback() {
			return fmt.Errorf("console: the development identity is served on loopback addresses only, not %s: bind 127.0.0.1 or use OIDC", l.Addr())
		}
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	s.log.Info("serving", zap.String("addr", l.Addr().String()), zap.String("url", s.o.PublicURL), zap.Bool("development_identity", s.o.Dev != nil))
	select {
	case err := <-errc:
		return fmt.Errorf("console: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	// Live log streams end with the server; they are not waited for.
	err := srv.Shutdown(shutdown)
	if errors.Is(err, context.DeadlineExceeded) {
		return srv.Close()
	}
	return err
}

func (s *Server) routes() {
	m := http.NewServeMux()
	s.mux = m
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if _, err := s.ready.Discovery().ServerVersion(); err != nil {
			http.Error(w, "apiserver unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	m.Handle("GET /static/", staticHandler())
	if s.o.Metrics != nil {
		m.Handle("GET /metrics", s.o.Metrics)
	}
	if s.auth != nil {
		m.HandleFunc("GET /auth/login", s.auth.login)
		m.HandleFunc("GET /auth/callback", s.auth.callback)
	}
	m.HandleFunc("GET /auth/signed-out", s.pages.signedOut)
	s.Handle("POST /auth/logout", http.HandlerFunc(s.logout))

	// pages
	s.Handle("GET /{$}", http.HandlerFunc(s.listPage))
	s.Handle("GET /environments/{namespace}", http.HandlerFunc(s.environmentPage))
	s.Handle("GET /environments/{namespace}/logs", http.HandlerFunc(s.logsPage))
	s.Handle("GET /environments/{namespace}/logs/stream", http.HandlerFunc(s.logStream))
	s.Handle("GET /environments/{namespace}/logs/download", http.HandlerFunc(s.logDownload))
	s.Handle("GET /environments/{namespace}/delete", http.HandlerFunc(s.deletePage))
	s.Handle("POST /environments/{namespace}/delete", http.HandlerFunc(s.deleteAction))
	s.Handle("POST /environments/{namespace}/retry", http.HandlerFunc(s.retryAction))
	s.Handle("POST /environments/{namespace}/keep", http.HandlerFunc(s.keepAction))

	// JSON API: the same operations
	s.Handle("GET /api/v1/whoami", http.HandlerFunc(s.apiWhoami))
	s.Handle("GET /api/v1/environments", http.HandlerFunc(s.apiList))
	s.Handle("GET /api/v1/environments/{namespace}", http.HandlerFunc(s.apiGet))
	s.Handle("GET /api/v1/environments/{namespace}/logs", http.HandlerFunc(s.apiLogs))
	s.Handle("POST /api/v1/environments/{namespace}/retry", http.HandlerFunc(s.apiRetry))
	s.Handle("POST /api/v1/environments/{namespace}/keep", http.HandlerFunc(s.apiKeep))
	s.Handle("DELETE /api/v1/environments/{namespace}", http.HandlerFunc(s.apiDelete))
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "NotFound", "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if s.auth != nil {
		s.jar.clear(w, r, sessionCookie)
	}
	http.Redirect(w, r, "/auth/signed-out", http.StatusSeeOther)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// wantsHTML tells a browser's navigation from a program's request.
func wantsHTML(r *http.Request) bool {
	return !strings.HasPrefix(r.URL.Path, "/api/") && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// loopbackOnly answers only requests that name this machine (development mode; see
// loopbackHost on DNS rebinding).
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "the development console answers only for localhost and loopback addresses", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// securityHeaders: no framing (clickjacking on the delete button), no inline scripts, no
// referrer leaking environment names to preview sites.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self' ; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}
