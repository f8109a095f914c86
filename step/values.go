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

	"github.com/catalyst-preview/catalyst/preview"
)

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

// valuesFile is one source of values, kept with its bytes so that schema errors can be mapped
// back to a line: a values file of the repository, or the overlay of the configuration.
type valuesFile struct {
	Display string // path as the developer knows it (relative to the repository)
	Data    []byte
	Values  map[string]any
	// Config marks the overlay: it is not a file of the repository, so a diagnostic about it
	// points at the chart instead and names the configuration in its message.
	Config bool
}

// readValuesFile reads and parses one values file.
func readValuesFile(path, display string) (valuesFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return valuesFile{}, &InputError{Path: display, Msg: fmt.Sprintf("values file %s not found (looked at %s)", display, path)}
	}
	if err != nil {
		return valuesFile{}, fmt.Errorf("read values file %s: %w", display, err)
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal(data, &vals); err != nil {
		line, msg := yamlErrorLine(err)
		return valuesFile{}, &ChartError{Kind: preview.DiagnosticValues, File: display, Line: line, Msg: "invalid YAML: " + msg}
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

// mergeValues merges the values files in order (later wins, maps merged deeply), then the
// rendered overlay, then --set and --set-string, like `helm upgrade -f a -f b -f overlay --set
// ...`. A list in a later source replaces the earlier list whole.
func mergeValues(files []valuesFile, overlay map[string]any, set, setString []string) (map[string]any, error) {
	out := map[string]any{}
	for _, f := range files {
		out = mergeMaps(out, f.Values)
	}
	out = mergeMaps(out, overlay)
	for _, s := range set {
		if err := strvals.ParseInto(s, out); err != nil {
			return nil, &InputError{Msg: fmt.Sprintf("--set %q: %v", s, err)}
		}
	}
	for _, s := range setString {
		if err := strvals.ParseIntoString(s, out); err != nil {
			return nil, &InputError{Msg: fmt.Sprintf("--set-string %q: %v", s, err)}
		}
	}
	return out, nil
}

// mergeMaps merges b into a copy of a; maps are merged key by key (a map in b replaces a
// non-map in a), anything else in b (lists included) wins whole. Maps of b are copied.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bv, ok := v.(map[string]any); ok {
			av, _ := out[k].(map[string]any)
			out[k] = mergeMaps(av, bv) // copies, so later sources never write into a file's map
			continue
		}
		out[k] = v
	}
	return out
}
