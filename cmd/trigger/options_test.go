package main

import (
	"flag"
	"testing"

	"gotest.tools/v3/assert"
)

// The shared flags are tested with setup.ControllerOptions; these are the trigger's own.
func TestOptions(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string // error substring; "" for valid
	}{
		"defaults":               {},
		"shared flags validated": {args: []string{"--config="}, want: "--config is required"},
		"resync override":        {args: []string{"--resync=30s"}},
		"negative resync":        {args: []string{"--resync=-1s"}, want: "--resync"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var o options
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			o.AddFlags(fs)
			assert.NilError(t, fs.Parse(tc.args))
			o.FallbackToEnv(func(string) string { return "" })
			err := o.Validate()
			if tc.want != "" {
				assert.ErrorContains(t, err, tc.want)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, o.LeaseName, "catalyst-trigger")
		})
	}
}

func TestRunFailsOnMissingConfig(t *testing.T) {
	var o options
	o.AddFlags(flag.NewFlagSet("test", flag.ContinueOnError))
	o.Config = t.TempDir() + "/missing.yaml"
	assert.ErrorContains(t, run(t.Context(), o), "read config")
}
