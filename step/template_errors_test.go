package step

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/catalyst-preview/catalyst/preview"
)

func readTestFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	assert.NilError(t, err)
	return string(data)
}

// An error inside a helper (or a library chart's template) is reported at the helper's line,
// with the template that included it as Via, however Helm phrases it.
func TestTemplateErrorsPointAtTheInnermostFile(t *testing.T) {
	helpers := readTestFile(t, filepath.Join(webappChart, "templates/_helpers.tpl"))
	images := readTestFile(t, filepath.Join(libCommon, "templates/_images.tpl"))
	edit := func(old, repl string) string {
		assert.Assert(t, strings.Contains(helpers, old), old)
		return strings.Replace(helpers, old, repl, 1)
	}
	nilPointer := edit(`app.kubernetes.io/managed-by: {{ .Release.Service }}`, `app.kubernetes.io/managed-by: {{ .Release.Service }}
team: {{ .Values.owner.team }}`)
	required := edit(`{{- printf "%s-%s" .Chart.Name .Chart.Version`, `{{- required "set .Values.team for the chart label" .Values.team }}
{{- printf "%s-%s" .Chart.Name .Chart.Version`)
	printfFail := edit(`{{- define "webapp.selectorLabels" -}}`, `{{- define "webapp.selectorLabels" -}}
{{- if gt (int .Values.service.port) 1000 }}{{ fail (printf "service.port %d is above 1000" (int .Values.service.port)) }}{{ end }}`)
	parseErr := edit(`{{- define "webapp.name" -}}`, `{{- define "webapp.name" -}}
{{ nosuchfunc }}`)

	type want struct {
		path, marker, content string // marker: text on the wanted line of content
		msg                   string
		viaPrefix             string // Via's path starts with it; "" means no Via
		viaMarker             string // text on Via's line of Via's file
	}
	cases := map[string]struct {
		src  func(t *testing.T) string
		opts func(o *DeployOptions)
		want want
	}{
		"nil pointer in a helper": {
			src: func(t *testing.T) string {
				return repoWith(t, map[string]string{"deploy/chart": webappChart}, map[string]string{"deploy/chart/templates/_helpers.tpl": nilPointer})
			},
			want: want{path: "deploy/chart/templates/_helpers.tpl", content: nilPointer, marker: ".Values.owner.team",
				msg: "at <.Values.owner.team>: nil pointer evaluating interface {}.team", viaPrefix: "deploy/chart/templates/", viaMarker: `include "webapp.`},
		},
		"required in a helper": {
			src: func(t *testing.T) string {
				return repoWith(t, map[string]string{"deploy/chart": webappChart}, map[string]string{"deploy/chart/templates/_helpers.tpl": required})
			},
			want: want{path: "deploy/chart/templates/_helpers.tpl", content: required, marker: "set .Values.team",
				msg: "set .Values.team for the chart label", viaPrefix: "deploy/chart/templates/", viaMarker: `include "webapp.`},
		},
		"fail with printf in a helper": {
			src: func(t *testing.T) string {
				return repoWith(t, map[string]string{"deploy/chart": webappChart}, map[string]string{"deploy/chart/templates/_helpers.tpl": printfFail})
			},
			opts: func(o *DeployOptions) { o.Set = []string{"service.port=8080"} },
			want: want{path: "deploy/chart/templates/_helpers.tpl", content: printfFail, marker: "is above 1000",
				msg: "service.port 8080 is above 1000", viaPrefix: "deploy/chart/templates/", viaMarker: `include "webapp.`},
		},
		"parse error in a helper": {
			src: func(t *testing.T) string {
				return repoWith(t, map[string]string{"deploy/chart": webappChart}, map[string]string{"deploy/chart/templates/_helpers.tpl": parseErr})
			},
			want: want{path: "deploy/chart/templates/_helpers.tpl", content: parseErr, marker: "nosuchfunc", msg: `function "nosuchfunc" not defined`},
		},
		"required in a library chart built from file://": {
			src: func(t *testing.T) string { return libraryRepo(t, nil) },
			opts: func(o *DeployOptions) {
				o.DependencyBuild = true
				o.Overlay = `{"image": {"repository": ""}}`
			},
			want: want{path: "deploy/common/templates/_images.tpl", content: images, marker: "image.repository is required",
				msg: "image.repository is required", viaPrefix: "deploy/chart/templates/deployment.yaml", viaMarker: `include "common.images.image"`},
		},
		"required in a vendored library chart directory": {
			src: func(t *testing.T) string {
				src := libraryRepo(t, nil)
				copyDir(t, libCommon, filepath.Join(src, "deploy/chart/charts/common"))
				return src
			},
			opts: func(o *DeployOptions) { o.Overlay = `{"image": {"repository": ""}}` },
			want: want{path: "deploy/chart/charts/common/templates/_images.tpl", content: images, marker: "image.repository is required",
				msg: "image.repository is required", viaPrefix: "deploy/chart/templates/deployment.yaml", viaMarker: `include "common.images.image"`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := shapeOpts(tc.src(t), "")
			if tc.opts != nil {
				tc.opts(&o)
			}
			_, _, err := renderInput(t, o)
			ces := ChartErrors(err)
			assert.Assert(t, is.Len(ces, 1), "%v", err)
			d := ces[0].Diagnostic()
			assert.Check(t, is.Equal(d.Kind, preview.DiagnosticTemplate))
			assert.Check(t, is.Equal(d.Path, tc.want.path))
			assert.Check(t, is.Equal(d.Line, lineOf(t, tc.want.content, tc.want.marker)), "%v", err)
			assert.Check(t, is.Equal(d.Message, tc.want.msg))
			if tc.want.viaPrefix == "" {
				assert.Check(t, d.Via == nil, "%+v", d.Via)
				return
			}
			assert.Assert(t, d.Via != nil, "%v", err)
			assert.Check(t, strings.HasPrefix(d.Via.Path, tc.want.viaPrefix), d.Via.Path)
			// The Via line is where the including template calls into the failing file.
			viaFile := strings.Split(readTestFile(t, filepath.Join(o.SourceDir, d.Via.Path)), "\n")
			assert.Assert(t, d.Via.Line > 0 && d.Via.Line <= len(viaFile), "%+v", d.Via)
			assert.Check(t, is.Contains(viaFile[d.Via.Line-1], tc.want.viaMarker))
		})
	}
}

// Inside an archive (a vendored .tgz) there is no repository file to point at: the archive is
// the location and the message says where inside it.
func TestTemplateErrorInsideAnArchive(t *testing.T) {
	src := libraryRepo(t, nil)
	packageChart(t, libCommon, filepath.Join(src, "deploy/chart/charts"), "")
	o := shapeOpts(src, `{"image": {"repository": ""}}`)
	_, _, err := renderInput(t, o)
	ces := ChartErrors(err)
	assert.Assert(t, is.Len(ces, 1), "%v", err)
	d := ces[0].Diagnostic()
	images := readTestFile(t, filepath.Join(libCommon, "templates/_images.tpl"))
	assert.Check(t, is.Equal(d.Path, "deploy/chart/charts/common-1.4.0.tgz"))
	assert.Check(t, is.Equal(d.Line, 0))
	assert.Check(t, is.Equal(d.Message, "in templates/_images.tpl:"+strconv.Itoa(lineOf(t, images, "image.repository is required"))+": image.repository is required"))
	assert.Check(t, d.Via != nil && d.Via.Path == "deploy/chart/templates/deployment.yaml")
}
