package reporter

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"

	"github.com/catalyst-preview/catalyst/preview"
)

// FuzzRender puts hostile strings everywhere text from outside reaches a report and parses
// the result as GitHub does (CommonMark + GFM tables and autolinks): it must stay within
// GitHub's size limits, be valid UTF-8, keep its one heading and its closing paragraph, and
// contain no live mention, issue reference, link or HTML of its own.
//
//	go test ./reporter -run '^$' -fuzz FuzzRender -fuzztime 3m
func FuzzRender(f *testing.F) {
	f.Add("@octocat please", "https://evil.example/x", "deploy", "line\n```\n</details>\n# h", "charts/a.yaml", 3)
	f.Add("<img src=x onerror=alert(1)>", "javascript:alert(1)", "b|u`i`ld", "\x1b[31m@admin\x1b[0m", "../x", 0)
	f.Add("[x](https://a.b) #12 www.evil.example", "https://1-shop.preview.example.com", "x\ny", "````", "a\nb", -1)
	f.Add(strings.Repeat("@a ", 30000), strings.Repeat("h", 70000), "", strings.Repeat("x\n", 70000), "p", 1<<30)
	f.Add("\xff\xfe invalid \u202e utf8", "http://a", "\u200b", "\x00\x07", "\u202e", 1)
	base := fixtures["failed-application"].report(f)
	f.Fuzz(func(t *testing.T, msg, url, task, log, path string, line int) {
		for _, phase := range []Phase{PhaseWaiting, PhaseQueued, PhaseRunning, PhaseSucceeded, PhaseFailed, PhaseSuperseded, PhaseCancelled, PhaseRemoved} {
			r := base
			r.Phase, r.FailureMessage, r.PreviewURL, r.Gate, r.SupersededBy, r.StopReason = phase, msg, url, msg, msg, msg
			r.CurrentTask, r.FailedTask, r.FailedStep = task, task, task
			r.Tasks = []TaskRow{{Name: task, Status: taskFailed}, {Name: msg, Status: taskRunning}}
			r.Excerpt = &Excerpt{Step: task, Text: log, FromLog: len(log)%2 == 0, Missing: msg}
			r.Diagnostics = []preview.Diagnostic{{Kind: msg, Path: path, Line: line, Message: msg, Via: &preview.Location{Path: path, Line: line}},
				{Kind: preview.DiagnosticTemplate, Path: msg, Line: 1, Message: log}}
			r.LastVerdict = &Verdict{Phase: PhaseSucceeded, SHA: msg, Title: msg, PreviewURL: url}
			comment := renderComment(r)
			if len(comment) > maxComment {
				t.Fatalf("%s: comment is %d bytes", phase, len(comment))
			}
			checkInert(t, string(phase)+" comment", comment, r, 1, true)
			o := renderCheckRun(r)
			if len(o.Title) > maxTitle || len(o.Summary) > maxOutput || len(o.Text) > maxOutput {
				t.Fatalf("%s: check run title %d, summary %d, text %d bytes", phase, len(o.Title), len(o.Summary), len(o.Text))
			}
			if strings.ContainsAny(o.Title, "\n\r") || !utf8.ValidString(o.Title) {
				t.Fatalf("%s: title %q is not one line of UTF-8", phase, o.Title)
			}
			checkInert(t, string(phase)+" summary", o.Summary, r, 0, false)
			checkInert(t, string(phase)+" text", o.Text, r, 0, true)
			if len(o.Annotations) > maxAnnotations {
				t.Fatalf("%d annotations", len(o.Annotations))
			}
			for _, a := range o.Annotations {
				if p := a.GetPath(); strings.HasPrefix(p, "/") || strings.HasPrefix(p, "../") || p == ".." || !utf8.ValidString(a.GetMessage()) {
					t.Fatalf("annotation path %q", p)
				}
			}
		}
	})
}

var (
	md = goldmark.New(goldmark.WithExtensions(extension.GFM))
	// liveRE is what GitHub turns into a notification or a link in plain text: @mentions and
	// #references.
	liveRE = regexp.MustCompile(`(^|[^A-Za-z0-9_])[@#][A-Za-z0-9]`)
	// ourHTML is the only HTML the renderer writes.
	ourHTML = regexp.MustCompile(`^(<!-- catalyst-preview:[a-z]+ -->|<details><summary>(Log excerpt|Last deployment: [^<>]*)</summary>|</details>)$`)
)

// checkInert parses markdown and fails on anything text from outside could have made live.
func checkInert(t *testing.T, what, markdown string, r Report, headings int, closing bool) {
	t.Helper()
	if !utf8.ValidString(markdown) {
		t.Fatalf("%s: not valid UTF-8", what)
	}
	src := []byte(markdown)
	doc := md.Parser().Parse(text.NewReader(src))
	seen := 0
	err := ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.CodeSpan, *ast.FencedCodeBlock, *ast.CodeBlock:
			return ast.WalkSkipChildren, nil
		case *ast.Heading:
			seen++
		case *ast.Image:
			t.Fatalf("%s: an image: %s", what, n.Destination)
		case *ast.Link:
			if string(n.Destination) != r.DetailsURL {
				t.Fatalf("%s: a link to %q", what, n.Destination)
			}
		case *ast.AutoLink:
			if u := string(n.URL(src)); u != r.PreviewURL && u != r.LastVerdict.PreviewURL || !safeURLRE.MatchString(u) {
				t.Fatalf("%s: an autolink to %q", what, u)
			}
			return ast.WalkSkipChildren, nil
		case *ast.RawHTML:
			var b strings.Builder
			for i := 0; i < n.Segments.Len(); i++ {
				seg := n.Segments.At(i)
				b.Write(seg.Value(src))
			}
			if !ourHTML.MatchString(strings.TrimSpace(b.String())) {
				t.Fatalf("%s: inline HTML %q", what, b.String())
			}
		case *ast.HTMLBlock:
			for i := 0; i < n.Lines().Len(); i++ {
				seg := n.Lines().At(i)
				l := strings.TrimSpace(string(seg.Value(src)))
				if l != "" && !ourHTML.MatchString(l) {
					t.Fatalf("%s: HTML block line %q", what, l)
				}
			}
			if n.HasClosure() {
				seg := n.ClosureLine
				if l := strings.TrimSpace(string(seg.Value(src))); l != "" && !ourHTML.MatchString(l) {
					t.Fatalf("%s: HTML block closure %q", what, l)
				}
			}
		case *ast.Text:
			if s := string(n.Segment.Value(src)); liveRE.MatchString(s) {
				t.Fatalf("%s: live text %q", what, clip(s))
			}
		case *ast.String:
			if liveRE.MatchString(string(n.Value)) {
				t.Fatalf("%s: live text %q", what, clip(string(n.Value)))
			}
		}
		return ast.WalkContinue, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != headings {
		t.Fatalf("%s: %d headings, want %d:\n%s", what, seen, headings, clip(markdown))
	}
	if closing && nextSteps(r) != "" && !strings.HasSuffix(markdown, cutNote) {
		last := doc.LastChild()
		if _, ok := last.(*ast.Paragraph); !ok {
			t.Fatalf("%s: the closing paragraph was swallowed by a %s:\n%s", what, last.Kind(), clip(markdown))
		}
	}
}

// clip keeps failure messages readable.
func clip(s string) string {
	if len(s) > 600 {
		return s[:300] + " […] " + s[len(s)-300:]
	}
	return s
}
