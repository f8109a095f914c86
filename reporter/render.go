package reporter

import (
	"cmp"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v62/github"

	"github.com/catalyst-preview/catalyst/githubapp"
)

// CheckRunName is the name of the one check run per commit.
const CheckRunName = "Catalyst Preview"

// GitHub's size limits. The API documents summary and text as 65535 "characters" and comment
// bodies as 65536, but counts bytes in practice (github/docs#35252): budgets here are bytes,
// within the limit whatever the script.
const (
	maxOutput  = 65535
	maxComment = 65536
	maxTitle   = 255
	maxMessage = 2000 // a failure message quoted in the summary
)

// commentMarker identifies the report comment among the bot's comments.
var commentMarker = githubapp.Marker("report")

// checkRunOutput is a rendered check run.
type checkRunOutput struct {
	Status, Conclusion, Title, Summary, Text, DetailsURL, ExternalID string
	StartedAt, CompletedAt                                           time.Time
}

func externalID(namespace, sha string) string { return namespace + "/" + sha }

var conclusions = map[Phase]string{PhaseSucceeded: "success", PhaseFailed: "failure", PhaseSuperseded: "neutral", PhaseCancelled: "cancelled"}

// renderCheckRun renders a commit's latest attempt as its check run. A failure with an
// automatic retry scheduled stays in_progress: the commit's verdict is not in yet.
func renderCheckRun(r Report) checkRunOutput {
	o := checkRunOutput{ExternalID: externalID(r.Namespace, r.SHA), DetailsURL: r.DetailsURL, StartedAt: r.Started,
		Title: cutBytes(title(r), maxTitle, "…"), Status: "completed", Conclusion: conclusions[r.Phase]}
	switch {
	case r.Phase == PhaseQueued:
		o.Status, o.Conclusion = "queued", ""
	case r.Phase == PhaseRunning || r.Phase == PhaseFailed && !r.RetryAt.IsZero():
		o.Status, o.Conclusion = "in_progress", ""
	default:
		o.CompletedAt = cmp.Or(r.Finished, r.At)
	}
	o.Summary = cutBytes(sentence(r)+"\n\n"+facts(r)+"\n"+taskTable(r), maxOutput, cutNote)
	next := nextSteps(r)
	o.Text = strings.TrimSpace(excerptBlock(r.Excerpt, maxOutput-len(next)-2) + "\n\n" + next)
	return o
}

// create and update are the go-github requests of a rendered check run.
func (o checkRunOutput) create(sha string) github.CreateCheckRunOptions {
	c := github.CreateCheckRunOptions{Name: CheckRunName, HeadSHA: sha, ExternalID: &o.ExternalID, Status: &o.Status,
		Output: &github.CheckRunOutput{Title: &o.Title, Summary: &o.Summary, Text: &o.Text}}
	if o.Conclusion != "" {
		c.Conclusion, c.CompletedAt = &o.Conclusion, &github.Timestamp{Time: o.CompletedAt}
	}
	if o.DetailsURL != "" {
		c.DetailsURL = &o.DetailsURL
	}
	if !o.StartedAt.IsZero() {
		c.StartedAt = &github.Timestamp{Time: o.StartedAt}
	}
	return c
}

func (o checkRunOutput) update() github.UpdateCheckRunOptions {
	c := o.create("")
	return github.UpdateCheckRunOptions{Name: c.Name, DetailsURL: c.DetailsURL, ExternalID: c.ExternalID, Status: c.Status,
		Conclusion: c.Conclusion, CompletedAt: c.CompletedAt, Output: c.Output}
}

// renderComment renders the PR comment about the head commit, with the hidden marker.
func renderComment(r Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n### %s Catalyst Preview: %s\n\n%s\n\n", commentMarker, emoji(r), title(r), sentence(r))
	if r.Phase != PhaseRemoved && r.Phase != PhaseWaiting {
		b.WriteString(facts(r) + "\n" + taskTable(r) + "\n")
	}
	next := nextSteps(r)
	if r.Excerpt != nil {
		const open, end = "<details><summary>Log excerpt</summary>\n\n", "\n</details>\n\n"
		b.WriteString(open + excerptBlock(r.Excerpt, maxComment-b.Len()-len(next)-len(open)-len(end)) + end)
	}
	return cutBytes(b.String()+next, maxComment, cutNote)
}

var emojis = map[Phase]string{PhaseWaiting: "⏸️", PhaseQueued: "⏳", PhaseRunning: "🔄", PhaseSucceeded: "✅",
	PhaseFailed: "❌", PhaseSuperseded: "⏭️", PhaseCancelled: "⏹️", PhaseRemoved: "🗑️"}

func emoji(r Report) string {
	if r.Phase == PhaseFailed && !r.RetryAt.IsZero() {
		return "🔁"
	}
	return emojis[r.Phase]
}

var stopWhy = map[string][2]string{ // stop reason: title suffix, sentence suffix
	"closed":            {" (pull request closed)", " because the pull request was closed"},
	"cancelled-by-user": {" on request", " on request (`/cancel`)"},
}

// title is the one-line, plain-text state: the check run title and the comment heading.
func title(r Report) string {
	switch r.Phase {
	case PhaseQueued:
		return "queued" + when(r.QueuePosition > 0, fmt.Sprintf(" (position %d)", r.QueuePosition))
	case PhaseRunning:
		return "deploying" + when(r.CurrentTask != "", " ("+r.CurrentTask+")")
	case PhaseSucceeded:
		return "preview ready"
	case PhaseFailed:
		return "failed" + when(r.FailedTask != "", " in "+r.FailedTask) + when(r.FailureClass != "", " ("+r.FailureClass+" error)") +
			when(!r.RetryAt.IsZero(), ", retrying at "+r.RetryAt.UTC().Format("15:04 UTC"))
	case PhaseSuperseded:
		return "superseded by " + short(r.SupersededBy)
	case PhaseCancelled:
		return "cancelled" + stopWhy[r.StopReason][0]
	case PhaseRemoved:
		return "environment removed"
	}
	return "waiting (" + cmp.Or(r.Gate, "no run yet") + ")"
}

var gates = map[string]string{
	"approval":     "an untrusted author's commit waits for a collaborator's `/ok-to-test`",
	"draft":        "the pull request is a draft",
	"label":        "the pull request lacks the label that enables previews",
	"unconfigured": "the repository is not configured for previews",
	"closed":       "the pull request is closed",
}

var classes = map[string]string{
	"infrastructure": ": an infrastructure error, not caused by the change",
	"application":    ": an error of the application or its chart",
}

// sentence says what happened, in Markdown.
func sentence(r Report) string {
	c := "`" + short(r.SHA) + "`"
	switch r.Phase {
	case PhaseQueued:
		return "Commit " + c + " waits for a free deployment slot" +
			when(r.QueuePosition > 0, fmt.Sprintf(" (position %d in the queue when this was written)", r.QueuePosition)) + "."
	case PhaseRunning:
		return "Commit " + c + " is being deployed" + when(r.CurrentTask != "", ": task `"+r.CurrentTask+"` is running") + "."
	case PhaseSucceeded:
		return "The preview of commit " + c + " is live at " + cmp.Or(r.PreviewURL, "(no URL reported)") + "."
	case PhaseFailed:
		return "Deploying commit " + c + " failed" + when(r.FailedTask != "", " in task `"+r.FailedTask+"`") +
			when(r.FailedStep != "", " (step `"+r.FailedStep+"`)") + classes[r.FailureClass] + "." +
			when(!r.RetryAt.IsZero(), " It is retried automatically at "+stamp(r.RetryAt)+".") +
			when(r.FailureMessage != "", "\n\n> "+strings.ReplaceAll(cutBytes(r.FailureMessage, maxMessage, "…"), "\n", "\n> "))
	case PhaseSuperseded:
		return "Deploying commit " + c + " was stopped: commit `" + short(r.SupersededBy) + "` superseded it."
	case PhaseCancelled:
		return "Deploying commit " + c + " was cancelled" + stopWhy[r.StopReason][1] + "."
	case PhaseRemoved:
		return "The preview environment was removed at " + stamp(r.RemovedAt) + "; commit " + c + " is no longer served."
	}
	return "Commit " + c + " is not deployed: " + cmp.Or(gates[r.Gate], "it waits for the trigger") + "."
}

// facts lists commit, attempt, preview URL and timestamps.
func facts(r Report) string {
	b := fmt.Sprintf("| | |\n|---|---|\n| Commit | `%s` (attempt %d) |\n", short(r.SHA), r.Attempt)
	if r.Phase == PhaseSucceeded {
		b += when(r.PreviewURL != "", "| Preview | "+r.PreviewURL+" |\n")
	}
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"Queued", r.Queued}, {"Started", r.Started}, {"Finished", r.Finished}} {
		b += when(!t.at.IsZero(), "| "+t.name+" | "+stamp(t.at)+" |\n")
	}
	if r.Phase == PhaseSucceeded && !r.EventAt.IsZero() && !r.Finished.IsZero() {
		b += "| Time to preview | " + r.Finished.Sub(r.EventAt).Round(time.Second).String() + " |\n"
	}
	return b
}

var taskEmoji = map[string]string{taskPending: "⏳", taskRunning: "🔄", taskSucceeded: "✅", taskFailed: "❌", taskSkipped: "⏭️", taskCancelled: "⏹️"}

func taskTable(r Report) string {
	b := "| Task | Status | Duration |\n|---|---|---|\n"
	for _, t := range r.Tasks {
		b += fmt.Sprintf("| %s | %s %s | %s |\n", t.Name, taskEmoji[t.Status], t.Status, when(!t.Started.IsZero(), t.Duration(r.At).String()))
	}
	return b
}

// excerptBlock renders the log excerpt in at most budget bytes, keeping its last lines, in a
// code fence longer than any run of backticks in the log.
func excerptBlock(ex *Excerpt, budget int) string {
	if ex == nil {
		return ""
	}
	head := "Last lines of the log of step `" + ex.Step + "` (secret values masked):\n\n"
	if !ex.FromLog {
		head = "The step's log could not be read (" + ex.Missing + "); the TaskRun's failure message instead:\n\n"
	}
	longest, run := 0, 0
	for _, ch := range ex.Text {
		run++
		if ch != '`' {
			run = 0
		}
		longest = max(longest, run)
	}
	fence := strings.Repeat("`", max(3, longest+1))
	text, cut := tail(strings.TrimRight(ex.Text, "\n"), budget-len(head)-2*len(fence)-len(cutNote)-66)
	return head + when(cut > 0, fmt.Sprintf("_%d earlier lines cut to fit GitHub's size limit._\n\n", cut)) + fence + "\n" + text + "\n" + fence
}

// tail keeps the last whole lines of s that fit in n bytes (the end of the last line if none
// fits) and says how many lines it dropped.
func tail(s string, n int) (string, int) {
	n = max(n, 0)
	if len(s) <= n {
		return s, 0
	}
	lines := strings.Split(s, "\n")
	used, i := 0, len(lines)
	for i > 0 && used+len(lines[i-1])+1 <= n {
		used += len(lines[i-1]) + 1
		i--
	}
	if i < len(lines) {
		return strings.Join(lines[i:], "\n"), i
	}
	last := lines[len(lines)-1]
	start := len(last) - n
	for start < len(last) && !utf8.RuneStart(last[start]) {
		start++
	}
	return last[start:], len(lines) - 1
}

const cutNote = "\n\n_… cut to fit GitHub's size limit._"

// cutBytes cuts s to n bytes, at a line end when one is near, and appends note.
func cutBytes(s string, n int, note string) string {
	if len(s) <= n {
		return s
	}
	end := n - len(note)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	if nl := strings.LastIndexByte(s[:end], '\n'); nl > end/2 {
		end = nl
	}
	return s[:end] + note
}

// nextSteps tells the reader what to do, with a link to the logs.
func nextSteps(r Report) string {
	logs := "`tkn pipelinerun logs " + r.PipelineRun + " -n " + r.Namespace + "`"
	if r.DetailsURL != "" {
		logs = "[the logs](" + r.DetailsURL + ")"
	}
	switch {
	case r.Phase == PhaseFailed && !r.RetryAt.IsZero():
		return "Nothing to do: the deployment is retried automatically. See " + logs + ".\n"
	case r.Phase == PhaseFailed:
		return "**Next:** fix the change and push, or comment `/retest` to deploy this commit again. See " + logs + ".\n"
	case r.Phase == PhaseQueued || r.Phase == PhaseRunning:
		return "Follow the deployment in " + logs + ".\n"
	case r.Phase == PhaseSucceeded:
		return "Every push redeploys the preview; comment `/retest` to deploy this commit again. See " + logs + ".\n"
	case r.Phase == PhaseCancelled && r.StopReason != "closed":
		return "Comment `/retest` to deploy this commit again.\n"
	}
	return ""
}

func when(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func short(sha string) string { return sha[:min(7, len(sha))] }
