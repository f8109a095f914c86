package main

import (
	"flag"
	"testing"

	"gotest.tools/v3/assert"
)

// The shared flags are tested with setup.ControllerOptions; these are the reporter's own.
func TestOptions(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string // error substring; "" for valid
	}{
		"defaults":                {},
		"shared flags validated":  {args: []string{"--workers=0"}, want: "--workers"},
		"no log lines":            {args: []string{"--log-lines=0"}, want: "--log-lines"},
		"negative classify wait":  {args: []string{"--classify-wait=-1s"}, want: "--classify-wait"},
		"classify wait too long":  {args: []string{"--classify-wait=2m"}, want: "--classify-wait"},
		"progress too often":      {args: []string{"--progress-interval=1s"}, want: "--progress-interval"},
		"progress off":            {args: []string{"--progress-interval=0"}},
		"usage too often":         {args: []string{"--usage-interval=1s"}, want: "--usage-interval"},
		"stuck threshold too low": {args: []string{"--stuck-after=10s"}, want: "--stuck-after"},
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
			assert.Equal(t, o.LeaseName, "catalyst-reporter")
			if len(tc.args) == 0 {
				assert.Equal(t, o.Workers, defaultWorkers)
			}
		})
	}
}

func TestRunFailsOnMissingConfig(t *testing.T) {
	var o options
	o.AddFlags(flag.NewFlagSet("test", flag.ContinueOnError))
	o.Config = t.TempDir() + "/missing.yaml"
	assert.ErrorContains(t, run(t.Context(), o), "read config")
}
