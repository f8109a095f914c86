package step

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/preview"
)

// Test charts under testdata/charts, in the shapes teams really have.
const (
	webappChart = "testdata/charts/webapp"         // helm create: ingress.hosts list, ingress off
	splitChart  = "testdata/charts/split-image"    // Bitnami: image.registry/repository/tag/digest
	strictChart = "testdata/charts/strict"         // values.schema.json with additionalProperties: false
	libApp      = "testdata/charts/library/app"    // depends on the library chart below (file://../common)
	libCommon   = "testdata/charts/library/common" // a library chart
	testDigest  = "sha256:0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"
)

// repoWith builds a repository directory: test charts copied to paths in it (path -> testdata
// dir), then files written ("" deletes). It returns the repository root.
func repoWith(t *testing.T, charts map[string]string, files map[string]string) string {
	t.Helper()
	src := t.TempDir()
	for dst, from := range charts {
		copyDir(t, from, filepath.Join(src, dst))
	}
	for name, content := range files {
		p := filepath.Join(src, name)
		if content == "" {
			assert.NilError(t, os.RemoveAll(p))
			continue
		}
		writeFile(t, src, name, content)
	}
	return src
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	assert.NilError(t, err)
}

// shapeOpts deploys the chart at deploy/chart of src as the pipeline does.
func shapeOpts(src, overlay string) DeployOptions {
	o := deployOpts(src)
	o.Chart = "deploy/chart"
	o.Image = "registry.local:5000/acme/web:pr-7-0123456789ab"
	o.ImageDigest = testDigest
	o.IngressClass = "nginx"
	o.PRNumber, o.Revision = "7", "0123456789abcdef0123456789abcdef01234567"
	o.Overlay = overlay
	return o
}

// objects decodes the rendered manifests of kind into out's element type.
func renderedIngress(t *testing.T, rendered map[string]string) []networkingv1.Ingress {
	t.Helper()
	var out []networkingv1.Ingress
	for _, text := range rendered {
		for _, doc := range strings.Split(text, "\n---") {
			var head struct{ Kind string }
			if yaml.Unmarshal([]byte(doc), &head) != nil || head.Kind != "Ingress" {
				continue
			}
			var ing networkingv1.Ingress
			assert.NilError(t, yaml.Unmarshal([]byte(doc), &ing))
			out = append(out, ing)
		}
	}
	return out
}

func renderedImages(t *testing.T, rendered map[string]string) []string {
	t.Helper()
	var out []string
	for name, text := range rendered {
		if strings.Contains(name, "/tests/") {
			continue
		}
		for _, doc := range strings.Split(text, "\n---") {
			var head struct{ Kind string }
			if yaml.Unmarshal([]byte(doc), &head) != nil || head.Kind != "Deployment" {
				continue
			}
			var d appsv1.Deployment
			assert.NilError(t, yaml.Unmarshal([]byte(doc), &d))
			for _, c := range d.Spec.Template.Spec.Containers {
				out = append(out, c.Image)
			}
		}
	}
	return out
}

// The README's overlays, one per chart shape: each places the preview host where the chart
// reads it (enabling the ingress when it is off by default), writes lists whole and pins the
// image.
func TestOverlaysPlaceFactsWhereTheChartWantsThem(t *testing.T) {
	const host = "7-web.preview.test"
	cases := map[string]struct {
		chart     string
		overlay   string
		wantHosts []string
		wantImage string
		wantClass string
	}{
		"helm create: list of hosts, ingress off by default": {
			chart: webappChart,
			overlay: `
image: {repository: "${image.name}", tag: "${image.pinnedTag}"}
ingress:
  enabled: true
  className: "${preview.ingressClass}"
  hosts:
    - host: "${preview.host}"
      paths: [{path: /, pathType: Prefix}]
`,
			wantHosts: []string{host},
			wantImage: "registry.local:5000/acme/web:pr-7-0123456789ab@" + testDigest,
			wantClass: "nginx",
		},
		"Bitnami: registry, repository, tag and digest": {
			chart: splitChart,
			overlay: `{"image": {"registry": "${image.registry}", "repository": "${image.repository}", "tag": "${image.tag}", "digest": "${image.digest}"},
			  "ingress": {"enabled": true, "hostname": "${preview.host}", "ingressClassName": "${preview.ingressClass}"}}`,
			wantHosts: []string{host},
			wantImage: "registry.local:5000/acme/web@" + testDigest,
			wantClass: "nginx",
		},
		"strict schema": {
			chart:     strictChart,
			overlay:   `{"image": {"repository": "${image.name}", "tag": "${image.pinnedTag}"}, "ingress": {"enabled": true, "hostname": "${preview.host}"}}`,
			wantHosts: []string{host},
			wantImage: "registry.local:5000/acme/web:pr-7-0123456789ab@" + testDigest,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			src := repoWith(t, map[string]string{"deploy/chart": tc.chart}, nil)
			rendered, _, err := renderInput(t, shapeOpts(src, tc.overlay))
			assert.NilError(t, err)
			ings := renderedIngress(t, rendered)
			assert.Assert(t, is.Len(ings, 1))
			var hosts []string
			for _, r := range ings[0].Spec.Rules {
				hosts = append(hosts, r.Host)
			}
			assert.Check(t, is.DeepEqual(hosts, tc.wantHosts), "the overlay's list replaces the chart's whole")
			if tc.wantClass != "" {
				assert.Check(t, ings[0].Spec.IngressClassName != nil && *ings[0].Spec.IngressClassName == tc.wantClass)
			}
			assert.Check(t, is.DeepEqual(renderedImages(t, rendered), []string{tc.wantImage}))
		})
	}
}

// A list in the overlay is written whole: no entry (and no field) of the chart's list is left.
func TestOverlayListReplacesTheChartsList(t *testing.T) {
	src := repoWith(t, map[string]string{"deploy/chart": webappChart}, map[string]string{"deploy/values.yaml": `
ingress:
  enabled: true
  hosts:
    - host: from-values-file.local
      paths: [{path: /api, pathType: Prefix}, {path: /, pathType: Prefix}]
    - host: second.local
      paths: [{path: /, pathType: Prefix}]
`})
	o := shapeOpts(src, `{"ingress": {"hosts": [{"host": "${preview.host}", "paths": [{"path": "/", "pathType": "Prefix"}]}]}}`)
	o.ValuesFiles = []string{"deploy/values.yaml"}
	rendered, _, err := renderInput(t, o)
	assert.NilError(t, err)
	ings := renderedIngress(t, rendered)
	assert.Assert(t, is.Len(ings, 1))
	assert.Assert(t, is.Len(ings[0].Spec.Rules, 1))
	assert.Check(t, is.Equal(ings[0].Spec.Rules[0].Host, "7-web.preview.test"))
	assert.Check(t, is.Len(ings[0].Spec.Rules[0].HTTP.Paths, 1))
}

// Without an overlay the default one is applied only where the schema accepts it: the strict
// chart deploys (with its own ingress settings) instead of failing on ingress.host.
func TestDefaultOverlayIsNeverForcedIntoAStrictSchema(t *testing.T) {
	src := repoWith(t, map[string]string{"deploy/chart": strictChart}, nil)
	rendered, in, err := renderInput(t, shapeOpts(src, ""))
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(in.skipped, []string{"image.digest", "ingress.className", "ingress.host"}))
	assert.Check(t, is.DeepEqual(renderedImages(t, rendered), []string{"registry.local:5000/acme/web:pr-7-0123456789ab"}))
	assert.Check(t, is.Len(renderedIngress(t, rendered), 0), "the chart's ingress stays off")

	// Without a schema every default key is set (the chart ignores those it does not read).
	src = repoWith(t, map[string]string{"deploy/chart": webappChart}, nil)
	rendered, in, err = renderInput(t, shapeOpts(src, ""))
	assert.NilError(t, err)
	assert.Check(t, is.Len(in.skipped, 0))
	assert.Check(t, is.DeepEqual(renderedImages(t, rendered), []string{"registry.local:5000/acme/web:pr-7-0123456789ab"}),
		"helm create's template ignores image.digest: the deploy warns that the image is not pinned")
}

// A configured overlay the schema rejects is reported at the schema, naming the configuration:
// the chart's values.yaml, which the developer cannot fix, is not blamed.
func TestOverlayRejectedBySchemaBlamesTheConfiguration(t *testing.T) {
	src := repoWith(t, map[string]string{"deploy/chart": strictChart}, nil)
	_, _, err := renderInput(t, shapeOpts(src, `{"ingress": {"enabled": true, "host": "${preview.host}"}}`))
	ces := ChartErrors(err)
	assert.Assert(t, is.Len(ces, 1), "%v", err)
	schema, err2 := os.ReadFile(filepath.Join(strictChart, "values.schema.json"))
	assert.NilError(t, err2)
	d := ces[0].Diagnostic()
	assert.Check(t, is.Equal(d.Kind, preview.DiagnosticValues))
	assert.Check(t, is.Equal(d.Path, "deploy/chart/values.schema.json"))
	// The ingress object's additionalProperties keyword (the second one in the file).
	assert.Check(t, is.Equal(d.Line, nthLineOf(t, string(schema), `"additionalProperties": false`, 4)))
	assert.Check(t, is.Equal(d.Message, "ingress.host, set by repositories[].values in the Catalyst configuration, does not match deploy/chart/values.schema.json: "+
		"additional properties 'host' not allowed; change the overlay to fit the chart"))
}

// nthLineOf is the line of the n-th (1-based) line containing marker.
func nthLineOf(t *testing.T, content, marker string, n int) int {
	t.Helper()
	for i, l := range strings.Split(content, "\n") {
		if strings.Contains(l, marker) {
			if n--; n == 0 {
				return i + 1
			}
		}
	}
	t.Fatalf("marker %q not found %d times", marker, n)
	return 0
}
