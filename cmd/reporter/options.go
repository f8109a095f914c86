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
	LogLines        int64
	Settle          time.Duration
	StuckAfter      time.Duration
	Log             setup.LogOptions
}

func (o *options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Config, "config", "/etc/catalyst/config.yaml", "path of the configuration file")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG)")
	fs.StringVar(&o.Listen, "listen", ":8080", "address for /healthz, /readyz and /metrics")
	fs.StringVar(&o.SystemNamespace, "system-namespace", "", "namespace of the leader Lease (default: $POD_NAMESPACE, then catalyst-system)")
	fs.IntVar(&o.Workers, "workers", 4, "reconcile workers")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "report only while holding the Lease, so that two replicas never both post")
	fs.StringVar(&o.LeaseName, "lease-name", "catalyst-reporter", "name of the leader election Lease")
	fs.Int64Var(&o.LogLines, "log-lines", 40, "lines of the failed step's log shown in reports")
	fs.DurationVar(&o.Settle, "settle", 10*time.Second, "how long a transitional state (a failure not yet classified, a queued run without its position) waits before it is reported")
	fs.DurationVar(&o.StuckAfter, "stuck-after", 10*time.Minute, "how long a PR namespace may take to delete before an Event and an error say so")
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
	if o.LogLines < 1 || o.LogLines > 1000 {
		errs = append(errs, fmt.Errorf("--log-lines must be between 1 and 1000, got %d", o.LogLines))
	}
	if o.Settle <= 0 || o.Settle > time.Minute {
		errs = append(errs, fmt.Errorf("--settle must be positive and at most 1m, got %s", o.Settle))
	}
	if o.StuckAfter < time.Minute {
		errs = append(errs, fmt.Errorf("--stuck-after must be at least 1m, got %s", o.StuckAfter))
	}
	if err := o.Log.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
