package setup

import (
	"flag"
	"testing"

	"gotest.tools/v3/assert"
)

func TestControllerOptions(t *testing.T) {
	tests := map[string]struct {
		args []string
		env  map[string]string
		want string // error substring; "" for valid
		ns   string
	}{
		"defaults":               {ns: "catalyst-system"},
		"namespace from env":     {env: map[string]string{"POD_NAMESPACE": "previews"}, ns: "previews"},
		"flag beats env":         {args: []string{"--system-namespace=mine"}, env: map[string]string{"POD_NAMESPACE": "previews"}, ns: "mine"},
		"no config":              {args: []string{"--config="}, want: "--config is required"},
		"no listen address":      {args: []string{"--listen="}, want: "--listen is required"},
		"zero workers":           {args: []string{"--workers=0"}, want: "--workers"},
		"lease name needed":      {args: []string{"--lease-name="}, want: "--lease-name"},
		"no leader election":     {args: []string{"--leader-elect=false", "--lease-name="}, ns: "catalyst-system"},
		"bad log level":          {args: []string{"--log-level=loud"}, want: "--log-level"},
		"bad log encoding":       {args: []string{"--log-encoding=xml"}, want: "--log-encoding"},
		"several errors at once": {args: []string{"--config=", "--workers=0"}, want: "--config is required\n--workers"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var o ControllerOptions
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			o.AddFlags(fs, "catalyst-test")
			assert.NilError(t, fs.Parse(tc.args))
			o.FallbackToEnv(func(k string) string { return tc.env[k] })
			err := o.Validate()
			if tc.want != "" {
				assert.ErrorContains(t, err, tc.want)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, o.SystemNamespace, tc.ns)
		})
	}
}
