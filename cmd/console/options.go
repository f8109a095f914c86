package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/catalyst-preview/catalyst/cmd/internal/setup"
)

type options struct {
	Kubeconfig      string
	Listen          string
	PublicURL       string
	SystemNamespace string
	OIDC            oidcOptions
	SessionKeyFiles string
	SessionMaxAge   time.Duration
	DevUser         string
	DevGroups       string
	Log             setup.LogOptions
}

type oidcOptions struct {
	IssuerURL        string
	ClientID         string
	ClientSecretFile string
	CAFile           string
	Scopes           string
	UsernameClaim    string
	UsernamePrefix   string
	GroupsClaim      string
	GroupsPrefix     string
	ExtraAudiences   string
}

func (o *options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG); its user needs only impersonate on users and groups")
	fs.StringVar(&o.Listen, "listen", ":8080", "address to serve on")
	fs.StringVar(&o.PublicURL, "public-url", "", "URL people reach the console at (https://...); http only for loopback (default with --dev-user: http://<listen>)")
	fs.StringVar(&o.SystemNamespace, "system-namespace", "", "namespace of Catalyst itself, holding pending records (default: $POD_NAMESPACE, then catalyst-system)")
	fs.StringVar(&o.OIDC.IssuerURL, "oidc-issuer-url", "", "OpenID Connect issuer (its discovery document is at <issuer>/.well-known/openid-configuration)")
	fs.StringVar(&o.OIDC.ClientID, "oidc-client-id", "", "OAuth client ID of the console")
	fs.StringVar(&o.OIDC.ClientSecretFile, "oidc-client-secret-file", "", "file holding the client secret (empty: a public client, PKCE only)")
	fs.StringVar(&o.OIDC.CAFile, "oidc-ca-file", "", "PEM CA bundle for the issuer's TLS certificate (default: system roots)")
	fs.StringVar(&o.OIDC.Scopes, "oidc-scopes", "openid,email,profile,offline_access", "scopes to ask for, comma-separated (add groups if the provider needs it)")
	fs.StringVar(&o.OIDC.UsernameClaim, "oidc-username-claim", "email", "claim holding the Kubernetes user name: the apiserver's claimMappings.username.claim")
	fs.StringVar(&o.OIDC.UsernamePrefix, "oidc-username-prefix", "", "prefix of user names: the apiserver's claimMappings.username.prefix")
	fs.StringVar(&o.OIDC.GroupsClaim, "oidc-groups-claim", "groups", "claim holding the groups: the apiserver's claimMappings.groups.claim")
	fs.StringVar(&o.OIDC.GroupsPrefix, "oidc-groups-prefix", "", "prefix of group names: the apiserver's claimMappings.groups.prefix")
	fs.StringVar(&o.OIDC.ExtraAudiences, "oidc-extra-audiences", "", "other client IDs whose ID tokens are accepted as bearer tokens (previewctl, MCP clients), comma-separated")
	fs.StringVar(&o.SessionKeyFiles, "session-key-files", "", "files holding the session cookie keys (32+ bytes each), comma-separated: the first seals, all open (rotation)")
	fs.DurationVar(&o.SessionMaxAge, "session-max-age", 12*time.Hour, "sessions end this long after sign-in, however often refreshed")
	fs.StringVar(&o.DevUser, "dev-user", "", "development only: act as this Kubernetes user without signing in; refused unless --listen is a loopback address")
	fs.StringVar(&o.DevGroups, "dev-groups", "", "development only: groups of --dev-user, comma-separated")
	o.Log.AddFlags(fs)
}

func (o *options) FallbackToEnv(getenv func(string) string) {
	if o.SystemNamespace == "" {
		o.SystemNamespace = getenv("POD_NAMESPACE")
	}
	if o.SystemNamespace == "" {
		o.SystemNamespace = "catalyst-system"
	}
	if o.PublicURL == "" && o.DevUser != "" {
		o.PublicURL = "http://" + o.Listen
	}
}

func (o options) Validate() error {
	var errs []error
	if o.Listen == "" {
		errs = append(errs, errors.New("--listen is required"))
	}
	if o.DevUser != "" {
		if o.OIDC.IssuerURL != "" {
			errs = append(errs, errors.New("--dev-user and --oidc-issuer-url exclude each other"))
		}
		if !loopbackListen(o.Listen) {
			errs = append(errs, fmt.Errorf("--dev-user is refused on --listen=%s: the development identity signs nobody in, so it is served on loopback addresses only (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)", o.Listen))
		}
	} else {
		if o.OIDC.IssuerURL == "" || o.OIDC.ClientID == "" {
			errs = append(errs, errors.New("--oidc-issuer-url and --oidc-client-id are required (or --dev-user for local development)"))
		}
		if o.SessionKeyFiles == "" {
			errs = append(errs, errors.New("--session-key-files is required with OIDC"))
		}
		if o.OIDC.UsernameClaim == "" {
			errs = append(errs, errors.New("--oidc-username-claim must not be empty"))
		}
	}
	if u, err := url.Parse(o.PublicURL); o.PublicURL == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		errs = append(errs, fmt.Errorf("--public-url must be an absolute http(s) URL, got %q", o.PublicURL))
	}
	if o.SessionMaxAge < 5*time.Minute {
		errs = append(errs, fmt.Errorf("--session-max-age must be at least 5m, got %s", o.SessionMaxAge))
	}
	if err := o.Log.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// loopbackListen: an explicit loopback host; ":8080" listens on every interface.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
