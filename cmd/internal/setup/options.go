package setup

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// ControllerOptions are the flags the trigger and the reporter share.
type ControllerOptions struct {
	Config          string
	Kubeconfig      string
	Listen          string
	SystemNamespace string
	Workers         int
	LeaderElect     bool
	LeaseName       string
	Log             LogOptions
}

// AddFlags registers the shared flags; lease is the component's default Lease name.
func (o *ControllerOptions) AddFlags(fs *flag.FlagSet, lease string) {
	fs.StringVar(&o.Config, "config", "/etc/catalyst/config.yaml", "path of the configuration file")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG)")
	fs.StringVar(&o.Listen, "listen", ":8080", "address for the HTTP endpoints (/healthz, /readyz, /metrics, and the trigger's /webhook)")
	fs.StringVar(&o.SystemNamespace, "system-namespace", "", "namespace of Catalyst itself: leader Lease, pending records (default: $POD_NAMESPACE, then catalyst-system)")
	fs.IntVar(&o.Workers, "workers", 8, "reconcile workers")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "reconcile only while holding the Lease, so that of several replicas one acts")
	fs.StringVar(&o.LeaseName, "lease-name", lease, "name of the leader election Lease")
	o.Log.AddFlags(fs)
}

// FallbackToEnv fills what flags left empty from the environment.
func (o *ControllerOptions) FallbackToEnv(getenv func(string) string) {
	if o.SystemNamespace == "" {
		o.SystemNamespace = getenv("POD_NAMESPACE")
	}
	if o.SystemNamespace == "" {
		o.SystemNamespace = "catalyst-system"
	}
}

// Validate checks the shared flags.
func (o ControllerOptions) Validate() error {
	var errs []error
	if o.Config == "" {
		errs = append(errs, errors.New("--config is required"))
	}
	if o.Listen == "" {
		errs = append(errs, errors.New("--listen is required"))
	}
	if o.Workers < 1 || o.Workers > 64 {
		errs = append(errs, fmt.Errorf("--workers must be between 1 and 64, got %d", o.Workers))
	}
	if o.LeaderElect && o.LeaseName == "" {
		errs = append(errs, errors.New("--lease-name is required with --leader-elect"))
	}
	if err := o.Log.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Options is what Main needs of a binary's options.
type Options interface {
	AddFlags(fs *flag.FlagSet)
	FallbackToEnv(getenv func(string) string)
	Validate() error
}

// Main parses flags into o, validates them (exit 2 on a usage error), and runs run with a
// context cancelled by SIGINT or SIGTERM (exit 1 when it fails).
func Main(name string, o Options, run func(context.Context) error) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	o.AddFlags(fs)
	_ = fs.Parse(os.Args[1:])
	o.FallbackToEnv(os.Getenv)
	if err := o.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		stop()
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
