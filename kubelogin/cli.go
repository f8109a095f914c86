package kubelogin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
)

// AddFlags registers the provider's flags, shared by `previewctl login` and `previewctl token`.
func (p *Provider) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&p.Issuer, "issuer", "", "OpenID Connect issuer URL (the one the apiserver's --authentication-config trusts)")
	fs.StringVar(&p.ClientID, "client-id", "", "OAuth client ID registered for previewctl at the issuer (also the token's audience)")
	fs.StringVar(&p.ClientSecret, "client-secret", "", "client secret, only for a confidential client (a public client with PKCE needs none)")
	fs.StringSliceVar(&p.ExtraScopes, "scope", DefaultExtraScopes, "scopes asked for besides openid")
	fs.StringVar(&p.CAFile, "certificate-authority", "", "PEM file of the CA that signed the issuer's certificate (system roots when empty)")
}

// Flags are the command-line flags that select p again, for the exec plugin's arguments.
func (p Provider) Flags() []string {
	out := []string{"--issuer=" + p.Issuer, "--client-id=" + p.ClientID}
	if p.ClientSecret != "" {
		out = append(out, "--client-secret="+p.ClientSecret)
	}
	if p.ExtraScopes != nil && !slices.Equal(p.ExtraScopes, DefaultExtraScopes) {
		out = append(out, "--scope="+strings.Join(p.ExtraScopes, ","))
	}
	if p.CAFile != "" {
		out = append(out, "--certificate-authority="+p.CAFile)
	}
	return out
}

// LoginOptions configure Login.
type LoginOptions struct {
	Provider Provider
	// Device runs the device flow instead of the browser flow.
	Device  bool
	Browser BrowserOptions
	Cache   Cache
	// Kubeconfig is where the user is recorded.
	Kubeconfig KubeconfigOptions
	// Out is told what to open and what was written.
	Out io.Writer
}

// Login signs in (browser or device flow), stores the tokens in the cache and records the
// exec plugin user in the kubeconfig. It returns the context written ("" when none).
func Login(ctx context.Context, o LoginOptions) (string, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Browser.Out == nil {
		o.Browser.Out = o.Out
	}
	var (
		t   *Tokens
		err error
	)
	if o.Device {
		t, err = LoginDevice(ctx, o.Provider, o.Out)
	} else {
		t, err = LoginBrowser(ctx, o.Provider, o.Browser)
	}
	if err != nil {
		return "", err
	}
	if err := o.Cache.Store(ctx, o.Provider, t); err != nil {
		return "", err
	}
	name, err := WriteKubeconfig(o.Provider, o.Kubeconfig)
	if err != nil {
		return "", err
	}
	who := t.Subject
	if name != "" {
		fmt.Fprintf(o.Out, "Signed in as %s. The kubeconfig context %q is current: kubectl and k9s act as you.\n", who, name)
	} else {
		fmt.Fprintf(o.Out, "Signed in as %s. The kubeconfig user %q uses these credentials.\n", who, o.Kubeconfig.User)
	}
	return name, nil
}

// RunLogin is `previewctl login`: it parses args and calls Login.
func RunLogin(ctx context.Context, args []string, out io.Writer) error {
	var o LoginOptions
	fs := pflag.NewFlagSet("login", pflag.ContinueOnError)
	fs.SetOutput(out)
	o.Provider.AddFlags(fs)
	fs.BoolVar(&o.Device, "device", false, "use the device flow: approve a code on any device (no browser or loopback port needed here)")
	fs.StringVar(&o.Browser.ListenAddress, "listen-address", "127.0.0.1:0", "loopback address receiving the browser's redirect (pin a port if the provider registers exact redirect URIs)")
	fs.StringVar(&o.Kubeconfig.Path, "kubeconfig", "", "kubeconfig file to write (default: $KUBECONFIG's first file or ~/.kube/config)")
	fs.StringVar(&o.Kubeconfig.User, "user", "oidc", "kubeconfig user entry to write")
	fs.StringVar(&o.Kubeconfig.Cluster, "cluster", "", "kubeconfig cluster of the new context (default: the current context's)")
	fs.StringVar(&o.Kubeconfig.Context, "context", "", "name of the context to write and make current (default: <user>@<cluster>)")
	fs.StringVar(&o.Cache.Dir, "token-cache-dir", "", "token cache folder (default: "+DefaultCacheDir()+")")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the sign-in")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("login takes no arguments, got %q", fs.Args())
	}
	if o.Cache.Dir != "" {
		o.Kubeconfig.Args = []string{"token", "--token-cache-dir=" + o.Cache.Dir}
	}
	o.Out = out
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	_, err := Login(ctx, o)
	return err
}

// RunToken is `previewctl token`, the exec credential plugin kubectl runs: it prints an
// ExecCredential (client.authentication.k8s.io/v1) with a valid ID token from the cache,
// refreshed when it is about to expire. It never prompts: without a usable sign-in it fails
// with the login command to run, which kubectl shows.
func RunToken(ctx context.Context, args []string, out io.Writer) error {
	var (
		p Provider
		c Cache
	)
	fs := pflag.NewFlagSet("token", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	p.AddFlags(fs)
	fs.StringVar(&c.Dir, "token-cache-dir", "", "token cache folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	t, err := c.Token(ctx, p)
	if err != nil {
		return err
	}
	return writeExecCredential(out, t)
}

func writeExecCredential(w io.Writer, t *Tokens) error {
	exp := metav1.NewTime(t.Expiry)
	cred := clientauthv1.ExecCredential{
		TypeMeta: metav1.TypeMeta{APIVersion: ExecAPIVersion, Kind: "ExecCredential"},
		Status:   &clientauthv1.ExecCredentialStatus{Token: t.IDToken, ExpirationTimestamp: &exp},
	}
	return json.NewEncoder(w).Encode(cred)
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
