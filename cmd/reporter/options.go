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
	LogLines   int64
	Settle     time.Duration
	StuckAfter time.Duration
}

func (o *options) AddFlags(fs *flag.FlagSet) {
	o.ControllerOptions.AddFlags(fs, "catalyst-reporter")
	fs.Int64Var(&o.LogLines, "log-lines", 40, "lines of the failed step's log shown in reports")
	fs.DurationVar(&o.Settle, "settle", 10*time.Second, "how long a transitional state (a failure not yet classified, a queued run without its position) waits before it is reported")
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
	if o.Settle <= 0 || o.Settle > time.Minute {
		errs = append(errs, fmt.Errorf("--settle must be positive and at most 1m, got %s", o.Settle))
	}
	if o.StuckAfter < time.Minute {
		errs = append(errs, fmt.Errorf("--stuck-after must be at least 1m, got %s", o.StuckAfter))
	}
	return errors.Join(errs...)
}
