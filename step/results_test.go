package step

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/fs"
)

func TestWriteResults(t *testing.T) {
	cases := map[string]struct {
		dir     func(t *testing.T) string
		results map[string]string
		want    fs.Manifest
		wantErr string
	}{
		"files without newline": {
			dir:     func(t *testing.T) string { return t.TempDir() },
			results: map[string]string{ResultURL: "https://1-web.preview.test", ResultReleaseRevision: "3"},
			want: fs.Expected(t, fs.WithMode(0o700),
				fs.WithFile("url", "https://1-web.preview.test", fs.WithMode(0o644)),
				fs.WithFile("release-revision", "3", fs.WithMode(0o644))),
		},
		"no dir writes nothing": {dir: func(*testing.T) string { return "" }, results: map[string]string{"url": "x"}},
		"missing dir": {
			dir:     func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			results: map[string]string{"url": "x"}, wantErr: `write result "url"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := tc.dir(t)
			err := WriteResults(dir, tc.results)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			assert.NilError(t, err)
			if dir != "" {
				assert.NilError(t, os.Chmod(dir, 0o700))
				assert.Assert(t, fs.Equal(dir, tc.want))
			}
		})
	}
}
