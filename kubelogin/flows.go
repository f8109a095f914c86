package kubelogin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// BrowserOptions tune LoginBrowser.
type BrowserOptions struct {
	// ListenAddress of the loopback redirect: 127.0.0.1:0 (any free port) when empty. Some
	// providers register exact redirect URIs: pin a port then.
	ListenAddress string
	// Open shows the authorization URL in a browser; OpenBrowser when nil. An error is not
	// fatal: the URL is printed to Out for the person to open.
	Open func(url string) error
	// Out is told the URL to open; stderr when nil.
	Out io.Writer
}

// LoginBrowser runs the authorization-code flow with PKCE (S256), state and nonce, receiving
// the code on a loopback redirect. It returns when the provider redirects back or ctx ends.
func LoginBrowser(ctx context.Context, p Provider, o BrowserOptions) (*Tokens, error) {
	s, err := p.discover(ctx, nil)
	if err != nil {
		return nil, err
	}
	if o.ListenAddress == "" {
		o.ListenAddress = "127.0.0.1:0"
	}
	if o.Out == nil {
		o.Out = os.Stderr
	}
	if o.Open == nil {
		o.Open = OpenBrowser
	}
	host, _, err := net.SplitHostPort(o.ListenAddress)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("the redirect listens on loopback addresses only, not %q", o.ListenAddress)
	}
	l, err := net.Listen("tcp", o.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("listen for the redirect: %w", err)
	}
	defer l.Close()
	s.oauth.RedirectURL = "http://" + l.Addr().String() + "/callback"
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()

	type result struct {
		t   *Tokens
		err error
	}
	done := make(chan result, 1)
	finish := func(w http.ResponseWriter, r result) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "<!doctype html><title>Sign-in failed</title><p>Sign-in failed: %s</p><p>Return to the terminal.</p>", html.EscapeString(r.err.Error()))
		} else {
			fmt.Fprint(w, "<!doctype html><title>Signed in</title><p>Signed in. You may close this window and return to the terminal.</p>")
		}
		select {
		case done <- r:
		default: // a second callback (a reload) changes nothing
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1:
			// not our sign-in (another tab, a forged link): ignore it and keep waiting
			http.Error(w, "this response does not belong to the sign-in previewctl started", http.StatusBadRequest)
			return
		case q.Get("error") != "":
			finish(w, result{err: fmt.Errorf("the provider refused the sign-in: %s %s", q.Get("error"), q.Get("error_description"))})
			return
		}
		tok, err := s.oauth.Exchange(s.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			finish(w, result{err: fmt.Errorf("exchange the code: %w", err)})
			return
		}
		t, err := s.tokens(tok, nonce, "")
		finish(w, result{t, err})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	authURL := s.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	fmt.Fprintf(o.Out, "Open this URL to sign in (waiting for the redirect to %s):\n%s\n", s.oauth.RedirectURL, authURL)
	if err := o.Open(authURL); err != nil {
		fmt.Fprintf(o.Out, "(could not open a browser: %v)\n", err)
	}
	select {
	case r := <-done:
		return r.t, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the sign-in: %w", ctx.Err())
	}
}

// LoginDevice runs the device authorization grant: it prints a URL and a code for the person to
// approve on any device, and polls the provider until they do, refuse, or ctx ends.
func LoginDevice(ctx context.Context, p Provider, out io.Writer) (*Tokens, error) {
	s, err := p.discover(ctx, nil)
	if err != nil {
		return nil, err
	}
	if s.oauth.Endpoint.DeviceAuthURL == "" {
		return nil, fmt.Errorf("%s does not offer the device flow (no device_authorization_endpoint): sign in with the browser instead", p.Issuer)
	}
	if out == nil {
		out = os.Stderr
	}
	da, err := s.oauth.DeviceAuth(s.ctx)
	if err != nil {
		return nil, fmt.Errorf("device authorization: %w", err)
	}
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(out, "Open %s and approve the code %s\n", da.VerificationURIComplete, da.UserCode)
	} else {
		fmt.Fprintf(out, "Open %s and enter the code %s\n", da.VerificationURI, da.UserCode)
	}
	tok, err := s.oauth.DeviceAccessToken(s.ctx, da)
	if err != nil {
		return nil, fmt.Errorf("waiting for the approval: %w", err)
	}
	return s.tokens(tok, "", "")
}

// OpenBrowser opens url with $BROWSER, else the platform's opener.
func OpenBrowser(url string) error {
	var cmd *exec.Cmd
	switch b := os.Getenv("BROWSER"); {
	case b != "":
		cmd = exec.Command(b, url)
	case runtime.GOOS == "darwin":
		cmd = exec.Command("open", url)
	case runtime.GOOS == "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// errNoLogin: the cache holds nothing usable for this provider.
var errNoLogin = errors.New("not signed in")

// loginHint is the command that signs in again, for error messages.
func loginHint(p Provider) string {
	args := []string{"previewctl login", "--issuer=" + p.Issuer, "--client-id=" + p.ClientID}
	if p.CAFile != "" {
		args = append(args, "--certificate-authority="+p.CAFile)
	}
	return strings.Join(args, " ")
}
