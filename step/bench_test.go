package step

import (
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
)

// The deploy's offline part (load, overlay, schema, render) per chart shape: what the overlay
// and fitting the default overlay to a strict schema cost next to loading and rendering.
//
//	go test -short -run '^$' -bench Preflight -benchmem -count 5 ./step/   # -short: no control plane
func BenchmarkPreflight(b *testing.B) {
	cases := map[string]struct {
		chart, overlay string
	}{
		"strict/configured overlay":                   {strictChart, `{"image": {"repository": "${image.name}", "tag": "${image.pinnedTag}"}, "ingress": {"enabled": true, "hostname": "${preview.host}"}}`},
		"strict/default overlay fitted to the schema": {strictChart, ""},
		"webapp/configured overlay":                   {webappChart, `{"ingress": {"enabled": true, "hosts": [{"host": "${preview.host}", "paths": [{"path": "/", "pathType": "Prefix"}]}]}}`},
		"webapp/default overlay, no schema":           {webappChart, ""},
	}
	for name, tc := range cases {
		b.Run(name, func(b *testing.B) {
			src := b.TempDir()
			copyDir(b, tc.chart, src+"/deploy/chart")
			o := shapeOpts(src, tc.overlay)
			opts := chartutil.ReleaseOptions{Name: "preview", Namespace: "pr-web-7", Revision: 1, IsInstall: true}
			caps := capabilities("v1.37.2")
			b.ReportAllocs()
			for b.Loop() {
				in, err := loadInput(o, "pr-web-7")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := preflight(in, opts, caps); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
