package main

import (
	"errors"
	"flag"
	"time"

	"github.com/catalyst-preview/catalyst/cmd/internal/setup"
)

type options struct {
	setup.ControllerOptions
	ResyncEvery time.Duration
}

func (o *options) AddFlags(fs *flag.FlagSet) {
	o.ControllerOptions.AddFlags(fs, "catalyst-trigger")
	fs.DurationVar(&o.ResyncEvery, "resync", 0, "override the configured resync interval (0: use preview.resyncInterval)")
}

func (o options) Validate() error {
	var errs []error
	if err := o.ControllerOptions.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.ResyncEvery < 0 {
		errs = append(errs, errors.New("--resync must not be negative"))
	}
	return errors.Join(errs...)
}
