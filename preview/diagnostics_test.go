package preview

import (
	"strings"
	"testing"
	"unicode/utf8"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestDiagnosticsRoundTrip(t *testing.T) {
	in := []Diagnostic{{Kind: DiagnosticTemplate, Path: "chart/templates/_helpers.tpl", Line: 12, Message: "nil pointer evaluating .Values.image.tag",
		Via: &Location{Path: "chart/templates/deployment.yaml", Line: 20}}}
	s, err := EncodeDiagnostics(in)
	assert.NilError(t, err)
	out, err := DecodeDiagnostics(s)
	assert.NilError(t, err)
	assert.DeepEqual(t, out, in)

	none, err := DecodeDiagnostics("")
	assert.NilError(t, err)
	assert.Check(t, is.Len(none, 0))
	_, err = DecodeDiagnostics("{not json")
	assert.ErrorContains(t, err, "decode diagnostics")
}

func TestEncodeDiagnosticsFitsTheResult(t *testing.T) {
	long := strings.Repeat("é", 2000) // multi-byte, so a byte cut could split a rune
	var many []Diagnostic
	for range 40 {
		many = append(many, Diagnostic{Kind: DiagnosticManifest, Path: "chart/templates/x.yaml", Line: 3, Message: long})
	}
	s, err := EncodeDiagnostics(many)
	assert.NilError(t, err)
	assert.Check(t, len(s) <= MaxDiagnosticsBytes, "len %d", len(s))
	assert.Check(t, utf8.ValidString(s))
	out, err := DecodeDiagnostics(s)
	assert.NilError(t, err)
	assert.Check(t, len(out) >= 2, "the first diagnostics stay")
	last := out[len(out)-1]
	assert.Check(t, is.Regexp(`^\d+ more not shown$`, last.Message))
	assert.Check(t, strings.HasSuffix(out[0].Message, "…"))
	assert.Equal(t, many[0].Message, long, "the caller's slice is not changed")
}
