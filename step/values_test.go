package step

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParseImage(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	cases := map[string]struct {
		ref     string
		want    ImageRef
		wantErr string
	}{
		"registry with port and tag": {ref: "registry.local:5000/acme/web:pr-1-0123456789ab",
			want: ImageRef{Repository: "registry.local:5000/acme/web", Tag: "pr-1-0123456789ab"}},
		"docker hub":      {ref: "docker.io/hashicorp/http-echo:1.0.0", want: ImageRef{Repository: "docker.io/hashicorp/http-echo", Tag: "1.0.0"}},
		"digest only":     {ref: "ghcr.io/a/b@" + digest, want: ImageRef{Repository: "ghcr.io/a/b", Digest: digest}},
		"tag and digest":  {ref: "ghcr.io/a/b:v1@" + digest, want: ImageRef{Repository: "ghcr.io/a/b", Tag: "v1", Digest: digest}},
		"port but no tag": {ref: "localhost:5000/web", wantErr: "neither tag nor digest"},
		"empty":           {ref: "", wantErr: "empty"},
		"empty tag":       {ref: "a/b:", wantErr: "empty tag"},
		"bad digest":      {ref: "a/b@sha256:xyz", wantErr: "not sha256"},
		"white space":     {ref: "a/b:1 2", wantErr: "white space"},
		"no repository":   {ref: ":tag", wantErr: "no repository"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseImage(tc.ref)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
}

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
	fileB := valuesFile{Values: map[string]any{"image": map[string]any{"repository": "b"}, "ingress": map[string]any{"host": "file.example"}}}
	cases := map[string]struct {
		files   []valuesFile
		o       Overrides
		want    map[string]any
		wantErr string
	}{
		"later file wins, maps merge": {
			files: []valuesFile{fileA, fileB},
			want: map[string]any{"image": map[string]any{"repository": "b", "pullPolicy": "Always"}, "replicaCount": 2,
				"ingress": map[string]any{"host": "file.example"}},
		},
		"overrides beat files": {
			files: []valuesFile{fileB},
			o: Overrides{Image: ImageRef{Repository: "reg/web", Tag: "pr-1-abc"}, Host: "1-web.preview.test", IngressClass: "nginx",
				Requests: map[string]string{"cpu": "50m"}, Keys: DefaultValueKeys},
			want: map[string]any{
				"image":     map[string]any{"repository": "reg/web", "tag": "pr-1-abc"},
				"ingress":   map[string]any{"host": "1-web.preview.test", "className": "nginx"},
				"resources": map[string]any{"requests": map[string]any{"cpu": "50m"}},
			},
		},
		"empty key is not set": {
			o:    Overrides{Image: ImageRef{Repository: "reg/web", Tag: "t", Digest: "sha256:x"}, Keys: ValueKeys{ImageRepository: "app.image"}},
			want: map[string]any{"app": map[string]any{"image": "reg/web"}},
		},
		"--set last": {
			o:    Overrides{Host: "h", Keys: DefaultValueKeys, Set: []string{"ingress.host=other,replicaCount=3"}, SetString: []string{"image.tag=007"}},
			want: map[string]any{"ingress": map[string]any{"host": "other"}, "replicaCount": int64(3), "image": map[string]any{"tag": "007"}},
		},
		"bad --set": {o: Overrides{Set: []string{"a[=1"}}, wantErr: "--set"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := mergeValues(tc.files, tc.o)
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
	assert.DeepEqual(t, fileB.Values["image"], map[string]any{"repository": "b"})
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
