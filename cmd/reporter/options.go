package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/catalyst-preview/catalyst/cmd/internal/setup"
)

type options struct {
	setup.ControllerOptions
	LogLines         int64
	ClassifyWait     time.Duration
	ProgressInterval time.Duration
	UsageInterval    time.Duration
	StuckAfter       time.Duration
}

// defaultWorkers: a reconcile mostly waits on GitHub (100 ms or more a call), so the reporter
// runs more of them than the trigger; GitHub allows 100 concurrent requests.
const defaultWorkers = 32

func (o *options) AddFlags(fs *flag.FlagSet) {
	o.ControllerOptions.AddFlags(fs, "catalyst-reporter")
	o.Workers = defaultWorkers
	fs.Lookup("workers").DefValue = fmt.Sprint(defaultWorkers)
	fs.Int64Var(&o.LogLines, "log-lines", 40, "lines of the failed step's log shown in reports")
	fs.DurationVar(&o.ClassifyWait, "classify-wait", 5*time.Second, "how long a failure waits for the trigger's classification (application or infrastructure, retry) before it is reported unclassified")
	fs.DurationVar(&o.ProgressInterval, "progress-interval", 30*time.Second, "live progress: a report is edited for its current task and elapsed time at most once per interval (state changes are sent at once); 0 disables progress edits")
	fs.DurationVar(&o.UsageInterval, "usage-interval", 30*time.Second, "how often the resource usage of PR namespaces is read from the metrics API for the usage gauge")
	fs.DurationVar(&o.StuckAfter, "stuck-after", 10*time.Minute, "how long a PR namespace may take to delete before an Event and an error say so")
}

func (o options) Validate() error {
	var errs []error
	if err := o.ControllerOptions.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.LogLines < 1 || o.LogLines > 1000 {
		errs = append(errs, fmt.Errorf("--log-lines must be between 1 and 1000, got %d", o.LogLines))
	}
	if o.ClassifyWait <= 0 || o.ClassifyWait > time.Minute {
		errs = append(errs, fmt.Errorf("--classify-wait must be positive and at most 1m, got %s", o.ClassifyWait))
	}
	if o.ProgressInterval != 0 && (o.ProgressInterval < 5*time.Second || o.ProgressInterval > time.Hour) {
		errs = append(errs, fmt.Errorf("--progress-interval must be 0 (off) or between 5s and 1h, got %s", o.ProgressInterval))
	}
	if o.UsageInterval < 5*time.Second {
		errs = append(errs, fmt.Errorf("--usage-interval must be at least 5s, got %s", o.UsageInterval))
	}
	if o.StuckAfter < time.Minute {
		errs = append(errs, fmt.Errorf("--stuck-after must be at least 1m, got %s", o.StuckAfter))
	}
	return errors.Join(errs...)
}
