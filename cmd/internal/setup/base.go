package setup

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/githubapp"
)

// Base is what the trigger and the reporter both start from: logger, configuration, metrics
// registry, Kubernetes, Tekton and GitHub clients.
type Base struct {
	Log      *zap.Logger
	Config   *config.Config
	Registry *prometheus.Registry
	REST     *rest.Config
	Kube     kubernetes.Interface
	Tekton   tektonclient.Interface
	GitHub   *githubapp.Clients
}

// NewBase builds the Base of a controller named component ("catalyst-trigger").
func NewBase(o ControllerOptions, component string) (*Base, error) {
	log, err := o.Log.Logger()
	if err != nil {
		return nil, err
	}
	b := &Base{Log: log, Registry: NewRegistry()}
	if b.Config, err = config.Load(o.Config); err != nil {
		return nil, err
	}
	if b.REST, err = KubeConfig(o.Kubeconfig, component, b.Registry); err != nil {
		return nil, err
	}
	if b.Kube, err = kubernetes.NewForConfig(b.REST); err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	if b.Tekton, err = tektonclient.NewForConfig(b.REST); err != nil {
		return nil, fmt.Errorf("tekton client: %w", err)
	}
	if b.GitHub, err = GitHubClients(b.Config.GitHub, b.Log, githubapp.NewMetrics(b.Registry)); err != nil {
		return nil, err
	}
	return b, nil
}

// Close flushes the logger.
func (b *Base) Close() { _ = b.Log.Sync() }
