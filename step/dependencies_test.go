package step

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/catalyst-preview/catalyst/preview"
)

// libraryRepo lays out the app chart at deploy/chart and the library at deploy/common (the
// app's Chart.yaml says file://../common), then applies files.
func libraryRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	return repoWith(t, map[string]string{"deploy/chart": libApp, "deploy/common": libCommon}, files)
}

// packageChart writes dir's chart as name-version.tgz into out (what `helm package` does).
func packageChart(t *testing.T, dir, out string, version string) string {
	t.Helper()
	ch, err := loader.Load(dir)
	assert.NilError(t, err)
	if version != "" {
		ch.Metadata.Version = version
	}
	assert.NilError(t, os.MkdirAll(out, 0o755))
	p, err := chartutil.Save(ch, out)
	assert.NilError(t, err)
	return p
}

// chartRepository serves a static Helm chart repository (index.yaml and the packages, as any
// web server or object store does) with the library chart in the given versions.
func chartRepository(t *testing.T, versions ...string) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	for _, v := range versions {
		packageChart(t, libCommon, dir, v)
	}
	idx, err := repo.IndexDirectory(dir, srv.URL)
	assert.NilError(t, err)
	assert.NilError(t, idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644))
	return srv
}

func withRepository(t *testing.T, src, repository string) {
	t.Helper()
	p := filepath.Join(src, "deploy/chart/Chart.yaml")
	data, err := os.ReadFile(p)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(p, []byte(strings.Replace(string(data), "file://../common", repository, 1)), 0o644))
}

func TestLibraryDependency(t *testing.T) {
	chartYAML, err := os.ReadFile(filepath.Join(libApp, "Chart.yaml"))
	assert.NilError(t, err)
	depLine := lineOf(t, string(chartYAML), "  - name: common")
	cases := map[string]struct {
		setup       func(t *testing.T, src string)
		build       bool
		wantErr     string // dependency diagnostic at Chart.yaml's entry
		wantVersion string
		wantSource  chartSource
	}{
		"vendored as a directory": {
			setup: func(t *testing.T, src string) {
				copyDir(t, libCommon, filepath.Join(src, "deploy/chart/charts/common"))
			},
			wantVersion: "1.4.0", wantSource: chartSource{Dir: "deploy/chart/charts/common"},
		},
		"vendored as an archive": {
			setup: func(t *testing.T, src string) {
				packageChart(t, libCommon, filepath.Join(src, "deploy/chart/charts"), "")
			},
			wantVersion: "1.4.0", wantSource: chartSource{Archive: "deploy/chart/charts/common-1.4.0.tgz"},
		},
		"not vendored": {
			wantErr: "dependency common 1.x.x (file://../common) is not vendored under deploy/chart/charts/: run `helm dependency build deploy/chart` and commit deploy/chart/charts/, " +
				"or set repositories[].dependencyBuild: true in the Catalyst configuration",
		},
		"built from its file:// directory": {
			build: true, wantVersion: "1.4.0",
			wantSource: chartSource{Dir: "deploy/common", DeclaredIn: "deploy/chart/Chart.yaml", DeclaredLine: depLine},
		},
		"built from an https chart repository, newest matching version": {
			setup: func(t *testing.T, src string) {
				withRepository(t, src, chartRepository(t, "1.4.0", "1.5.0", "2.0.0").URL)
			},
			build: true, wantVersion: "1.5.0",
		},
		"built from an https chart repository at the version Chart.lock pins": {
			setup: func(t *testing.T, src string) {
				srv := chartRepository(t, "1.4.0", "1.5.0")
				withRepository(t, src, srv.URL)
				writeFile(t, src, "deploy/chart/Chart.lock", "dependencies:\n- name: common\n  repository: "+srv.URL+"\n  version: 1.4.0\ndigest: sha256:x\ngenerated: \"2026-11-01T00:00:00Z\"\n")
			},
			build: true, wantVersion: "1.4.0",
		},
		"chart repository unreachable": {
			setup: func(t *testing.T, src string) {
				srv := chartRepository(t, "1.4.0")
				srv.Close()
				withRepository(t, src, srv.URL)
			},
			build:   true,
			wantErr: "connection refused; vendor it (`helm dependency build deploy/chart`, commit deploy/chart/charts/) or let the preview namespace reach the repository",
		},
		"no matching version in the repository": {
			setup:   func(t *testing.T, src string) { withRepository(t, src, chartRepository(t, "2.0.0").URL) },
			build:   true,
			wantErr: `chart "common" version "1.x.x" not found`,
		},
		"file:// outside the repository": {
			setup:   func(t *testing.T, src string) { withRepository(t, src, "file://../../../elsewhere") },
			build:   true,
			wantErr: "the path leaves the repository",
		},
		"file:// chart of another version": {
			setup: func(t *testing.T, src string) {
				data, err := os.ReadFile(filepath.Join(src, "deploy/common/Chart.yaml"))
				assert.NilError(t, err)
				writeFile(t, src, "deploy/common/Chart.yaml", strings.Replace(string(data), "version: 1.4.0", "version: 2.1.0", 1))
			},
			build:   true,
			wantErr: "fetched version 2.1.0 does not satisfy 1.x.x",
		},
		"repository given as a helm repo alias": {
			setup:   func(t *testing.T, src string) { withRepository(t, src, `"@bitnami"`) },
			build:   true,
			wantErr: `repository "@bitnami": only file://, https:// and oci:// can be fetched`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			src := libraryRepo(t, nil)
			if tc.setup != nil {
				tc.setup(t, src)
			}
			o := shapeOpts(src, "")
			o.DependencyBuild = tc.build
			_, in, err := renderInput(t, o)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				ces := ChartErrors(err)
				assert.Assert(t, is.Len(ces, 1))
				d := ces[0].Diagnostic()
				assert.Check(t, is.Equal(d.Kind, preview.DiagnosticDependency))
				assert.Check(t, is.Equal(d.Path, "deploy/chart/Chart.yaml"))
				assert.Check(t, is.Equal(d.Line, depLine))
				return
			}
			assert.NilError(t, err)
			deps := in.chart.Dependencies()
			assert.Assert(t, is.Len(deps, 1))
			assert.Check(t, is.Equal(deps[0].Metadata.Version, tc.wantVersion))
			if tc.wantSource != (chartSource{}) {
				assert.Check(t, is.DeepEqual(in.src["app/charts/common"], tc.wantSource))
			}
		})
	}
}
