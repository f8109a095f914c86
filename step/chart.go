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
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	yamlv3 "go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/preview"
)

// loadChart loads an unpacked chart directory (or a .tgz) and checks that it can be installed:
// an application chart whose dependencies are vendored under charts/, or fetched when
// deps.Build. It also returns where each chart of the tree came from.
func loadChart(dir, display string, deps depOptions) (*chart.Chart, chartSources, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, &InputError{Msg: fmt.Sprintf("chart %s not found (looked at %s)", display, dir)}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("chart %s: %w", display, err)
	}
	if fi.IsDir() {
		if _, err := os.Stat(path.Join(dir, "Chart.yaml")); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, &InputError{Path: display, Msg: fmt.Sprintf("chart %s: no Chart.yaml in %s", display, dir)}
		}
	}
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, nil, chartLoadError(display, err)
	}
	if ch.Metadata.Type == "library" {
		return nil, nil, &InputError{Path: path.Join(display, "Chart.yaml"), Msg: fmt.Sprintf("chart %s is a library chart and cannot be installed", display)}
	}
	src := chartSources{}
	if fi.IsDir() {
		src[ch.ChartFullPath()] = chartSource{Dir: display}
		src.scanVendored(ch, ch.ChartFullPath(), dir, display)
	} else {
		src[ch.ChartFullPath()] = chartSource{Archive: display}
	}
	if err := resolveDependencies(ch, dir, display, deps, src); err != nil {
		return nil, nil, err
	}
	return ch, src, nil
}

// chartLoadError places a loader error in the file it came from when Helm names one.
func chartLoadError(display string, err error) error {
	msg := err.Error()
	for _, f := range []string{"Chart.yaml", "values.yaml", "values.schema.json", "Chart.lock", "requirements.yaml"} {
		if strings.Contains(msg, f) {
			line, rest := yamlErrorLine(errors.New(msg))
			return &ChartError{Kind: preview.DiagnosticManifest, File: path.Join(display, f), Line: line, Msg: rest}
		}
	}
	return &ChartError{Kind: preview.DiagnosticManifest, File: display, Msg: "cannot load chart: " + msg}
}

// Helm's engine returns template errors only as text (fmt.Errorf without a typed error), so
// the locations are read from the message:
//
//	parse error at (app/templates/x.yaml:5): function "foo" not defined
//	execution error at (app/templates/x.yaml:12:20): image.repository is required
//	template: app/templates/x.yaml:12:20: executing "app/templates/x.yaml" at <include "app.labels" .>:
//	  error calling include: template: app/templates/_helpers.tpl:7:3: executing "app.labels" at <.Values.a.b>: nil pointer ...
var (
	helmLocRE  = regexp.MustCompile(`(?s)^(parse|execution) error (?:at|in) \(([^\s()]+?):(\d+)(?::(\d+))?\): (.*)$`)
	chainLocRE = regexp.MustCompile(`template: ([^\s():]+):(\d+)(?::(\d+))?: `)
	executeRE  = regexp.MustCompile(`^executing "[^"]*" at <(.*?)>: (?:error calling \w+: )?`)
)

// templateLoc is one position in the chart tree, by template name.
type templateLoc struct {
	name      string
	line, col int
}

// templateError turns an engine error into a ChartError at the innermost template and line
// (a helper, a library chart's template) with the including template as Via.
func templateError(ch *chart.Chart, src chartSources, err error) error {
	msg := strings.TrimSpace(err.Error())
	var inner, outer templateLoc
	var text string
	if m := helmLocRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[3])
		col, _ := strconv.Atoi(m[4])
		outer, text = templateLoc{m[2], line, col}, m[5]
		inner = outer
		// required and fail lose the inner location in Helm's message: find the call whose
		// literal message this is.
		if m[1] == "execution" {
			if site, ok := failSite(ch, text, outer.name); ok {
				inner = site
			}
		}
	} else if locs := chainLocRE.FindAllStringSubmatchIndex(msg, -1); len(locs) > 0 {
		at := func(i int) templateLoc {
			l := locs[i]
			line, _ := strconv.Atoi(msg[l[4]:l[5]])
			col := 0
			if l[6] >= 0 {
				col, _ = strconv.Atoi(msg[l[6]:l[7]])
			}
			return templateLoc{msg[l[2]:l[3]], line, col}
		}
		outer, inner = at(0), at(len(locs)-1)
		text = msg[locs[len(locs)-1][1]:]
		if m := executeRE.FindStringSubmatch(text); m != nil {
			text = "at <" + m[1] + ">: " + text[len(m[0]):]
		}
	} else {
		return &ChartError{File: src[ch.ChartFullPath()].Dir, Msg: "template error: " + msg}
	}
	file, line, in := src.file(inner.name, inner.line)
	ce := &ChartError{File: file, Line: line, Msg: text}
	if line == inner.line {
		ce.Column = inner.col
	}
	if in != "" {
		ce.Msg = "in " + in + ": " + text
	}
	if outer != inner && outer.name != "" {
		vf, vl, _ := src.file(outer.name, outer.line)
		if vf != file || vl != line {
			ce.Via = &preview.Location{Path: vf, Line: vl}
		}
	}
	return ce
}

// preflight validates values against the chart's schema and renders the chart offline, so that
// a template or values mistake is reported with its file and line before anything in the
// cluster changes. Helm renders again during the upgrade (with lookup against the cluster).
// It returns the rendered files by template name.
func preflight(in *localInput, opts chartutil.ReleaseOptions, caps *chartutil.Capabilities) (map[string]string, error) {
	ch, display := in.chart, in.chartDisplay
	if err := validateSchema(ch, display, in.values, in.sources()); err != nil {
		return nil, err
	}
	top, err := chartutil.ToRenderValues(ch, in.values, opts, caps)
	if err != nil {
		// Sub-chart schemas and coalescing errors; Helm gives no location for these.
		return nil, &ChartError{Kind: preview.DiagnosticValues, File: display, Msg: err.Error()}
	}
	rendered, err := engine.Render(ch, top)
	if err != nil {
		return nil, templateError(ch, in.src, err)
	}
	return rendered, checkRenderedYAML(in.src, rendered)
}

var docSepRE = regexp.MustCompile(`(?m)^---[ \t]*(?:#.*)?$`)

// checkRenderedYAML parses every rendered manifest. Lines in these errors are lines of the
// rendered output, not of the template, so the rendered lines around the error are included.
func checkRenderedYAML(src chartSources, rendered map[string]string) error {
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
		file, _, inner := src.file(name, 0)
		prefix := ""
		if inner != "" {
			prefix = "in " + inner + ": "
		}
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
				errs = append(errs, &ChartError{Kind: preview.DiagnosticManifest, File: file, Msg: fmt.Sprintf("%srendered output is not valid YAML (line %d of the rendered output): %s", prefix, line, msg),
					Detail: excerpt(content, line, 2)})
				continue
			}
			if head.APIVersion == "" || head.Kind == "" {
				errs = append(errs, &ChartError{Kind: preview.DiagnosticManifest, File: file, Msg: fmt.Sprintf("%srendered document at line %d of the rendered output has no apiVersion or kind", prefix, firstLine),
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

// chartSchema is a chart's compiled values.schema.json.
type chartSchema struct {
	file   string // repository path
	raw    []byte
	schema *jsonschema.Schema
}

// compileSchema compiles the chart's schema; nil without one.
func compileSchema(ch *chart.Chart, chartDisplay string) (*chartSchema, error) {
	if len(ch.Schema) == 0 {
		return nil, nil
	}
	file := path.Join(chartDisplay, "values.schema.json")
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(ch.Schema))
	if err != nil {
		return nil, &ChartError{Kind: preview.DiagnosticValues, File: file, Msg: "invalid JSON: " + err.Error()}
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///values.schema.json", doc); err != nil {
		return nil, &ChartError{Kind: preview.DiagnosticValues, File: file, Msg: err.Error()}
	}
	schema, err := c.Compile("file:///values.schema.json")
	if err != nil {
		return nil, &ChartError{Kind: preview.DiagnosticValues, File: file, Msg: "invalid schema: " + err.Error()}
	}
	return &chartSchema{file: file, raw: ch.Schema, schema: schema}, nil
}

// violations validates the values the chart will see (chart defaults coalesced with vals) and
// returns the most specific violations.
func (cs *chartSchema) violations(ch *chart.Chart, vals map[string]any) ([]*jsonschema.ValidationError, error) {
	coalesced, err := chartutil.CoalesceValues(ch, vals)
	if err != nil {
		return nil, &ChartError{Kind: preview.DiagnosticValues, File: path.Dir(cs.file), Msg: err.Error()}
	}
	// The validator wants JSON types; a JSON round trip also turns YAML ints into numbers.
	raw, err := yaml.Marshal(coalesced.AsMap())
	if err != nil {
		return nil, fmt.Errorf("encode values: %w", err)
	}
	var inst any
	if err := yaml.Unmarshal(raw, &inst); err != nil {
		return nil, fmt.Errorf("decode values: %w", err)
	}
	err = cs.schema.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, err
	}
	return schemaLeaves(ve), nil
}

// validateSchema validates the values against the chart's values.schema.json and reports every
// violation where it was set: the last source that sets the key (sources are in the order a
// later one wins: the chart's values.yaml, the values files, the overlay). A key set by the
// overlay of the configuration is reported at the schema's line for it, naming the
// configuration; one set by no source (--set) at the schema.
func validateSchema(ch *chart.Chart, chartDisplay string, vals map[string]any, sources []valuesFile) error {
	cs, err := compileSchema(ch, chartDisplay)
	if err != nil || cs == nil {
		return err
	}
	leaves, err := cs.violations(ch, vals)
	if err != nil || len(leaves) == 0 {
		return err
	}
	var errs []error
	for _, leaf := range leaves {
		keys := [][]string{leaf.InstanceLocation}
		if ap, ok := leaf.ErrorKind.(*kind.AdditionalProperties); ok {
			keys = keys[:0]
			for _, p := range ap.Properties {
				keys = append(keys, append(append([]string{}, leaf.InstanceLocation...), p))
			}
		}
		msg := leaf.ErrorKind.LocalizedString(schemaPrinter)
		for _, key := range keys {
			errs = append(errs, cs.blame(leaf, key, msg, sources))
		}
	}
	return errors.Join(errs...)
}

func (cs *chartSchema) blame(leaf *jsonschema.ValidationError, key []string, msg string, sources []valuesFile) error {
	name := strings.Join(key, ".")
	if name == "" {
		name = "(top level)"
	}
	for i := len(sources) - 1; i >= 0; i-- {
		src := sources[i]
		l := yamlKeyLine(src.Data, key)
		if l == 0 {
			continue
		}
		if src.Config {
			return &ChartError{Kind: preview.DiagnosticValues, File: cs.file, Line: cs.line(leaf),
				Msg: fmt.Sprintf("%s, set by %s in the Catalyst configuration, does not match %s: %s; change the overlay to fit the chart", name, src.Display, cs.file, msg)}
		}
		return &ChartError{Kind: preview.DiagnosticValues, File: src.Display, Line: l,
			Msg: fmt.Sprintf("values do not match %s: %s: %s", cs.file, name, msg)}
	}
	return &ChartError{Kind: preview.DiagnosticValues, File: cs.file, Line: cs.line(leaf),
		Msg: fmt.Sprintf("values do not match %s: %s: %s", cs.file, name, msg)}
}

// line is the line of the schema keyword a violation comes from, or of its schema object.
func (cs *chartSchema) line(leaf *jsonschema.ValidationError) int {
	_, frag, _ := strings.Cut(leaf.SchemaURL, "#")
	var tokens []string
	for _, t := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if t != "" {
			tokens = append(tokens, strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~"))
		}
	}
	if l := yamlKeyLine(cs.raw, append(tokens, leaf.ErrorKind.KeywordPath()...)); l > 0 {
		return l
	}
	return yamlKeyLine(cs.raw, tokens)
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
