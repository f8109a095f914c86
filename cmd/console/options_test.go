package main

import (
	"flag"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestOptions(t *testing.T) {
	oidc := []string{"--oidc-issuer-url=https://idp.example.com", "--oidc-client-id=console", "--session-key-files=/k", "--public-url=https://console.example.com"}
	for name, tc := range map[string]struct {
		args    []string
		wantErr string
	}{
		"oidc":                       {args: oidc},
		"development on loopback":    {args: []string{"--dev-user=dev", "--listen=127.0.0.1:8080"}},
		"development on localhost":   {args: []string{"--dev-user=dev", "--listen=localhost:8080"}},
		"development on every iface": {args: []string{"--dev-user=dev", "--listen=:8080"}, wantErr: "--dev-user is refused on --listen=:8080"},
		"development on a public ip": {args: []string{"--dev-user=dev", "--listen=10.1.2.3:8080"}, wantErr: "loopback addresses only"},
		"development and oidc":       {args: append([]string{"--dev-user=dev", "--listen=127.0.0.1:8080"}, oidc...), wantErr: "exclude each other"},
		"no sign-in at all":          {args: []string{"--public-url=https://c.example.com"}, wantErr: "--oidc-issuer-url and --oidc-client-id are required"},
		"oidc without session keys":  {args: oidc[:2], wantErr: "--session-key-files is required"},
		"oidc without public url":    {args: oidc[:3], wantErr: "--public-url must be an absolute http(s) URL"},
		"short sessions":             {args: append([]string{"--session-max-age=1m"}, oidc...), wantErr: "at least 5m"},
		"bad log encoding":           {args: append([]string{"--log-encoding=xml"}, oidc...), wantErr: "--log-encoding"},
	} {
		t.Run(name, func(t *testing.T) {
			var o options
			fs := flag.NewFlagSet("console", flag.ContinueOnError)
			o.AddFlags(fs)
			assert.NilError(t, fs.Parse(tc.args))
			o.FallbackToEnv(func(string) string { return "" })
			err := o.Validate()
			if tc.wantErr == "" {
				assert.Check(t, is.Nil(err))
				return
			}
			assert.Check(t, is.ErrorContains(err, tc.wantErr))
		})
	}
}
