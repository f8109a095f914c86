package preview

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// ResultDiagnostics is the Tekton result in which the deploy and healthcheck steps say precisely
// what went wrong: a JSON array of Diagnostic. The step writes it, the reporter turns it into
// Check Run annotations and a short list in the PR comment.
const ResultDiagnostics = "diagnostics"

// MaxDiagnosticsBytes bounds the result: Tekton carries every result of a task in the pod's
// termination message (4,096 bytes in all), so the diagnostics leave room for the others.
const MaxDiagnosticsBytes = 2560

// Kinds of Diagnostic.
const (
	DiagnosticTemplate   = "template"   // a chart template failed to render
	DiagnosticValues     = "values"     // values rejected by the chart's values.schema.json
	DiagnosticManifest   = "manifest"   // rendered YAML is invalid or refused by the apiserver
	DiagnosticDependency = "dependency" // a chart dependency is missing or cannot be built
	DiagnosticRouting    = "routing"    // no Ingress/HTTPRoute routes the preview host to a Service
	DiagnosticRollout    = "rollout"    // the release did not become ready (the condition waited on)
	DiagnosticHealth     = "health"     // the health check failed
	DiagnosticConfig     = "config"     // the chart path, a values file or the values overlay is wrong
)

// Diagnostic is one precise finding of a step. Path is relative to the repository root, so the
// reporter can attach it to the file in the pull request; Line is 1-based, 0 when unknown.
type Diagnostic struct {
	Kind    string `json:"kind"`
	Path    string `json:"path,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
	// Via is where the failing file was included from (the template that called a helper or a
	// library chart's named template): the secondary location.
	Via *Location `json:"via,omitempty"`
}

// Location is a file and a 1-based line in the repository.
type Location struct {
	Path string `json:"path"`
	Line int    `json:"line,omitempty"`
}

// maxMessageBytes cuts one message so that a single long error leaves room for the others.
const maxMessageBytes = 640

// EncodeDiagnostics renders diagnostics for the result: messages are cut to a bounded length,
// then the last diagnostics are dropped (saying how many) until the JSON fits
// MaxDiagnosticsBytes.
func EncodeDiagnostics(ds []Diagnostic) (string, error) {
	ds = append([]Diagnostic(nil), ds...)
	for i := range ds {
		ds[i].Message = cutUTF8(ds[i].Message, maxMessageBytes)
	}
	for n := len(ds); n >= 0; n-- {
		out := ds[:n]
		if dropped := len(ds) - n; dropped > 0 {
			out = append(append([]Diagnostic{}, out...), Diagnostic{Kind: ds[n].Kind, Message: fmt.Sprintf("%d more not shown", dropped)})
		}
		b, err := json.Marshal(out)
		if err != nil {
			return "", fmt.Errorf("encode diagnostics: %w", err)
		}
		if len(b) <= MaxDiagnosticsBytes {
			return string(b), nil
		}
	}
	return "[]", nil
}

// DecodeDiagnostics reads the result back; an empty result is no diagnostics.
func DecodeDiagnostics(s string) ([]Diagnostic, error) {
	if s == "" {
		return nil, nil
	}
	var ds []Diagnostic
	if err := json.Unmarshal([]byte(s), &ds); err != nil {
		return nil, fmt.Errorf("decode diagnostics: %w", err)
	}
	return ds, nil
}

// cutUTF8 shortens s to at most n bytes on a rune boundary, marking the cut with "…".
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	end := n - len("…")
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "…"
}
