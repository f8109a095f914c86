package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/lru"
)

// Identity is who a request acts as in Kubernetes: the console impersonates exactly this user
// and these groups, so Kubernetes RBAC alone decides what the request may see and do.
type Identity struct {
	User   string   `json:"user"`
	Groups []string `json:"groups,omitempty"`
}

// Validate refuses identities the console must never impersonate: an empty user (that would be
// the console's own ServiceAccount) and anything in the reserved system: namespace (an identity
// provider that lets a user put "system:masters" in their groups must not make them
// cluster-admin through the console).
func (id Identity) Validate() error {
	if id.User == "" {
		return errors.New("identity has no user name")
	}
	if strings.HasPrefix(id.User, "system:") {
		return fmt.Errorf("user %q is reserved for Kubernetes (system: prefix)", id.User)
	}
	for _, g := range id.Groups {
		if strings.HasPrefix(g, "system:") {
			return fmt.Errorf("group %q is reserved for Kubernetes (system: prefix)", g)
		}
	}
	return nil
}

func (id Identity) key() string {
	return id.User + "\x00" + strings.Join(id.Groups, "\x00")
}

// Clients act as one identity.
type Clients struct {
	Kube   kubernetes.Interface
	Tekton tektonclient.Interface
}

// Impersonator builds Kubernetes clients that act as an Identity, from the console's own
// configuration (whose ServiceAccount holds only the right to impersonate users and groups).
// Clients are cached per identity: client-go shares one connection pool among them.
type Impersonator struct {
	base  *rest.Config
	cache *lru.Cache
}

// NewImpersonator returns an Impersonator over base, which must not impersonate anyone itself.
func NewImpersonator(base *rest.Config) (*Impersonator, error) {
	if base.Impersonate.UserName != "" || len(base.Impersonate.Groups) > 0 {
		return nil, errors.New("impersonator: the console's own configuration already impersonates someone")
	}
	return &Impersonator{base: rest.CopyConfig(base), cache: lru.New(256)}, nil
}

// Clients returns the clients acting as id.
func (m *Impersonator) Clients(id Identity) (Clients, error) {
	if err := id.Validate(); err != nil {
		return Clients{}, err
	}
	if c, ok := m.cache.Get(id.key()); ok {
		return c.(Clients), nil
	}
	cfg := rest.CopyConfig(m.base)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: id.User, Groups: slices.Clone(id.Groups)}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("kubernetes client for %s: %w", id.User, err)
	}
	tekton, err := tektonclient.NewForConfig(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("tekton client for %s: %w", id.User, err)
	}
	c := Clients{Kube: kube, Tekton: tekton}
	m.cache.Add(id.key(), c)
	return c, nil
}

type ctxKey struct{}

// caller is what the auth middleware learned about a request.
type caller struct {
	Identity
	// CSRF is the token actions must carry; empty for bearer requests (no ambient credential).
	CSRF string
	// Via says how the caller was authenticated: "session", "bearer" or "development".
	Via string
}

func withCaller(ctx context.Context, c *caller) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

func callerOf(r *http.Request) *caller {
	c, _ := r.Context().Value(ctxKey{}).(*caller)
	return c
}

// IdentityOf returns the identity the auth middleware (Server.Authenticated) attached to r.
func IdentityOf(r *http.Request) (Identity, bool) {
	c := callerOf(r)
	if c == nil {
		return Identity{}, false
	}
	return c.Identity, true
}

// loopbackHost reports whether a Host header names this machine by a loopback address or
// "localhost": in development mode anything else could be DNS rebinding, another site's page
// reaching the console through a name that resolves to 127.0.0.1.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
