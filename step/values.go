package step

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// ImageRef is an image reference split the way charts usually take it.
type ImageRef struct {
	Repository string // registry/path, e.g. registry.local:5000/acme/web
	Tag        string // may be empty when Digest is set
	Digest     string // sha256:..., may be empty
}

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// ParseImage splits "registry/repo:tag", "registry/repo@sha256:..." or
// "registry/repo:tag@sha256:..." into repository, tag and digest. A registry port
// ("localhost:5000/repo") is not mistaken for a tag.
func ParseImage(ref string) (ImageRef, error) {
	var out ImageRef
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
		if !digestRE.MatchString(out.Digest) {
			return ImageRef{}, fmt.Errorf("image reference %q: digest %q is not sha256:<64 hex>", ref, out.Digest)
		}
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		out.Tag = name[i+1:]
		name = name[:i]
		if out.Tag == "" {
			return ImageRef{}, fmt.Errorf("image reference %q has an empty tag", ref)
		}
	}
	if name == "" || strings.HasSuffix(name, "/") || strings.HasPrefix(name, "/") {
		return ImageRef{}, fmt.Errorf("image reference %q has no repository", ref)
	}
	if out.Tag == "" && out.Digest == "" {
		return ImageRef{}, fmt.Errorf("image reference %q has neither tag nor digest", ref)
	}
	out.Repository = name
	return out, nil
}

// resolveInSource resolves p against the fetched source directory. With a source directory,
// p must stay inside it (a repository's configuration cannot point the step elsewhere);
// without one, p is used as given (tests and local runs).
func resolveInSource(sourceDir, p string) (string, error) {
	if sourceDir == "" {
		return filepath.Clean(p), nil
	}
	rel := filepath.Clean(strings.TrimPrefix(p, "./"))
	if !filepath.IsLocal(rel) && rel != "." {
		return "", fmt.Errorf("path %q must be relative to the repository root and stay inside it", p)
	}
	return filepath.Join(sourceDir, rel), nil
}

// valuesFile is one user values file, kept with its bytes so that schema errors can be mapped
// back to a line.
type valuesFile struct {
	Display string // path as the developer knows it (relative to the repository)
	Data    []byte
	Values  map[string]any
}

// readValuesFile reads and parses one values file.
func readValuesFile(path, display string) (valuesFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return valuesFile{}, &InputError{Msg: fmt.Sprintf("values file %s not found (looked at %s)", display, path)}
	}
	if err != nil {
		return valuesFile{}, fmt.Errorf("read values file %s: %w", display, err)
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal(data, &vals); err != nil {
		line, msg := yamlErrorLine(err)
		return valuesFile{}, &ChartError{File: display, Line: line, Msg: "invalid YAML: " + msg}
	}
	if vals == nil {
		vals = map[string]any{}
	}
	return valuesFile{Display: display, Data: data, Values: vals}, nil
}

var yamlLineRE = regexp.MustCompile(`(?:yaml: )?line (\d+): `)

// yamlErrorLine pulls the line number out of a go-yaml error. go-yaml reports syntax errors
// only as text ("yaml: line 3: ..."), so there is no typed field to read.
func yamlErrorLine(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	m := yamlLineRE.FindStringSubmatchIndex(msg)
	if m == nil {
		return 0, msg
	}
	var line int
	fmt.Sscanf(msg[m[2]:m[3]], "%d", &line)
	return line, msg[:m[0]] + msg[m[1]:]
}

// Overrides are the values the deploy step sets on top of the values files: the image built
// for this pull request, the preview host and ingress class, resources, and --set pairs.
type Overrides struct {
	Image        ImageRef
	Host         string
	IngressClass string
	Requests     map[string]string
	Limits       map[string]string
	Keys         ValueKeys
	Set          []string // helm --set syntax
	SetString    []string // helm --set-string syntax
}

// ValueKeys names where in the chart's values each override goes (dotted paths). A key left
// empty is not set.
type ValueKeys struct {
	ImageRepository string
	ImageTag        string
	ImageDigest     string
	Host            string
	IngressClass    string
	Resources       string
}

// DefaultValueKeys follow the layout `helm create` generates (and charts/example-app uses).
var DefaultValueKeys = ValueKeys{
	ImageRepository: "image.repository",
	ImageTag:        "image.tag",
	ImageDigest:     "image.digest",
	Host:            "ingress.host",
	IngressClass:    "ingress.className",
	Resources:       "resources",
}

// mergeValues merges the values files in order (later wins, maps merged deeply), then the
// overrides, then --set and --set-string, like `helm upgrade -f a -f b --set ...`.
func mergeValues(files []valuesFile, o Overrides) (map[string]any, error) {
	out := map[string]any{}
	for _, f := range files {
		out = mergeMaps(out, f.Values)
	}
	set := func(key string, v any) {
		if key != "" {
			setPath(out, key, v)
		}
	}
	if o.Image.Repository != "" {
		set(o.Keys.ImageRepository, o.Image.Repository)
	}
	if o.Image.Tag != "" {
		set(o.Keys.ImageTag, o.Image.Tag)
	}
	if o.Image.Digest != "" {
		set(o.Keys.ImageDigest, o.Image.Digest)
	}
	if o.Host != "" {
		set(o.Keys.Host, o.Host)
	}
	if o.IngressClass != "" {
		set(o.Keys.IngressClass, o.IngressClass)
	}
	if o.Keys.Resources != "" {
		for name, q := range o.Requests {
			setPath(out, o.Keys.Resources+".requests."+name, q)
		}
		for name, q := range o.Limits {
			setPath(out, o.Keys.Resources+".limits."+name, q)
		}
	}
	for _, s := range o.Set {
		if err := strvals.ParseInto(s, out); err != nil {
			return nil, &InputError{Msg: fmt.Sprintf("--set %q: %v", s, err)}
		}
	}
	for _, s := range o.SetString {
		if err := strvals.ParseIntoString(s, out); err != nil {
			return nil, &InputError{Msg: fmt.Sprintf("--set-string %q: %v", s, err)}
		}
	}
	return out, nil
}

// mergeMaps merges b into a copy of a; maps are merged key by key (a map in b replaces a
// non-map in a), anything else in b wins. Maps of b are copied.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bv, ok := v.(map[string]any); ok {
			av, _ := out[k].(map[string]any)
			out[k] = mergeMaps(av, bv) // copies, so overrides never write into a file's map
			continue
		}
		out[k] = v
	}
	return out
}

// setPath sets a dotted path, creating (or replacing non-map) intermediate maps.
func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}
