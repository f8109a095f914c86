package step

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ClusterOptions say which cluster and namespace a subcommand works in. In a Tekton step the
// namespace is $(context.taskRun.namespace) and the credentials are the pod's service account.
type ClusterOptions struct {
	Kubeconfig string // empty: in-cluster config (or $KUBECONFIG, read by cmd/)
	Context    string
	Namespace  string
	QPS        float32
	Burst      int
}

// NewClusterOptions returns the flag defaults.
func NewClusterOptions() *ClusterOptions { return &ClusterOptions{QPS: 50, Burst: 100} }

// AddFlags binds the options to fs.
func (o *ClusterOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig file; empty uses $KUBECONFIG or the pod's service account.")
	fs.StringVar(&o.Context, "context", o.Context, "Kubeconfig context; empty uses the current one.")
	fs.StringVarP(&o.Namespace, "namespace", "n", o.Namespace, "Namespace of the preview (required).")
	fs.Float32Var(&o.QPS, "kube-api-qps", o.QPS, "Queries per second to the API server.")
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "Burst of queries to the API server.")
}

// Validate checks the options.
func (o *ClusterOptions) Validate() error {
	var errs []error
	if o.Namespace == "" {
		errs = append(errs, errors.New("--namespace is required"))
	} else if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--namespace %q: %s", o.Namespace, strings.Join(msgs, "; ")))
	}
	if o.QPS <= 0 || o.Burst <= 0 {
		errs = append(errs, errors.New("--kube-api-qps and --kube-api-burst must be positive"))
	}
	return errors.Join(errs...)
}

// Subcommand is one subcommand's options: the cluster options plus its own.
type Subcommand struct {
	Name    string
	Summary string
	Cluster *ClusterOptions
	Deploy  *DeployOptions  // set for "deploy"
	Health  *HealthOptions  // set for "healthcheck"
	Cleanup *CleanupOptions // set for "cleanup"
}

// Subcommands lists the subcommand names.
var Subcommands = []string{"deploy", "healthcheck", "cleanup"}

// NewSubcommand returns the defaults of subcommand name, or an error for an unknown name.
func NewSubcommand(name string) (*Subcommand, error) {
	s := &Subcommand{Name: name, Cluster: NewClusterOptions()}
	switch name {
	case "deploy":
		s.Deploy, s.Summary = NewDeployOptions(), "helm upgrade --install the preview chart and write the url and release-revision results"
	case "healthcheck":
		s.Health, s.Summary = NewHealthOptions(), "wait for the release's workloads, then GET url+path until 2xx"
	case "cleanup":
		s.Cleanup, s.Summary = NewCleanupOptions(), "helm uninstall the release and wait until its objects are gone"
	default:
		return nil, fmt.Errorf("unknown subcommand %q (want one of %s)", name, strings.Join(Subcommands, ", "))
	}
	return s, nil
}

// AddFlags binds the cluster options and the subcommand's own.
func (s *Subcommand) AddFlags(fs *pflag.FlagSet) {
	s.Cluster.AddFlags(fs)
	switch {
	case s.Deploy != nil:
		s.Deploy.AddFlags(fs)
	case s.Health != nil:
		s.Health.AddFlags(fs)
	case s.Cleanup != nil:
		s.Cleanup.AddFlags(fs)
	}
}

// Validate checks the cluster options and the subcommand's own.
func (s *Subcommand) Validate() error {
	errs := []error{s.Cluster.Validate()}
	switch {
	case s.Deploy != nil:
		errs = append(errs, s.Deploy.Validate())
	case s.Health != nil:
		errs = append(errs, s.Health.Validate())
	case s.Cleanup != nil:
		errs = append(errs, s.Cleanup.Validate())
	}
	return errors.Join(errs...)
}
