package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/catalyst-preview/catalyst/cmd/internal/setup"
)

type options struct {
	Config          string
	Kubeconfig      string
	Listen          string
	SystemNamespace string
	Workers         int
	LeaderElect     bool
	LeaseName       string
	ResyncEvery     time.Duration
	Log             setup.LogOptions
}

func (o *options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Config, "config", "/etc/catalyst/config.yaml", "path of the configuration file")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG)")
	fs.StringVar(&o.Listen, "listen", ":8080", "address for /webhook, /healthz, /readyz and /metrics")
	fs.StringVar(&o.SystemNamespace, "system-namespace", "", "namespace of Catalyst itself: pending records and the leader Lease (default: $POD_NAMESPACE, then catalyst-system)")
	fs.IntVar(&o.Workers, "workers", 4, "reconcile workers")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "run the reconciler only while holding the Lease (webhooks are served by every replica)")
	fs.StringVar(&o.LeaseName, "lease-name", "catalyst-trigger", "name of the leader election Lease")
	fs.DurationVar(&o.ResyncEvery, "resync", 0, "override the configured resync interval (0: use preview.resyncInterval)")
	o.Log.AddFlags(fs)
}

// fallbackToEnv fills what flags left empty from the environment.
func (o *options) fallbackToEnv(getenv func(string) string) {
	if o.SystemNamespace == "" {
		o.SystemNamespace = getenv("POD_NAMESPACE")
	}
	if o.SystemNamespace == "" {
		o.SystemNamespace = "catalyst-system"
	}
}

func (o options) Validate() error {
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
	if o.ResyncEvery < 0 {
		errs = append(errs, errors.New("--resync must not be negative"))
	}
	if err := o.Log.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
