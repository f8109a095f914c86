package step

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/step/overlay"
)

// overlayDisplay names the configured overlay in messages.
const overlayDisplay = "repositories[].values"

// parseOverlay reads --values-overlay: a YAML (or JSON) mapping whose placeholders are known.
// Empty text is no overlay (nil).
func parseOverlay(text string) (map[string]any, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		return nil, fmt.Errorf("not a YAML mapping: %w", err)
	}
	if m == nil {
		return nil, errors.New("not a YAML mapping")
	}
	if err := overlay.Validate(m); err != nil {
		return nil, err
	}
	return m, nil
}

// factsFor collects the preview's facts from the options.
func factsFor(o DeployOptions, namespace string) (overlay.Facts, error) {
	f := overlay.Facts{Host: o.Host, URL: PreviewURL(o.URLScheme, o.Host), Namespace: namespace,
		IngressClass: o.IngressClass, PRNumber: o.PRNumber, SHA: o.Revision}
	if o.Image != "" {
		img, err := overlay.ParseImage(o.Image)
		if err != nil {
			return f, &InputError{Msg: "--image: " + err.Error()}
		}
		f.Image = img
	}
	if o.ImageDigest != "" {
		f.Image.Digest = o.ImageDigest
	}
	return f, nil
}

// renderOverlay renders the configured overlay. Without one it renders the default overlay and
// keeps only the keys the chart's schema accepts (all of them for a chart without a schema):
// the convention must never make a chart undeployable. It returns the overlay as a values
// source and the default keys it left out.
func renderOverlay(ch *chart.Chart, chartDisplay string, files []valuesFile, text string, f overlay.Facts) (valuesFile, []string, error) {
	configured, err := parseOverlay(text)
	if err != nil {
		return valuesFile{}, nil, &InputError{Msg: overlayDisplay + ": " + err.Error()}
	}
	if configured != nil {
		vals, err := overlay.Render(configured, f)
		if err != nil {
			return valuesFile{}, nil, &InputError{Msg: overlayDisplay + ": " + err.Error()}
		}
		return overlaySource(vals), nil, nil
	}
	def, err := overlay.Render(overlay.Default(), f)
	if err != nil {
		return valuesFile{}, nil, fmt.Errorf("default overlay: %w", err)
	}
	def = overlay.PruneEmpty(def)
	kept, skipped, err := fitToSchema(ch, chartDisplay, files, def)
	if err != nil {
		return valuesFile{}, nil, err
	}
	src := overlaySource(kept)
	src.Display = "the default overlay"
	return src, skipped, nil
}

func overlaySource(vals map[string]any) valuesFile {
	data, _ := yaml.Marshal(vals) // a tree decoded from YAML always encodes
	return valuesFile{Display: overlayDisplay, Data: data, Values: vals, Config: true}
}

// fitToSchema adds the leaves of def one at a time and keeps those that add no schema
// violation to what the values files already have.
func fitToSchema(ch *chart.Chart, chartDisplay string, files []valuesFile, def map[string]any) (map[string]any, []string, error) {
	cs, err := compileSchema(ch, chartDisplay)
	if err != nil || cs == nil {
		return def, nil, err
	}
	violations := func(ov map[string]any) (map[string]bool, error) {
		vals, err := mergeValues(files, ov, nil, nil)
		if err != nil {
			return nil, err
		}
		leaves, err := cs.violations(ch, vals)
		if err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for _, l := range leaves {
			out[strings.Join(l.InstanceLocation, ".")+": "+l.ErrorKind.LocalizedString(schemaPrinter)] = true
		}
		return out, nil
	}
	base, err := violations(nil)
	if err != nil {
		return nil, nil, err
	}
	kept := map[string]any{}
	var skipped []string
	for _, leaf := range leafPaths(def, nil) {
		try := mergeMaps(kept, nestedValue(leaf, lookupPath(def, leaf)))
		got, err := violations(try)
		if err != nil {
			return nil, nil, err
		}
		added := false
		for v := range got {
			if !base[v] {
				added = true
			}
		}
		if added {
			skipped = append(skipped, strings.Join(leaf, "."))
			continue
		}
		kept = try
	}
	return kept, skipped, nil
}

// leafPaths lists the paths of the non-map values of m, sorted.
func leafPaths(m map[string]any, prefix []string) [][]string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][]string
	for _, k := range keys {
		p := append(append([]string{}, prefix...), k)
		if sub, ok := m[k].(map[string]any); ok {
			out = append(out, leafPaths(sub, p)...)
			continue
		}
		out = append(out, p)
	}
	return out
}

func lookupPath(m map[string]any, p []string) any {
	var v any = m
	for _, k := range p {
		mm, _ := v.(map[string]any)
		v = mm[k]
	}
	return v
}

func nestedValue(p []string, v any) map[string]any {
	for i := len(p) - 1; i > 0; i-- {
		v = map[string]any{p[i]: v}
	}
	return map[string]any{p[0]: v}
}
