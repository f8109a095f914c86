package previewmcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/catalyst-preview/catalyst/preview"
)

// HTTPOptions configure HTTPHandler: the MCP endpoint of a server (the console) that acts
// for whoever presents an ID token of the issuer the apiserver trusts.
type HTTPOptions struct {
	// Resource is the endpoint's URL as clients reach it (https://console.example.com/mcp):
	// the protected resource's identifier (RFC 9728).
	Resource string
	// Issuer is the OpenID Connect issuer; Verifier checks a bearer ID token against it (its
	// signature, expiry and audience: the client IDs the apiserver accepts).
	Issuer   string
	Verifier *oidc.IDTokenVerifier
	// UsernameClaim and GroupsClaim, with their prefixes, map the token to a Kubernetes user
	// exactly as the apiserver's claimMappings do ("email" and "groups", no prefix, when empty),
	// so that the impersonated user is the one RBAC names.
	UsernameClaim, UsernamePrefix string
	GroupsClaim, GroupsPrefix     string
	// Config is the server's own client configuration; every call impersonates the token's
	// user with it, so the server's ServiceAccount needs only "impersonate" on users and groups.
	Config *rest.Config
	// Server options (ReadOnly, Version, Secret); Client and Caller are set here.
	Server Options
	// PreviewOptions for the query layer (system namespace).
	PreviewOptions preview.Options
}

// MetadataPath is where the protected resource metadata of an endpoint at path /mcp is served
// (RFC 9728 section 3.1: the well-known prefix before the resource's path).
func MetadataPath(resource string) (string, error) {
	u, err := url.Parse(resource)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("previewmcp: the resource must be an absolute URL, got %q", resource)
	}
	return "/.well-known/oauth-protected-resource" + u.EscapedPath(), nil
}

// identity is who a verified token names, as the apiserver would.
type identity struct {
	user   string
	groups []string
}

// HTTPHandler serves streamable HTTP MCP at the resource's path and its protected resource
// metadata at MetadataPath, so that a client told "401, resource_metadata=..." discovers the
// issuer and signs the user in. Mount it at the server's root.
func HTTPHandler(o HTTPOptions) (http.Handler, error) {
	if o.Verifier == nil || o.Config == nil || o.Issuer == "" {
		return nil, errors.New("previewmcp: HTTPOptions needs Issuer, Verifier and Config")
	}
	meta, err := MetadataPath(o.Resource)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(o.Resource)
	metaURL := u.Scheme + "://" + u.Host + meta
	if o.UsernameClaim == "" {
		o.UsernameClaim = "email"
	}
	if o.GroupsClaim == "" {
		o.GroupsClaim = "groups"
	}

	so := o.Server
	so.Caller = func(req *mcp.CallToolRequest) string {
		if id := identityOf(req); id != nil {
			return id.user
		}
		return ""
	}
	so.Client = func(_ context.Context, req *mcp.CallToolRequest) (*preview.Client, error) {
		id := identityOf(req)
		if id == nil {
			return nil, &preview.Error{Kind: preview.KindForbidden, Msg: "no signed-in user"}
		}
		rc := rest.CopyConfig(o.Config)
		rc.Impersonate = rest.ImpersonationConfig{UserName: id.user, Groups: id.groups}
		kube, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		tekton, err := tektonclient.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		po := o.PreviewOptions
		po.Actor = id.user
		return preview.New(preview.Clients{Kube: kube, Tekton: tekton}, po), nil
	}
	srv, err := New(so)
	if err != nil {
		return nil, err
	}
	verify := func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		idt, err := o.Verifier.Verify(ctx, token)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
		}
		var claims map[string]any
		if err := idt.Claims(&claims); err != nil {
			return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
		}
		user, _ := claims[o.UsernameClaim].(string)
		if user == "" {
			return nil, fmt.Errorf("%w: no %q claim", auth.ErrInvalidToken, o.UsernameClaim)
		}
		if o.UsernameClaim == "email" && claims["email_verified"] != true {
			// the apiserver refuses an unverified email as a username: so do we
			return nil, fmt.Errorf("%w: the email is not verified", auth.ErrInvalidToken)
		}
		id := &identity{user: o.UsernamePrefix + user}
		if gs, ok := claims[o.GroupsClaim].([]any); ok {
			for _, g := range gs {
				if s, ok := g.(string); ok {
					id.groups = append(id.groups, o.GroupsPrefix+s)
				}
			}
		}
		// Never impersonate Kubernetes' own names: an identity provider that lets a user put
		// system:masters in their groups must not make them cluster-admin here.
		for _, n := range append([]string{id.user}, id.groups...) {
			if strings.HasPrefix(n, "system:") {
				return nil, fmt.Errorf("%w: %q is reserved for Kubernetes", auth.ErrInvalidToken, n)
			}
		}
		return &auth.TokenInfo{UserID: id.user, Expiration: idt.Expiry, Extra: map[string]any{identityKey: id}}, nil
	}
	mux := http.NewServeMux()
	mux.Handle(meta, auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               o.Resource,
		AuthorizationServers:   []string{o.Issuer},
		BearerMethodsSupported: []string{"header"},
		ScopesSupported:        []string{oidc.ScopeOpenID, "email", "groups"},
		ResourceName:           "Catalyst Preview",
	}))
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	mux.Handle(u.EscapedPath(), auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{ResourceMetadataURL: metaURL})(mcpHandler))
	return mux, nil
}

const identityKey = "catalyst.dev/identity"

func identityOf(req *mcp.CallToolRequest) *identity {
	if req.Extra == nil || req.Extra.TokenInfo == nil {
		return nil
	}
	id, _ := req.Extra.TokenInfo.Extra[identityKey].(*identity)
	return id
}
