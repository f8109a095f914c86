package reporter

import (
	"fmt"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
)

// Golden files: go test ./reporter -run TestRender -update (or make update-golden).
func TestRenderGolden(t *testing.T) {
	for name, f := range fixtures {
		t.Run(name, func(t *testing.T) {
			r := f.report(t)
			comment := renderComment(r)
			golden.Assert(t, comment, name+".comment.golden")
			assert.Check(t, strings.HasPrefix(comment, commentMarker+"\n"))
			assert.Check(t, len(comment) <= maxComment, "comment is %d bytes", len(comment))
			for _, s := range []string{"hunter2-db-password", "ghs_SECRETTOKEN123"} {
				assert.Check(t, !strings.Contains(comment, s), "secret %q in the comment", s)
			}
			if r.Phase == PhaseWaiting || r.Phase == PhaseRemoved && r.StopReason == "" {
				return // no check run: these describe the pull request, not a run
			}
			o := renderCheckRun(r)
			golden.Assert(t, checkRunText(o), name+".checkrun.golden")
			assert.Check(t, len(o.Title) <= maxTitle)
			assert.Check(t, len(o.Summary) <= maxOutput, "summary is %d bytes", len(o.Summary))
			assert.Check(t, len(o.Text) <= maxOutput, "text is %d bytes", len(o.Text))
			assert.Check(t, !strings.Contains(o.Summary+o.Text, "hunter2-db-password"))
		})
	}
}

// checkRunText lays a rendered check run out for a golden file.
func checkRunText(o checkRunOutput) string {
	var ann strings.Builder
	for _, a := range o.Annotations {
		fmt.Fprintf(&ann, "- %s:%d-%d %s %q: %s\n", a.GetPath(), a.GetStartLine(), a.GetEndLine(), a.GetAnnotationLevel(), a.GetTitle(), a.GetMessage())
	}
	return fmt.Sprintf("name: %s\nstatus: %s\nconclusion: %s\nexternal_id: %s\ndetails_url: %s\nstarted_at: %s\ncompleted_at: %s\ntitle: %s\n--- summary\n%s\n--- text\n%s\n--- annotations\n%s",
		o.Name, o.Status, o.Conclusion, o.ExternalID, o.DetailsURL, o.StartedAt.Format("15:04:05"), o.CompletedAt.Format("15:04:05"), o.Title, o.Summary, o.Text, ann.String())
}

// The excerpt keeps whole lines (2000 bytes each here), so it fills the limit to within a line.
func TestRenderLongLogIsCutToGitHubsLimits(t *testing.T) {
	r := fixtures["failed-long-log"].report(t)
	o := renderCheckRun(r)
	assert.Check(t, len(o.Text) <= maxOutput && len(o.Text) > maxOutput-2100, "text is %d bytes", len(o.Text))
	assert.Check(t, is.Contains(o.Text, "earlier lines cut to fit GitHub's size limit"))
	assert.Check(t, is.Contains(o.Text, "fatal: token *** rejected"), "the last line is kept, masked")
	assert.Check(t, strings.HasSuffix(strings.TrimSpace(strings.Split(o.Text, "**Next:**")[0]), "```"), "the code block is closed")
	c := renderComment(r)
	assert.Check(t, len(c) <= maxComment && len(c) > maxComment-2100, "comment is %d bytes", len(c))
	assert.Check(t, is.Contains(c, "</details>"))
}

func TestTail(t *testing.T) {
	tests := map[string]struct {
		in      string
		n       int
		want    string
		dropped int
	}{
		"fits":              {in: "a\nb\nc", n: 10, want: "a\nb\nc"},
		"keeps last lines":  {in: "aaa\nbbb\nccc", n: 8, want: "bbb\nccc", dropped: 1},
		"one long line":     {in: "aaa\nbbbbbbbbbb", n: 4, want: "bbbb", dropped: 1},
		"utf-8 kept whole":  {in: "ééééé", n: 3, want: "é", dropped: 0},
		"negative budget":   {in: "abc", n: -5, want: "", dropped: 0},
		"exactly one line":  {in: "aa\nbb", n: 2, want: "bb", dropped: 1},
		"empty stays empty": {in: "", n: 0, want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, dropped := tail(tc.in, tc.n)
			assert.Equal(t, got, tc.want)
			assert.Equal(t, dropped, tc.dropped)
		})
	}
}

func TestCutBytes(t *testing.T) {
	s := strings.Repeat("line of text\n", 100)
	got := cutBytes(s, 200, cutNote)
	assert.Check(t, len(got) <= 200)
	assert.Check(t, strings.HasSuffix(got, cutNote))
	assert.Check(t, strings.HasSuffix(strings.TrimSuffix(got, cutNote), "line of text"), "cut at a line end")
	assert.Equal(t, cutBytes("short", 200, cutNote), "short")
}

func TestExcerptFenceOutlastsBackticks(t *testing.T) {
	block := excerptBlock(&Excerpt{Step: "x", Text: "a ```` b", FromLog: true}, 1000)
	assert.Check(t, is.Contains(block, "`````\na ```` b\n`````"))
}
