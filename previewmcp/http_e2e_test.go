package previewmcp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/oidcsim"
	"github.com/catalyst-preview/catalyst/preview"
)

type bearer struct {
	token string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// At the console's /mcp, a bearer ID token is verified and every call impersonates its user:
// alice, whose RBAC covers her environment, cannot see or delete bob's. Without a token the
// answer points at the protected resource metadata, which names the issuer.
func TestHTTPActsAsTheSignedInUser(t *testing.T) {
	c := cluster.Require(t)
	ctx := t.Context()
	op, err := oidcsim.New(oidcsim.Options{Users: []oidcsim.User{{Name: "alice"}, {Name: "bob"}, {Name: "mallory", Groups: []string{"system:masters"}}}, Clients: []oidcsim.Client{{ID: "previewctl"}}})
	assert.NilError(t, err)
	defer op.Close()
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, op.HTTPClient()), op.Issuer())
	assert.NilError(t, err)
	verifier := provider.VerifierContext(oidc.ClientContext(ctx, op.HTTPClient()), &oidc.Config{ClientID: "previewctl"})

	repo := "e2e/mcp-http"
	hers, his := env(t, c, repo, 11), env(t, c, repo, 12)
	grant(t, c, "alice@example.com", hers, preview.OperatorRules())
	grant(t, c, "bob@example.com", his, preview.OperatorRules())

	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer srv.Close()
	h, err = HTTPHandler(HTTPOptions{Resource: srv.URL + "/mcp", Issuer: op.Issuer(), Verifier: verifier, Config: c.RESTConfig()})
	assert.NilError(t, err)

	// no token: 401 pointing at the metadata, which names the issuer
	resp, err := http.Post(srv.URL+"/mcp", "application/json", strings.NewReader(`{}`))
	assert.NilError(t, err)
	resp.Body.Close()
	assert.Check(t, is.Equal(resp.StatusCode, http.StatusUnauthorized))
	metaURL := srv.URL + "/.well-known/oauth-protected-resource/mcp"
	assert.Check(t, is.Contains(resp.Header.Get("WWW-Authenticate"), `resource_metadata="`+metaURL+`"`))
	resp, err = http.Get(metaURL)
	assert.NilError(t, err)
	var meta struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&meta))
	resp.Body.Close()
	assert.Check(t, is.Equal(meta.Resource, srv.URL+"/mcp"))
	assert.Check(t, is.DeepEqual(meta.AuthorizationServers, []string{op.Issuer()}))

	connectAs := func(token string) (*mcp.ClientSession, error) {
		tr := &mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp", HTTPClient: &http.Client{Transport: bearer{token}}}
		return mcp.NewClient(&mcp.Implementation{Name: "agent"}, nil).Connect(ctx, tr, nil)
	}
	// a token for another audience is refused
	other, err := op.IDToken("alice", "some-other-app")
	assert.NilError(t, err)
	_, err = connectAs(other)
	assert.Check(t, err != nil, "a token of another audience")

	// a token claiming a Kubernetes system group is refused, never impersonated
	masters, err := op.IDToken("mallory", "previewctl")
	assert.NilError(t, err)
	_, err = connectAs(masters)
	assert.Check(t, err != nil, "system:masters through the identity provider")

	tok, err := op.IDToken("alice", "previewctl")
	assert.NilError(t, err)
	alice, err := connectAs(tok)
	assert.NilError(t, err)
	defer alice.Close()
	var list preview.List
	res := call(t, alice, ToolList, map[string]any{"repo": repo, "namespaces": []string{hers, his}}, &list)
	assert.Assert(t, !res.IsError, text(res))
	assert.Assert(t, is.Len(list.Items, 1))
	assert.Check(t, is.Equal(list.Items[0].Namespace, hers))

	res = call(t, alice, ToolGet, map[string]any{"environment": his}, nil)
	assert.Check(t, res.IsError)
	assert.Check(t, is.Contains(text(res), "Forbidden: "))
	res = call(t, alice, ToolDelete, map[string]any{"environment": his}, nil)
	assert.Check(t, res.IsError, "alice cannot delete bob's environment")
	assert.Check(t, removalRequested(t, c, his) == false)

	var del DeleteOutput
	res = call(t, alice, ToolDelete, map[string]any{"environment": hers}, &del)
	assert.Assert(t, !res.IsError, text(res))
	res = call(t, alice, ToolDelete, map[string]any{"environment": hers, "confirmation": del.Confirmation}, &del)
	assert.Assert(t, !res.IsError, text(res))
	assert.Check(t, is.Equal(del.Status, DeleteRequested))
	assert.Check(t, removalRequested(t, c, hers))
	ns, err := c.Kube().CoreV1().Namespaces().Get(ctx, hers, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(ns.Annotations[preview.AnnotationRemoveBy], "alice@example.com"), "the request names the signed-in user")
}
