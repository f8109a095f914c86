package overlay

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"sigs.k8s.io/yaml"
)

var digest = "sha256:" + strings.Repeat("ab", 32)

func facts() Facts {
	return Facts{
		Host: "7-web.preview.example.com", URL: "https://7-web.preview.example.com", Namespace: "pr-web-7",
		IngressClass: "nginx", PRNumber: "7", SHA: "0123456789abcdef0123456789abcdef01234567",
		Image: Image{Registry: "registry.example.com:5000", Repository: "previews/web", Tag: "pr-7-0123456789ab", Digest: digest},
	}
}

func parse(t *testing.T, y string) map[string]any {
	t.Helper()
	var m map[string]any
	assert.NilError(t, yaml.Unmarshal([]byte(y), &m))
	return m
}

func TestRenderPlacesFactsAndKeepsListsWhole(t *testing.T) {
	in := parse(t, `
ingress:
  enabled: true
  hosts:
    - host: ${preview.host}
      paths: [{path: /, pathType: Prefix}]
  tls: []
image:
  registry: ${image.registry}
  repository: ${image.repository}
  tag: ${image.pinnedTag}
env:
  - {name: PUBLIC_URL, value: "${preview.url}/app"}
  - {name: BUILD, value: "pr ${pr.number} at ${commit.shortSha} in ${preview.namespace}"}
  - {name: LITERAL, value: "$${HOME} stays, $$ too, price $5"}
ref: ${image.ref}
replicas: 1
`)
	out, err := Render(in, facts())
	assert.NilError(t, err)
	want := parse(t, `
ingress:
  enabled: true
  hosts:
    - host: 7-web.preview.example.com
      paths: [{path: /, pathType: Prefix}]
  tls: []
image:
  registry: registry.example.com:5000
  repository: previews/web
  tag: pr-7-0123456789ab@`+digest+`
env:
  - {name: PUBLIC_URL, value: "https://7-web.preview.example.com/app"}
  - {name: BUILD, value: "pr 7 at 0123456789ab in pr-web-7"}
  - {name: LITERAL, value: "${HOME} stays, $$ too, price $5"}
ref: registry.example.com:5000/previews/web:pr-7-0123456789ab@`+digest+`
replicas: 1
`)
	assert.DeepEqual(t, out, want)
	// The input is not changed.
	assert.Equal(t, in["ingress"].(map[string]any)["hosts"].([]any)[0].(map[string]any)["host"], "${preview.host}")
}

func TestRenderWithoutDigestIsUnpinned(t *testing.T) {
	f := facts()
	f.Image.Digest = ""
	out, err := Render(parse(t, "a: ${image.pinnedTag}\nb: ${image.ref}\nc: '${image.digest}'\n"), f)
	assert.NilError(t, err)
	assert.DeepEqual(t, out, map[string]any{"a": "pr-7-0123456789ab", "b": "registry.example.com:5000/previews/web:pr-7-0123456789ab", "c": ""})
}

func TestValidateNamesEveryBadPlaceholder(t *testing.T) {
	cases := map[string]struct {
		yaml string
		want []string
	}{
		"unknown name": {
			yaml: "ingress:\n  hosts:\n    - host: ${preview.hots}\n",
			want: []string{"ingress.hosts[0].host: unknown placeholder ${preview.hots} (known: commit.sha,"},
		},
		"template syntax is not a placeholder": {
			yaml: "a: '${{ .Values.x }}'\n",
			want: []string{"a: malformed placeholder ${{ .Values.x } in"},
		},
		"unterminated": {
			yaml: "a: 'x ${preview.host'\n",
			want: []string{"a: unterminated placeholder in \"x ${preview.host\""},
		},
		"placeholder in a key": {
			yaml: "hosts:\n  ${preview.host}: [/]\n",
			want: []string{`hosts: key "${preview.host}": placeholders are replaced in values only`},
		},
		"several at once": {
			yaml: "a: ${x}\nb: [ok, '${y'] \n",
			want: []string{"a: unknown placeholder ${x}", "b[1]: unterminated placeholder"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := Validate(parse(t, tc.yaml))
			assert.Assert(t, err != nil)
			for _, w := range tc.want {
				assert.Check(t, is.Contains(err.Error(), w))
			}
			_, err = Render(parse(t, tc.yaml), facts())
			assert.Check(t, err != nil, "Render refuses what Validate refuses")
		})
	}
	assert.NilError(t, Validate(parse(t, "a: plain\nb: 3\nc: [x, {d: $notaplaceholder}]\n")))
}

// A fact's value is inserted as text, never interpreted again: a host that itself looks like a
// placeholder (it cannot, but a future fact might carry repository-controlled text) stays as is.
func TestFactsAreNotSubstitutedTwice(t *testing.T) {
	f := facts()
	f.Host = "${image.digest}{{ .Values }}"
	out, err := Render(map[string]any{"h": "${preview.host}"}, f)
	assert.NilError(t, err)
	assert.Equal(t, out["h"], "${image.digest}{{ .Values }}")
}

func TestDefaultPrunedLeavesUnknownFactsToTheChart(t *testing.T) {
	f := facts()
	f.Image.Digest, f.IngressClass = "", ""
	out, err := Render(Default(), f)
	assert.NilError(t, err)
	assert.DeepEqual(t, PruneEmpty(out), map[string]any{
		"image":   map[string]any{"repository": "registry.example.com:5000/previews/web", "tag": "pr-7-0123456789ab"},
		"ingress": map[string]any{"host": "7-web.preview.example.com"},
	})
}

func TestPlaceholdersAreDocumentedOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Placeholders {
		assert.Check(t, !seen[p.Name], p.Name)
		seen[p.Name] = true
		assert.Check(t, nameRE.MatchString(p.Name), p.Name)
		assert.Check(t, p.Doc != "" && p.Example != "", p.Name)
	}
}

func TestParseImage(t *testing.T) {
	cases := map[string]struct {
		ref     string
		want    Image
		wantErr string
	}{
		"registry with port": {ref: "localhost:5000/acme/web:pr-1", want: Image{Registry: "localhost:5000", Repository: "acme/web", Tag: "pr-1"}},
		"registry host":      {ref: "registry.example.com/previews/web:pr-7-0123456789ab", want: Image{Registry: "registry.example.com", Repository: "previews/web", Tag: "pr-7-0123456789ab"}},
		"docker hub":         {ref: "acme/web:1", want: Image{Repository: "acme/web", Tag: "1"}},
		"tag and digest":     {ref: "r.io/a:1@" + digest, want: Image{Registry: "r.io", Repository: "a", Tag: "1", Digest: digest}},
		"digest only":        {ref: "r.io/a@" + digest, want: Image{Registry: "r.io", Repository: "a", Digest: digest}},
		"no tag":             {ref: "r.io/a", wantErr: "neither tag nor digest"},
		"bad digest":         {ref: "r.io/a@sha256:xyz", wantErr: "is not sha256:<64 hex>"},
		"empty tag":          {ref: "r.io/a:", wantErr: "empty tag"},
		"no repository":      {ref: "r.io/:1", wantErr: "no repository"},
		"space":              {ref: "r.io/a :1", wantErr: "white space"},
		"empty":              {ref: "", wantErr: "empty"},
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
	assert.Equal(t, Image{Registry: "r.io", Repository: "a", Digest: digest}.Ref(), "r.io/a@"+digest)
}
