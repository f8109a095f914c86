// Package overlay renders a repository's values overlay (`repositories[].values` in the
// Catalyst configuration): a Helm values tree in which the facts of one preview are placed
// where the chart wants them, with `${name}` placeholders.
//
// Substitution is plain string replacement of a fixed set of facts (see Placeholders); no
// template is executed, so nothing in the overlay or in the facts can run code or read
// anything else. A placeholder can appear anywhere inside a string value
// ("https://${preview.host}/api"); `$${` writes a literal `${`. Map keys are never
// substituted. Every value stays a string.
//
// The package has no dependencies beyond the standard library: the configuration validates
// overlays with it at start-up and the deploy step renders them per run.
package overlay

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Facts are what one preview run knows about itself.
type Facts struct {
	Host         string // 7-web.preview.example.com
	URL          string // https://7-web.preview.example.com
	Namespace    string // pr-web-7
	IngressClass string // the configured ingress class; may be empty
	PRNumber     string // 7
	SHA          string // 40-hex head commit
	Image        Image
}

// Image is the image built for the pull request.
type Image struct {
	Registry   string // registry.example.com:5000 (empty for Docker Hub short names)
	Repository string // previews/web: the path in the registry
	Tag        string // pr-7-0123456789ab
	Digest     string // sha256:...; empty when the build reported none
}

// Name is registry/repository, what `helm create` charts call image.repository.
func (i Image) Name() string {
	if i.Registry == "" {
		return i.Repository
	}
	return i.Registry + "/" + i.Repository
}

// PinnedTag is tag@digest when the digest is known (a valid reference suffix that pins the
// image even in charts that only concatenate repository:tag), else the tag.
func (i Image) PinnedTag() string {
	if i.Digest == "" {
		return i.Tag
	}
	if i.Tag == "" {
		return i.Digest // name:sha256:... is not a reference; Ref handles a tagless image
	}
	return i.Tag + "@" + i.Digest
}

// Ref is the full reference deployed: name:tag@digest, name@digest or name:tag.
func (i Image) Ref() string {
	switch {
	case i.Tag == "" && i.Digest != "":
		return i.Name() + "@" + i.Digest
	case i.Digest == "":
		return i.Name() + ":" + i.Tag
	}
	return i.Name() + ":" + i.Tag + "@" + i.Digest
}

// Placeholder is one fact an overlay may place.
type Placeholder struct {
	Name    string
	Example string
	Doc     string
	value   func(Facts) string
}

// Placeholders lists every fact, in the order the documentation shows them.
var Placeholders = []Placeholder{
	{"preview.host", "7-web.preview.example.com", "host the preview is served at", func(f Facts) string { return f.Host }},
	{"preview.url", "https://7-web.preview.example.com", "URL of the preview (scheme and host)", func(f Facts) string { return f.URL }},
	{"preview.namespace", "pr-web-7", "namespace of the preview", func(f Facts) string { return f.Namespace }},
	{"preview.ingressClass", "nginx", "configured ingress class (preview.ingressClass)", func(f Facts) string { return f.IngressClass }},
	{"pr.number", "7", "pull request number (a string)", func(f Facts) string { return f.PRNumber }},
	{"commit.sha", "0123456789abcdef0123456789abcdef01234567", "head commit deployed", func(f Facts) string { return f.SHA }},
	{"commit.shortSha", "0123456789ab", "its first 12 characters", func(f Facts) string { return short(f.SHA) }},
	{"image.registry", "registry.example.com", "registry host of the built image", func(f Facts) string { return f.Image.Registry }},
	{"image.repository", "previews/web", "path of the image in the registry", func(f Facts) string { return f.Image.Repository }},
	{"image.name", "registry.example.com/previews/web", "registry/repository", func(f Facts) string { return f.Image.Name() }},
	{"image.tag", "pr-7-0123456789ab", "tag of the built image", func(f Facts) string { return f.Image.Tag }},
	{"image.digest", "sha256:…", "digest reported by the build; empty when unknown", func(f Facts) string { return f.Image.Digest }},
	{"image.pinnedTag", "pr-7-0123456789ab@sha256:…", "tag@digest when the digest is known, else the tag", func(f Facts) string { return f.Image.PinnedTag() }},
	{"image.ref", "registry.example.com/previews/web:pr-7-0123456789ab@sha256:…", "full reference, pinned when the digest is known", func(f Facts) string { return f.Image.Ref() }},
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

var byName = func() map[string]Placeholder {
	m := make(map[string]Placeholder, len(Placeholders))
	for _, p := range Placeholders {
		m[p.Name] = p
	}
	return m
}()

// Names returns the placeholder names, sorted.
func Names() []string {
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Default is the overlay applied when a repository configures none: the convention of
// charts/example-app and of `helm create`'s image keys. The deploy step applies it only where
// the chart's schema accepts it, and leaves out keys whose fact is empty.
func Default() map[string]any {
	return map[string]any{
		"image": map[string]any{
			"repository": "${image.name}",
			"tag":        "${image.tag}",
			"digest":     "${image.digest}",
		},
		"ingress": map[string]any{
			"host":      "${preview.host}",
			"className": "${preview.ingressClass}",
		},
	}
}

// Error is an invalid overlay, located by its path in the values tree
// ("ingress.hosts[0].host").
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Validate checks that every placeholder is known and well formed and that no map key holds
// one. It returns every problem found (errors.Join of *Error).
func Validate(values map[string]any) error {
	var errs []error
	walk(values, "", func(path string, s string) string {
		if _, err := substitute(s, Facts{}); err != nil {
			errs = append(errs, &Error{Path: path, Msg: err.Error()})
		}
		return s
	}, func(path, key string) {
		if strings.Contains(key, "${") {
			errs = append(errs, &Error{Path: path, Msg: fmt.Sprintf("key %q: placeholders are replaced in values only, not in keys", key)})
		}
	})
	return errors.Join(errs...)
}

// Render returns a copy of values with every placeholder replaced by its fact. Lists and maps
// are copied, so the caller's tree is never changed.
func Render(values map[string]any, f Facts) (map[string]any, error) {
	if err := Validate(values); err != nil {
		return nil, err
	}
	out := walk(values, "", func(_ string, s string) string {
		r, _ := substitute(s, f) // validated above
		return r
	}, nil)
	m, _ := out.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// PruneEmpty removes string leaves that are empty (and maps left empty by that), so that an
// unknown fact (no digest, no ingress class) leaves the chart's own value alone.
func PruneEmpty(values map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range values {
		switch t := v.(type) {
		case string:
			if t == "" {
				continue
			}
		case map[string]any:
			sub := PruneEmpty(t)
			if len(sub) == 0 {
				continue
			}
			v = sub
		}
		out[k] = v
	}
	return out
}

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$`)

// substitute replaces the placeholders of one string.
func substitute(s string, f Facts) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated placeholder in %q (write $${ for a literal ${)", s)
			}
			name := s[i+2 : i+end]
			p, ok := byName[name]
			if !ok {
				if !nameRE.MatchString(name) {
					return "", fmt.Errorf("malformed placeholder ${%s} in %q (write $${ for a literal ${)", name, s)
				}
				return "", fmt.Errorf("unknown placeholder ${%s} (known: %s)", name, strings.Join(Names(), ", "))
			}
			b.WriteString(p.value(f))
			i += end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), nil
}

// walk copies v, passing every string value through leaf and every map key to key.
func walk(v any, path string, leaf func(path, s string) string, key func(path, k string)) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, sub := range t {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if key != nil {
				key(path, k)
			}
			out[k] = walk(sub, p, leaf, key)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, sub := range t {
			out[i] = walk(sub, fmt.Sprintf("%s[%d]", path, i), leaf, key)
		}
		return out
	case string:
		return leaf(path, t)
	}
	return v
}

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// IsDigest reports whether s is sha256:<64 hex>.
func IsDigest(s string) bool { return digestRE.MatchString(s) }

// ParseImage splits "registry/repo:tag", "registry/repo@sha256:..." or
// "registry/repo:tag@sha256:..." into its parts. A registry port ("localhost:5000/repo") is
// not mistaken for a tag; the first path component is the registry when it looks like a host
// (has a dot or a port, or is localhost), as the container runtimes decide.
func ParseImage(ref string) (Image, error) {
	var out Image
	if ref == "" {
		return out, errors.New("image reference is empty")
	}
	if strings.ContainsAny(ref, " \t\n") {
		return out, fmt.Errorf("image reference %q contains white space", ref)
	}
	name := ref
	if i := strings.Index(name, "@"); i >= 0 {
		out.Digest = name[i+1:]
		name = name[:i]
		if !IsDigest(out.Digest) {
			return Image{}, fmt.Errorf("image reference %q: digest %q is not sha256:<64 hex>", ref, out.Digest)
		}
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		out.Tag = name[i+1:]
		name = name[:i]
		if out.Tag == "" {
			return Image{}, fmt.Errorf("image reference %q has an empty tag", ref)
		}
	}
	if name == "" || strings.HasSuffix(name, "/") || strings.HasPrefix(name, "/") || strings.Contains(name, "//") {
		return Image{}, fmt.Errorf("image reference %q has no repository", ref)
	}
	if out.Tag == "" && out.Digest == "" {
		return Image{}, fmt.Errorf("image reference %q has neither tag nor digest", ref)
	}
	out.Repository = name
	if first, rest, ok := strings.Cut(name, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		out.Registry, out.Repository = first, rest
	}
	return out, nil
}
