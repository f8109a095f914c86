package reporter

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text that comes from outside the reporter (failure messages, log lines, URLs, diagnostics,
// names read from objects) is made inert before it reaches Markdown: it cannot mention anyone,
// link, inject HTML or break the layout. Inside a code span or a fenced block GitHub renders
// none of those, so outside text goes there; names and SHAs are filtered to their alphabet.

// ansiRE matches terminal escape sequences: CSI (colours, cursor moves), OSC (titles,
// hyperlinks) and two-character escapes.
var ansiRE = regexp.MustCompile(`\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])`)

// sanitize makes s valid UTF-8 without terminal escapes or control characters other than
// newline and tab, and without the bidirectional overrides that make text read differently
// from what it is.
func sanitize(s string) string {
	s = ansiRE.ReplaceAllString(s, "")
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return '\n'
		case unicode.IsControl(r), r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
			return -1
		}
		return r
	}, s)
}

// plain is s on one line, for titles and headings.
func plain(s string) string {
	return strings.Join(strings.Fields(sanitize(s)), " ")
}

// maxCode bounds an inline code span, so that no cut for GitHub's size limit can fall inside
// one (an unclosed span would let its text loose).
const maxCode = 1024

// code renders s as an inline code span, on one line, with a fence longer than any run of
// backticks in it.
func code(s string) string {
	s = cutRunes(s, maxCode)
	s = strings.Join(strings.FieldsFunc(sanitize(s), func(r rune) bool { return r == '\n' || r == '\t' }), " ")
	if strings.TrimSpace(s) == "" {
		return "(empty)"
	}
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// cellEscape makes a rendered fragment safe in a table cell: GitHub splits cells at every
// unescaped pipe, inside code spans too, and unescapes \| there.
func cellEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// fenced renders s as a fenced code block.
func fenced(s string) string {
	s = strings.TrimRight(sanitize(s), "\n")
	fence := fenceFor(s)
	return fence + "\n" + s + "\n" + fence
}

// fenceFor is a backtick fence no line of s can close.
func fenceFor(s string) string { return strings.Repeat("`", max(3, longestRun(s, '`')+1)) }

func longestRun(s string, c rune) int {
	longest, run := 0, 0
	for _, ch := range s {
		run++
		if ch != c {
			run = 0
		}
		longest = max(longest, run)
	}
	return longest
}

// safeURLRE is a URL GitHub may link: http(s), a host name, a plain path. Anything else is
// shown as code.
var safeURLRE = regexp.MustCompile(`^https?://[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%/+-]*)?$`)

// link renders a URL from outside as an autolink when it is plainly one, else as code.
func link(u string) string {
	if u == "" {
		return ""
	}
	if safeURLRE.MatchString(u) {
		return "<" + u + ">"
	}
	return code(u)
}

// name keeps a Kubernetes or Tekton name to its alphabet, so that it is safe anywhere.
func name(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return -1
	}, s)
	return s[:min(len(s), 253)]
}

// short is the 7-character form of a commit SHA, hex digits only.
func short(sha string) string {
	sha = strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' {
			return r
		}
		return -1
	}, sha)
	return sha[:min(7, len(sha))]
}

// cutRunes cuts s to at most n bytes on a rune boundary, marking the cut.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	end := n - len("…")
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "…"
}
