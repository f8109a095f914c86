package step

import (
	"errors"
	"fmt"
	"strings"
)

// InputError is bad input from the pull request's configuration or the command line: a
// missing chart or values file, a malformed image reference. It is the developer's to fix, not
// an infrastructure failure.
type InputError struct {
	Msg string
}

func (e *InputError) Error() string { return e.Msg }

// ChartError is an error located in a file of the repository: a template that does not
// render, rendered output that is not YAML, a values file that is not YAML or does not match
// the chart's schema. File is relative to the repository when the step knows the source
// directory, so it can be shown next to the pull request's diff.
type ChartError struct {
	File   string
	Line   int // 0 when unknown
	Column int // 0 when unknown
	Msg    string
	// Detail is printed under the message (e.g. the rendered lines around a YAML error).
	Detail string
}

func (e *ChartError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Detail != "" {
		b.WriteString("\n")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// ChartErrors returns every ChartError in err's tree (errors.Join and %w wrapping included).
func ChartErrors(err error) []*ChartError {
	var out []*ChartError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if ce, ok := err.(*ChartError); ok {
			out = append(out, ce)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// IsUserError reports whether err is the developer's to fix (bad input or a chart error)
// rather than a failure of the cluster or of the step.
func IsUserError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie) || len(ChartErrors(err)) > 0
}
