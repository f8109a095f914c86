package step

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/catalyst-preview/catalyst/preview"
)

const exampleChart = "../charts/example-app"

// sourceWithChart copies charts/example-app into a fresh repository directory, applies edits
// (file relative to the chart -> new content; "" deletes), and returns the repository root.
func sourceWithChart(t *testing.T, edits map[string]string) string {
	t.Helper()
	src := t.TempDir()
	dst := filepath.Join(src, "charts", "example-app")
	err := filepath.WalkDir(exampleChart, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(exampleChart, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	assert.NilError(t, err)
	for name, content := range edits {
		p := filepath.Join(dst, name)
		if content == "" {
			assert.NilError(t, os.Remove(p))
			continue
		}
		assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		assert.NilError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return src
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	assert.NilError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
}

// lineOf returns the 1-based line of the first line containing marker.
func lineOf(t *testing.T, content, marker string) int {
	t.Helper()
	for i, l := range strings.Split(content, "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	t.Fatalf("marker %q not found", marker)
	return 0
}

func readChartFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(exampleChart, name))
	assert.NilError(t, err)
	return string(data)
}

func deployOpts(src string) DeployOptions {
	o := NewDeployOptions()
	o.SourceDir = src
	o.Chart = "charts/example-app"
	o.Image = "registry.local:5000/acme/web:pr-7-0123456789ab"
	o.Host = "7-web.preview.test"
	return *o
}

func render(t *testing.T, o DeployOptions) (map[string]string, error) {
	t.Helper()
	out, _, err := renderInput(t, o)
	return out, err
}

// renderInput renders offline as the deploy does before it contacts the cluster.
func renderInput(t *testing.T, o DeployOptions) (map[string]string, *localInput, error) {
	t.Helper()
	if o.HelmCache == "" {
		o.HelmCache = t.TempDir()
	}
	in, err := loadInput(o, "pr-web-7")
	if err != nil {
		return nil, nil, err
	}
	out, err := preflight(in, chartutil.ReleaseOptions{Name: o.Release, Namespace: "pr-web-7", Revision: 1, IsInstall: true}, capabilities("v1.37.2"))
	return out, in, err
}

// The chart as the pipeline deploys it; also proves rendering is deterministic (a second deploy
// of the same revision must not change the pod template).
func TestExampleChartRenders(t *testing.T) {
	o := deployOpts(sourceWithChart(t, nil))
	o.ImageDigest = "sha256:" + strings.Repeat("0f", 32)
	o.IngressClass = "nginx"
	first, err := render(t, o)
	assert.NilError(t, err)
	second, err := render(t, o)
	assert.NilError(t, err)
	assert.DeepEqual(t, first, second)

	names := make([]string, 0, len(first))
	for n := range first {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		if strings.HasPrefix(filepath.Base(n), "_") {
			continue
		}
		b.WriteString("# " + n + "\n" + strings.TrimSpace(first[n]) + "\n")
	}
	golden.Assert(t, b.String(), "example-app.golden")
}

func TestDeployInputErrors(t *testing.T) {
	deployment := readChartFile(t, "templates/deployment.yaml")
	ingress := readChartFile(t, "templates/ingress.yaml")
	values := readChartFile(t, "values.yaml")
	badTpl := strings.Replace(deployment, "{{ .Values.containerPort }}", "{{ .Values.nothing.port }}", 1)
	parseTpl := strings.Replace(ingress, "{{- with .Values.ingress.className }}", "{{- with .Values.ingress.className }}{{ nosuchfunc }}", 1)

	cases := map[string]struct {
		edits      map[string]string      // chart edits
		repo       map[string]string      // extra repository files
		opts       func(o *DeployOptions) // option changes
		wantFile   string
		wantLine   int
		wantCol    int // -1: any column
		wantMsg    string
		wantKind   string // diagnostic kind; "" is template
		inputError bool   // InputError rather than ChartError
	}{
		"missing chart": {
			opts: func(o *DeployOptions) { o.Chart = "charts/nope" }, wantMsg: "chart charts/nope not found", inputError: true,
		},
		"chart without Chart.yaml": {
			edits: map[string]string{"Chart.yaml": ""}, wantMsg: "no Chart.yaml", inputError: true,
		},
		"chart path leaves the repository": {
			opts: func(o *DeployOptions) { o.Chart = "../../etc" }, wantMsg: "stay inside", inputError: true,
		},
		"values file not found": {
			opts: func(o *DeployOptions) { o.ValuesFiles = []string{"deploy/preview.yaml"} }, wantMsg: "values file deploy/preview.yaml not found", inputError: true,
		},
		"values file not YAML": {
			repo:     map[string]string{"deploy/preview.yaml": "replicaCount: 1\nimage: {repository: x\n"},
			opts:     func(o *DeployOptions) { o.ValuesFiles = []string{"deploy/preview.yaml"} },
			wantFile: "deploy/preview.yaml", wantLine: 2, wantMsg: "invalid YAML", wantKind: preview.DiagnosticValues,
		},
		"values do not match the schema": {
			repo:     map[string]string{"deploy/preview.yaml": "ingress:\n  enabled: true\nreplicaCount: two\n"},
			opts:     func(o *DeployOptions) { o.ValuesFiles = []string{"deploy/preview.yaml"} },
			wantFile: "deploy/preview.yaml", wantLine: 3, wantMsg: "replicaCount: got string, want integer", wantKind: preview.DiagnosticValues,
		},
		"unknown value key (typo)": {
			repo:     map[string]string{"deploy/preview.yaml": "replicas: 2\n"},
			opts:     func(o *DeployOptions) { o.ValuesFiles = []string{"deploy/preview.yaml"} },
			wantFile: "deploy/preview.yaml", wantLine: 1, wantMsg: "additional properties 'replicas' not allowed", wantKind: preview.DiagnosticValues,
		},
		"chart default violates the schema": {
			edits:    map[string]string{"values.yaml": strings.Replace(values, "containerPort: 8080", "containerPort: 0", 1)},
			wantFile: "charts/example-app/values.yaml", wantLine: lineOf(t, values, "containerPort: 8080"), wantMsg: "containerPort", wantKind: preview.DiagnosticValues,
		},
		"override violates the schema": {
			opts:     func(o *DeployOptions) { o.Set = []string{"service.port=70000"} },
			wantFile: "charts/example-app/values.yaml", wantLine: lineOf(t, values, "  port: 80"), wantMsg: "service.port", wantKind: preview.DiagnosticValues,
		},
		"template execution error": {
			edits:    map[string]string{"templates/deployment.yaml": badTpl},
			wantFile: "charts/example-app/templates/deployment.yaml", wantLine: lineOf(t, badTpl, ".Values.nothing.port"),
			wantCol: -1, // text/template's column, somewhere in the action
			wantMsg: "nil pointer evaluating interface {}.port",
		},
		"template parse error": {
			edits:    map[string]string{"templates/ingress.yaml": parseTpl},
			wantFile: "charts/example-app/templates/ingress.yaml", wantLine: lineOf(t, parseTpl, "nosuchfunc"),
			wantMsg: `function "nosuchfunc" not defined`,
		},
		"fail in a template": {
			edits:    map[string]string{"templates/guard.yaml": "# guard\n\n{{ fail \"set image.repository\" }}\n"},
			wantFile: "charts/example-app/templates/guard.yaml", wantLine: 3, wantMsg: "set image.repository",
		},
		"rendered output not YAML": {
			edits:    map[string]string{"templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  a: b\n   c: d\n"},
			wantFile: "charts/example-app/templates/config.yaml", wantMsg: "rendered output is not valid YAML (line 7", wantKind: preview.DiagnosticManifest,
		},
		"rendered document without kind": {
			edits:    map[string]string{"templates/config.yaml": "apiVersion: v1\nmetadata:\n  name: x\n"},
			wantFile: "charts/example-app/templates/config.yaml", wantMsg: "has no apiVersion or kind", wantKind: preview.DiagnosticManifest,
		},
		"missing vendored dependency": {
			edits:    map[string]string{"Chart.yaml": readChartFile(t, "Chart.yaml") + "dependencies:\n  - name: redis\n    version: 1.0.0\n    repository: https://charts.example\n"},
			wantFile: "charts/example-app/Chart.yaml", wantLine: lineOf(t, readChartFile(t, "Chart.yaml")+"dependencies:\n  - name: redis", "  - name: redis"),
			wantMsg:  "dependency redis 1.0.0 (https://charts.example) is not vendored under charts/example-app/charts/: run `helm dependency build charts/example-app` and commit charts/example-app/charts/, or set repositories[].dependencyBuild: true",
			wantKind: preview.DiagnosticDependency,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			src := sourceWithChart(t, tc.edits)
			for f, c := range tc.repo {
				writeFile(t, src, f, c)
			}
			o := deployOpts(src)
			if tc.opts != nil {
				tc.opts(&o)
			}
			_, err := render(t, o)
			assert.ErrorContains(t, err, tc.wantMsg)
			assert.Check(t, IsUserError(err))
			if tc.inputError {
				var ie *InputError
				assert.Check(t, errors.As(err, &ie), "%T", err)
				return
			}
			ces := ChartErrors(err)
			assert.Assert(t, is.Len(ces, 1), "%v", err)
			ce := ces[0]
			assert.Check(t, is.Equal(ce.File, tc.wantFile))
			if tc.wantLine > 0 {
				assert.Check(t, is.Equal(ce.Line, tc.wantLine), "%v", err)
			}
			if tc.wantCol < 0 {
				assert.Check(t, ce.Column > 0, "%v", err)
			}
			kind := tc.wantKind
			if kind == "" {
				kind = preview.DiagnosticTemplate
			}
			assert.Check(t, is.Equal(ce.Diagnostic().Kind, kind))
		})
	}
}

func TestChartErrorFormat(t *testing.T) {
	cases := map[string]struct {
		err  *ChartError
		want string
	}{
		"file line column": {err: &ChartError{File: "c/templates/a.yaml", Line: 3, Column: 7, Msg: "boom"}, want: "c/templates/a.yaml:3:7: boom"},
		"file line":        {err: &ChartError{File: "values.yaml", Line: 3, Msg: "boom"}, want: "values.yaml:3: boom"},
		"file only":        {err: &ChartError{File: "c", Msg: "boom", Detail: "  1 | x"}, want: "c: boom\n  1 | x"},
		"via":              {err: &ChartError{File: "c/templates/_helpers.tpl", Line: 9, Msg: "boom", Via: &preview.Location{Path: "c/templates/web.yaml", Line: 4}}, want: "c/templates/_helpers.tpl:9: boom (included from c/templates/web.yaml:4)"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.err.Error(), tc.want)
		})
	}
}
