package ghsim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"
)

const testRepo = "acme/shop"

// newSim starts a simulator with acme/shop and a webhook receiver.
func newSim(t *testing.T, o Options) (*Sim, *receiver) {
	t.Helper()
	rcv := newReceiver(t, o.WebhookSecret)
	if o.WebhookURL == "" {
		o.WebhookURL = rcv.srv.URL
	}
	s, err := New(o)
	assert.NilError(t, err)
	t.Cleanup(s.Close)
	rcv.secret = s.WebhookSecret()
	_, err = s.AddRepo(testRepo)
	assert.NilError(t, err)
	return s, rcv
}

// installationClient is go-github on ghinstallation, exactly as a product
// would build it, pointed at the simulator.
func installationClient(t *testing.T, s *Sim, installationID int64) *github.Client {
	t.Helper()
	itr, err := ghinstallation.New(http.DefaultTransport, s.AppID(), installationID, s.PrivateKeyPEM())
	assert.NilError(t, err)
	itr.BaseURL = s.URL()
	return clientFor(t, s, itr)
}

// appClient authenticates as the App itself (JWT).
func appClient(t *testing.T, s *Sim) *github.Client {
	t.Helper()
	atr, err := ghinstallation.NewAppsTransport(http.DefaultTransport, s.AppID(), s.PrivateKeyPEM())
	assert.NilError(t, err)
	return clientFor(t, s, atr)
}

func clientFor(t *testing.T, s *Sim, tr http.RoundTripper) *github.Client {
	c := github.NewClient(&http.Client{Transport: tr})
	u, err := url.Parse(s.URL() + "/")
	assert.NilError(t, err)
	c.BaseURL = u
	return c
}

// receiver is a webhook endpoint that checks signatures and parses
// payloads with go-github, like the trigger does.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret []byte

	mu     sync.Mutex
	got    []received
	answer int // status to answer with; 202 by default
}

type received struct {
	ID    string
	Event string
	Body  any // the parsed go-github event
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, answer: http.StatusAccepted}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	payload, err := github.ValidatePayload(r, rc.secret)
	if err != nil {
		rc.t.Errorf("webhook signature: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	ev, err := github.ParseWebHook(github.WebHookType(r), payload)
	if err != nil {
		rc.t.Errorf("parse webhook: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, received{ID: github.DeliveryID(r), Event: github.WebHookType(r), Body: ev})
	w.WriteHeader(rc.answer)
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) last() received {
	rc.t.Helper()
	got := rc.received()
	assert.Assert(rc.t, len(got) > 0, "no webhook received")
	return got[len(got)-1]
}

func (rc *receiver) setAnswer(code int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.answer = code
}

// apiToken mints an installation token for acme through the App API.
func apiToken(ctx context.Context, s *Sim) string {
	atr, err := ghinstallation.NewAppsTransport(http.DefaultTransport, s.AppID(), s.PrivateKeyPEM())
	if err != nil {
		panic(err)
	}
	gh := github.NewClient(&http.Client{Transport: atr})
	gh.BaseURL = mustURL(s.URL() + "/")
	tok, _, err := gh.Apps.CreateInstallationToken(ctx, s.InstallationID("acme"), nil)
	if err != nil {
		panic(err)
	}
	return tok.GetToken()
}

func mustURL(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	return u
}
