package step

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestResolveInSource(t *testing.T) {
	cases := map[string]struct {
		source, path, want, wantErr string
	}{
		"relative":             {source: "/ws/src", path: "charts/app", want: "/ws/src/charts/app"},
		"dot slash":            {source: "/ws/src", path: "./charts/app", want: "/ws/src/charts/app"},
		"root of repository":   {source: "/ws/src", path: ".", want: "/ws/src"},
		"escapes":              {source: "/ws/src", path: "../etc", wantErr: "stay inside"},
		"escapes after clean":  {source: "/ws/src", path: "charts/../../x", wantErr: "stay inside"},
		"absolute with source": {source: "/ws/src", path: "/etc/passwd", wantErr: "relative"},
		"no source":            {path: "/abs/chart/", want: "/abs/chart"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := resolveInSource(tc.source, tc.path)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, got, tc.want)
		})
	}
}

func TestMergeValues(t *testing.T) {
	fileA := valuesFile{Values: map[string]any{"image": map[string]any{"repository": "a", "pullPolicy": "Always"}, "replicaCount": 2}}
	fileB := valuesFile{Values: map[string]any{"image": map[string]any{"repository": "b"}, "ingress": map[string]any{
		"hosts": []any{map[string]any{"host": "chart.local", "paths": []any{"/"}}, map[string]any{"host": "second.local"}}}}}
	cases := map[string]struct {
		files          []valuesFile
		overlay        map[string]any
		set, setString []string
		want           map[string]any
		wantErr        string
	}{
		"later file wins, maps merge": {
			files: []valuesFile{fileA, fileB},
			want: map[string]any{"image": map[string]any{"repository": "b", "pullPolicy": "Always"}, "replicaCount": 2,
				"ingress": fileB.Values["ingress"]},
		},
		"the overlay beats files and writes lists whole": {
			files:   []valuesFile{fileA, fileB},
			overlay: map[string]any{"image": map[string]any{"tag": "pr-1"}, "ingress": map[string]any{"hosts": []any{map[string]any{"host": "1-web.preview.test"}}}},
			want: map[string]any{"image": map[string]any{"repository": "b", "pullPolicy": "Always", "tag": "pr-1"}, "replicaCount": 2,
				"ingress": map[string]any{"hosts": []any{map[string]any{"host": "1-web.preview.test"}}}},
		},
		"--set last": {
			overlay:   map[string]any{"ingress": map[string]any{"host": "h"}},
			set:       []string{"ingress.host=other,replicaCount=3"},
			setString: []string{"image.tag=007"},
			want:      map[string]any{"ingress": map[string]any{"host": "other"}, "replicaCount": int64(3), "image": map[string]any{"tag": "007"}},
		},
		"bad --set": {set: []string{"a[=1"}, wantErr: "--set"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := mergeValues(tc.files, tc.overlay, tc.set, tc.setString)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				var ie *InputError
				assert.Check(t, errors.As(err, &ie))
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
	// The files' own maps were not written to.
	assert.DeepEqual(t, fileA.Values["image"], map[string]any{"repository": "a", "pullPolicy": "Always"})
	assert.Check(t, is.Len(fileB.Values["ingress"].(map[string]any)["hosts"], 2))
}

func TestReadValuesFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		assert.NilError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	cases := map[string]struct {
		path     string
		want     map[string]any
		wantLine int
		wantErr  string
	}{
		"ok":          {path: write("ok.yaml", "a:\n  b: 1\n"), want: map[string]any{"a": map[string]any{"b": float64(1)}}},
		"empty":       {path: write("empty.yaml", "# nothing\n"), want: map[string]any{}},
		"missing":     {path: filepath.Join(dir, "nope.yaml"), wantErr: "not found"},
		"invalid":     {path: write("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n"), wantLine: 2, wantErr: "invalid YAML"},
		"bad mapping": {path: write("bad2.yaml", "a:\n  b: 1\n   c: 2\n"), wantLine: 3, wantErr: "mapping values are not allowed"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f, err := readValuesFile(tc.path, "deploy/values.yaml")
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				if tc.wantLine > 0 {
					var ce *ChartError
					assert.Assert(t, errors.As(err, &ce))
					assert.Check(t, is.Equal(ce.File, "deploy/values.yaml"))
					assert.Check(t, ce.Line >= tc.wantLine && ce.Line <= tc.wantLine+1, "line %d", ce.Line)
				}
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, f.Values, tc.want)
		})
	}
}

func TestYAMLKeyLine(t *testing.T) {
	doc := []byte("image:\n  repository: a\n  tag: b\nargs:\n  - x\n  - y\n")
	cases := map[string]struct {
		keys []string
		want int
	}{
		"top":        {keys: []string{"image"}, want: 1},
		"nested":     {keys: []string{"image", "tag"}, want: 3},
		"sequence":   {keys: []string{"args", "1"}, want: 6},
		"missing":    {keys: []string{"image", "digest"}, want: 0},
		"bad index":  {keys: []string{"args", "9"}, want: 0},
		"whole file": {keys: nil, want: 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, yamlKeyLine(doc, tc.keys), tc.want)
		})
	}
}
