package step

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Clients are the Kubernetes clients of one step, all bound to the preview namespace.
type Clients struct {
	Config    *rest.Config
	Namespace string
	Kube      kubernetes.Interface
}

// NewClients builds the clients for namespace from a REST config.
func NewClients(cfg *rest.Config, namespace string) (*Clients, error) {
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &Clients{Config: cfg, Namespace: namespace, Kube: kc}, nil
}

// ServerVersion asks the API server for its version, failing with a clear message when the
// server does not answer.
func (c *Clients) ServerVersion(ctx context.Context) (*version.Info, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	raw, err := c.Kube.Discovery().RESTClient().Get().AbsPath("/version").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the Kubernetes API server at %s: %w", c.Config.Host, err)
	}
	var info version.Info
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, fmt.Errorf("read the API server version from %s: %w", c.Config.Host, err)
	}
	return &info, nil
}

// helm returns a Helm action configuration for the namespace, storing releases in Secrets
// (Helm's default, readable with the helm CLI).
func (c *Clients) helm(log *zap.Logger) (*action.Configuration, error) {
	getter := &restGetter{cfg: c.Config, namespace: c.Namespace}
	cfg := new(action.Configuration)
	sugar := log.WithOptions(zap.AddCallerSkip(1)).Sugar()
	if err := cfg.Init(getter, c.Namespace, "secret", func(format string, v ...any) { sugar.Debugf(format, v...) }); err != nil {
		return nil, fmt.Errorf("helm configuration: %w", err)
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		kc.Namespace = c.Namespace
	}
	return cfg, nil
}

// restGetter adapts a *rest.Config to the RESTClientGetter Helm's kube client wants, so the
// step needs no kubeconfig file (in a pod, the config comes from the service account).
type restGetter struct {
	cfg       *rest.Config
	namespace string
	disco     discovery.CachedDiscoveryInterface
}

var _ genericclioptions.RESTClientGetter = (*restGetter)(nil)

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	if g.disco == nil {
		dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(g.cfg))
		if err != nil {
			return nil, err
		}
		g.disco = memory.NewMemCacheClient(dc)
	}
	return g.disco, nil
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	m := restmapper.NewDeferredDiscoveryRESTMapper(dc)
	return restmapper.NewShortcutExpander(m, dc, nil), nil
}

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return namespaceConfig{cfg: g.cfg, namespace: g.namespace}
}

// namespaceConfig answers the namespace and REST config questions kubectl's factory asks.
type namespaceConfig struct {
	cfg       *rest.Config
	namespace string
}

func (n namespaceConfig) RawConfig() (clientcmdapi.Config, error) {
	return *clientcmdapi.NewConfig(), nil
}
func (n namespaceConfig) ClientConfig() (*rest.Config, error) { return rest.CopyConfig(n.cfg), nil }
func (n namespaceConfig) Namespace() (string, bool, error)    { return n.namespace, true, nil }
func (n namespaceConfig) ConfigAccess() clientcmd.ConfigAccess {
	return clientcmd.NewDefaultClientConfigLoadingRules()
}
