package step

import (
	"errors"
	"fmt"
	"strings"

	"github.com/catalyst-preview/catalyst/preview"
)

// InputError is bad input from the repository's configuration or the command line: a missing
// chart or values file, an invalid overlay. It is the developer's (or the operator's) to fix,
// not an infrastructure failure.
type InputError struct {
	Msg  string
	Path string // the repository file concerned, when there is one
}

func (e *InputError) Error() string { return e.Msg }

// Diagnostic implements diagnoser.
func (e *InputError) Diagnostic() preview.Diagnostic {
	return preview.Diagnostic{Kind: preview.DiagnosticConfig, Path: e.Path, Message: e.Msg}
}

// ChartError is an error located in a file of the repository: a template that does not
// render, rendered output that is not YAML, a values file that is not YAML or does not match
// the chart's schema, a missing dependency, an object the API server refused. File is relative
// to the repository when the step knows the source directory, so it can be shown next to the
// pull request's diff.
type ChartError struct {
	Kind   string // preview.Diagnostic* kind; empty means template
	File   string
	Line   int // 0 when unknown
	Column int // 0 when unknown
	Msg    string
	// Via is where File was included from: the template that called a failing helper.
	Via *preview.Location
	// Detail is printed under the message (e.g. the rendered lines around a YAML error); it is
	// not part of the diagnostic.
	Detail string
}

func (e *ChartError) Error() string {
	var b strings.Builder
	b.WriteString(location(e.File, e.Line, e.Column))
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Via != nil {
		fmt.Fprintf(&b, " (included from %s)", location(e.Via.Path, e.Via.Line, 0))
	}
	if e.Detail != "" {
		b.WriteString("\n")
		b.WriteString(e.Detail)
	}
	return b.String()
}

func location(file string, line, col int) string {
	var b strings.Builder
	b.WriteString(file)
	if line > 0 {
		fmt.Fprintf(&b, ":%d", line)
		if col > 0 {
			fmt.Fprintf(&b, ":%d", col)
		}
	}
	return b.String()
}

// Diagnostic implements diagnoser.
func (e *ChartError) Diagnostic() preview.Diagnostic {
	kind := e.Kind
	if kind == "" {
		kind = preview.DiagnosticTemplate
	}
	return preview.Diagnostic{Kind: kind, Path: e.File, Line: e.Line, Message: e.Msg, Via: e.Via}
}

// FailureError is a deploy or health check that ran and failed for a reason the step can name:
// a rollout that did not become ready (and the condition it waited on), a preview host no
// Ingress or HTTPRoute routes, a health endpoint that does not answer 2xx.
type FailureError struct {
	Kind string // preview.DiagnosticRollout, DiagnosticRouting or DiagnosticHealth
	Path string // the repository file most related (the template of the object), if known
	Line int
	Msg  string
	Err  error // the underlying error, if any
}

func (e *FailureError) Error() string { return e.Msg }
func (e *FailureError) Unwrap() error { return e.Err }

// Diagnostic implements diagnoser.
func (e *FailureError) Diagnostic() preview.Diagnostic {
	return preview.Diagnostic{Kind: e.Kind, Path: e.Path, Line: e.Line, Message: e.Msg}
}

// diagnoser is an error that knows the diagnostic the pull request should show.
type diagnoser interface {
	error
	Diagnostic() preview.Diagnostic
}

// Diagnostics returns the diagnostic of every error in err's tree that has one (errors.Join
// and %w wrapping included), in order.
func Diagnostics(err error) []preview.Diagnostic {
	var out []preview.Diagnostic
	walkErrors(err, func(e error) bool {
		if d, ok := e.(diagnoser); ok {
			out = append(out, d.Diagnostic())
			return true
		}
		return false
	})
	return out
}

// ChartErrors returns every ChartError in err's tree.
func ChartErrors(err error) []*ChartError {
	var out []*ChartError
	walkErrors(err, func(e error) bool {
		if ce, ok := e.(*ChartError); ok {
			out = append(out, ce)
			return true
		}
		return false
	})
	return out
}

// walkErrors visits err's tree depth first; visit returns true to stop descending.
func walkErrors(err error, visit func(error) bool) {
	if err == nil || visit(err) {
		return
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErrors(e, visit)
		}
	case interface{ Unwrap() error }:
		walkErrors(u.Unwrap(), visit)
	}
}

// IsUserError reports whether err is the developer's to fix (bad input, a chart error, a
// routing or rollout failure of the chart) rather than a failure of the cluster or the step.
func IsUserError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie) || len(Diagnostics(err)) > 0
}
