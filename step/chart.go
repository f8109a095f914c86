package step

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	yamlv3 "go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"sigs.k8s.io/yaml"
)

// loadChart loads an unpacked chart directory (or a .tgz) and checks that it can be installed
// as it is: an application chart whose dependencies are vendored under charts/ (the step does
// not download dependencies).
func loadChart(dir, display string) (*chart.Chart, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &InputError{Msg: fmt.Sprintf("chart %s not found (looked at %s)", display, dir)}
	}
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", display, err)
	}
	if fi.IsDir() {
		if _, err := os.Stat(path.Join(dir, "Chart.yaml")); errors.Is(err, fs.ErrNotExist) {
			return nil, &InputError{Msg: fmt.Sprintf("chart %s: no Chart.yaml in %s", display, dir)}
		}
	}
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, chartLoadError(display, err)
	}
	if ch.Metadata.Type == "library" {
		return nil, &InputError{Msg: fmt.Sprintf("chart %s is a library chart and cannot be installed", display)}
	}
	if deps := ch.Metadata.Dependencies; len(deps) > 0 {
		if err := action.CheckDependencies(ch, deps); err != nil {
			return nil, &ChartError{File: path.Join(display, "Chart.yaml"),
				Msg: fmt.Sprintf("%v (run `helm dependency build` and commit charts/)", err)}
		}
	}
	return ch, nil
}

// chartLoadError places a loader error in the file it came from when Helm names one.
func chartLoadError(display string, err error) error {
	msg := err.Error()
	for _, f := range []string{"Chart.yaml", "values.yaml", "values.schema.json", "Chart.lock", "requirements.yaml"} {
		if strings.Contains(msg, f) {
			line, rest := yamlErrorLine(errors.New(msg))
			return &ChartError{File: path.Join(display, f), Line: line, Msg: rest}
		}
	}
	return &ChartError{File: display, Msg: "cannot load chart: " + msg}
}

// templateLocRE matches the locations Helm's engine puts into template errors:
//
//	parse error at (app/templates/x.yaml:5): function "foo" not defined
//	execution error at (app/templates/x.yaml:12:20): image.repository is required
//	template: app/templates/x.yaml:12:20: executing "app/templates/x.yaml" at <.Values.a.b>: nil pointer ...
//
// The engine returns these only as text (fmt.Errorf without a typed error), so the location is
// read from the message.
var templateLocRE = regexp.MustCompile(`(?s)^(?:parse error at \(|execution error at \(|template: )([^\s():]+):(\d+)(?::(\d+))?\)?:\s*(.*)$`)

// templateError turns an engine error into a ChartError at the template's file and line.
func templateError(chartName, chartDisplay string, err error) error {
	msg := strings.TrimSpace(err.Error())
	m := templateLocRE.FindStringSubmatch(msg)
	if m == nil {
		return &ChartError{File: chartDisplay, Msg: "template error: " + msg}
	}
	line, _ := strconv.Atoi(m[2])
	col, _ := strconv.Atoi(m[3])
	return &ChartError{File: templateFile(chartName, chartDisplay, m[1]), Line: line, Column: col, Msg: m[4]}
}

// templateFile maps a template name ("app/templates/x.yaml", "app/charts/db/templates/y.yaml")
// to the file in the repository.
func templateFile(chartName, chartDisplay, name string) string {
	if rest, ok := strings.CutPrefix(name, chartName+"/"); ok {
		return path.Join(chartDisplay, rest)
	}
	return path.Join(chartDisplay, name)
}

// preflight validates values against the chart's schema and renders the chart offline, so that
// a template or values mistake is reported with its file and line before anything in the
// cluster changes. Helm renders again during the upgrade (with lookup against the cluster).
// It returns the rendered files by template name.
func preflight(ch *chart.Chart, chartDisplay string, vals map[string]any, files []valuesFile, opts chartutil.ReleaseOptions, caps *chartutil.Capabilities) (map[string]string, error) {
	if err := validateSchema(ch, chartDisplay, vals, files); err != nil {
		return nil, err
	}
	top, err := chartutil.ToRenderValues(ch, vals, opts, caps)
	if err != nil {
		// Sub-chart schemas and coalescing errors; Helm gives no location for these.
		return nil, &ChartError{File: chartDisplay, Msg: err.Error()}
	}
	rendered, err := engine.Render(ch, top)
	if err != nil {
		return nil, templateError(ch.Name(), chartDisplay, err)
	}
	return rendered, checkRenderedYAML(ch.Name(), chartDisplay, rendered)
}

var docSepRE = regexp.MustCompile(`(?m)^---[ \t]*(?:#.*)?$`)

// checkRenderedYAML parses every rendered manifest. Lines in these errors are lines of the
// rendered output, not of the template, so the rendered lines around the error are included.
func checkRenderedYAML(chartName, chartDisplay string, rendered map[string]string) error {
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		base := path.Base(name)
		if strings.HasPrefix(base, "_") || strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(rendered[name]) == "" {
			continue
		}
		content := rendered[name]
		file := templateFile(chartName, chartDisplay, name)
		// Split into documents, remembering where each one starts.
		seps := docSepRE.FindAllStringIndex(content, -1)
		start := 0
		for i := 0; i <= len(seps); i++ {
			end, next := len(content), len(content)
			if i < len(seps) {
				end, next = seps[i][0], seps[i][1]
			}
			doc := content[start:end]
			docStart := start
			start = next
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			firstLine := strings.Count(content[:docStart], "\n") + 1
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				line, msg := yamlErrorLine(err)
				if line > 0 {
					line += firstLine - 1
				}
				errs = append(errs, &ChartError{File: file, Msg: fmt.Sprintf("rendered output is not valid YAML (line %d of the rendered output): %s", line, msg),
					Detail: excerpt(content, line, 2)})
				continue
			}
			if head.APIVersion == "" || head.Kind == "" {
				errs = append(errs, &ChartError{File: file, Msg: fmt.Sprintf("rendered document at line %d of the rendered output has no apiVersion or kind", firstLine),
					Detail: excerpt(content, firstLine, 2)})
			}
		}
	}
	return errors.Join(errs...)
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// excerpt returns the lines around line (1-based) of s, numbered, the line itself marked.
func excerpt(s string, line, around int) string {
	if line <= 0 {
		return ""
	}
	lines := strings.Split(s, "\n")
	var b strings.Builder
	for i := max(line-around, 1); i <= min(line+around, len(lines)); i++ {
		mark := "  "
		if i == line {
			mark = "> "
		}
		fmt.Fprintf(&b, "%s%4d | %s\n", mark, i, lines[i-1])
	}
	return strings.TrimRight(b.String(), "\n")
}

var schemaPrinter = message.NewPrinter(language.English)

// validateSchema validates the values the chart will see (chart defaults coalesced with vals)
// against the chart's values.schema.json and reports every violation at the line of the values
// file that set it: the last user values file that has the key, else the chart's values.yaml.
// Violations of values no file sets (--set, the step's overrides) point at the schema.
func validateSchema(ch *chart.Chart, chartDisplay string, vals map[string]any, files []valuesFile) error {
	if len(ch.Schema) == 0 {
		return nil
	}
	schemaFile := path.Join(chartDisplay, "values.schema.json")
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(ch.Schema))
	if err != nil {
		return &ChartError{File: schemaFile, Msg: "invalid JSON: " + err.Error()}
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///values.schema.json", doc); err != nil {
		return &ChartError{File: schemaFile, Msg: err.Error()}
	}
	schema, err := c.Compile("file:///values.schema.json")
	if err != nil {
		return &ChartError{File: schemaFile, Msg: "invalid schema: " + err.Error()}
	}
	coalesced, err := chartutil.CoalesceValues(ch, vals)
	if err != nil {
		return &ChartError{File: chartDisplay, Msg: err.Error()}
	}
	// The validator wants JSON types; a JSON round trip also turns YAML ints into numbers.
	raw, err := yaml.Marshal(coalesced.AsMap())
	if err != nil {
		return fmt.Errorf("encode values: %w", err)
	}
	var inst any
	if err := yaml.Unmarshal(raw, &inst); err != nil {
		return fmt.Errorf("decode values: %w", err)
	}
	err = schema.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	// Sources in the order a later one wins: chart defaults, then each user values file.
	sources := []valuesFile{{Display: path.Join(chartDisplay, "values.yaml"), Data: chartValuesYAML(ch)}}
	sources = append(sources, files...)
	var errs []error
	for _, leaf := range schemaLeaves(ve) {
		key := strings.Join(leaf.InstanceLocation, ".")
		if key == "" {
			key = "(top level)"
		}
		msg := key + ": " + leaf.ErrorKind.LocalizedString(schemaPrinter)
		file, line := schemaFile, 0
		for i := len(sources) - 1; i >= 0; i-- {
			if l := yamlKeyLine(sources[i].Data, leaf.InstanceLocation); l > 0 {
				file, line = sources[i].Display, l
				break
			}
		}
		errs = append(errs, &ChartError{File: file, Line: line, Msg: "values do not match " + schemaFile + ": " + msg})
	}
	return errors.Join(errs...)
}

func chartValuesYAML(ch *chart.Chart) []byte {
	for _, f := range ch.Raw {
		if f.Name == chartutil.ValuesfileName {
			return f.Data
		}
	}
	return nil
}

// schemaLeaves returns the most specific violations (the leaves of the cause tree).
func schemaLeaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, schemaLeaves(c)...)
	}
	return out
}

// yamlKeyLine returns the line of the key at path in a YAML document, or 0 when the document
// does not contain it. An empty path is the document itself.
func yamlKeyLine(data []byte, keys []string) int {
	if len(data) == 0 {
		return 0
	}
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(data, &root); err != nil || len(root.Content) == 0 {
		return 0
	}
	n := root.Content[0]
	line := 0
	if len(keys) == 0 {
		return n.Line
	}
	for _, k := range keys {
		switch n.Kind {
		case yamlv3.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return 0
			}
		case yamlv3.SequenceNode:
			idx, err := strconv.Atoi(k)
			if err != nil || idx < 0 || idx >= len(n.Content) {
				return 0
			}
			n = n.Content[idx]
			line = n.Line
		default:
			return 0
		}
	}
	return line
}
