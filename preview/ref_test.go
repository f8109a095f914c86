package preview

import (
	"testing"

	"gotest.tools/v3/assert"
)

func TestParseRef(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    Ref
		wantErr string
	}{
		"owner/repo#n":             {in: "acme/shop#42", want: Ref{Repo: "acme/shop", Number: 42}},
		"dots and dashes":          {in: "my-org/my.site_v2#7", want: Ref{Repo: "my-org/my.site_v2", Number: 7}},
		"pull request URL":         {in: "https://github.com/acme/shop/pull/42", want: Ref{Repo: "acme/shop", Number: 42}},
		"enterprise URL":           {in: "https://git.example.com/acme/shop/pull/9/", want: Ref{Repo: "acme/shop", Number: 9}},
		"namespace":                {in: "pr-shop-42", want: Ref{Namespace: "pr-shop-42"}},
		"surrounding spaces":       {in: " acme/shop#1 ", want: Ref{Repo: "acme/shop", Number: 1}},
		"missing number":           {in: "acme/shop#", wantErr: "expected OWNER/REPO#NUMBER"},
		"missing owner":            {in: "shop#42", wantErr: "expected OWNER/REPO#NUMBER"},
		"number zero":              {in: "acme/shop#0", wantErr: "numbers start at 1"},
		"not a number":             {in: "acme/shop#x1", wantErr: "expected OWNER/REPO#NUMBER"},
		"issue URL":                {in: "https://github.com/acme/shop/issues/42", wantErr: "not a pull request URL"},
		"upper-case namespace":     {in: "PR-Shop-42", wantErr: "neither OWNER/REPO#NUMBER nor a namespace"},
		"empty":                    {in: "", wantErr: "neither OWNER/REPO#NUMBER nor a namespace"},
		"path traversal repo name": {in: "acme/..#1", wantErr: `".." is not a repository name`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseRef(tc.in)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				assert.Equal(t, KindOf(err), KindInvalid)
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
}
