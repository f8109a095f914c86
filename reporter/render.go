package reporter

import (
	"cmp"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v62/github"

	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/preview"
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
	Name, Status, Conclusion, Title, Summary, Text, DetailsURL, ExternalID string
	StartedAt, CompletedAt                                                 time.Time
	Annotations                                                            []*github.CheckRunAnnotation
}

func externalID(namespace, sha string) string { return namespace + "/" + sha }

var conclusions = map[Phase]string{PhaseSucceeded: "success", PhaseFailed: "failure", PhaseSuperseded: "neutral", PhaseCancelled: "cancelled",
	PhaseRemoved: "neutral"}

// renderCheckRun renders a commit's latest attempt as its check run. A failure with an
// automatic retry scheduled stays in_progress: the commit's verdict is not in yet.
func renderCheckRun(r Report) checkRunOutput {
	o := checkRunOutput{ExternalID: externalID(r.Namespace, r.SHA), DetailsURL: r.DetailsURL, StartedAt: r.Started, Name: cmp.Or(r.CheckRunName, CheckRunName),
		Title: cutBytes(plain(title(r)), maxTitle, "…"), Status: "completed", Conclusion: conclusions[r.Phase]}
	switch {
	case r.Phase == PhaseQueued:
		o.Status, o.Conclusion = "queued", ""
	case r.Phase == PhaseRunning || r.Phase == PhaseFailed && !r.RetryAt.IsZero():
		o.Status, o.Conclusion = "in_progress", ""
	default:
		o.CompletedAt = cmp.Or(r.Finished, r.At)
	}
	o.Summary = sentence(r) + "\n\n"
	if r.Phase != PhaseRemoved {
		o.Summary += facts(r) + "\n" + taskTable(r) + diagnosticsList(r)
	}
	o.Summary = cutBytes(o.Summary, maxOutput, cutNote)
	next := nextSteps(r)
	o.Text = strings.TrimSpace(excerptBlock(r.Excerpt, maxOutput-len(next)-2) + "\n\n" + next)
	if r.Phase == PhaseFailed {
		o.Annotations = annotations(r.Diagnostics)
	}
	return o
}

// maxAnnotations is how many annotations GitHub takes in one request.
const maxAnnotations = 50

// annotations place the diagnostics that name a file on the pull request's diff. GitHub shows
// the message as plain text.
func annotations(ds []preview.Diagnostic) []*github.CheckRunAnnotation {
	var out []*github.CheckRunAnnotation
	for _, d := range ds {
		path := cleanPath(d.Path)
		if path == "" || len(out) == maxAnnotations {
			continue
		}
		line := max(d.Line, 1)
		msg := sanitize(d.Message)
		if d.Via != nil && cleanPath(d.Via.Path) != "" {
			msg += fmt.Sprintf("\n(included from %s%s)", cleanPath(d.Via.Path), when(d.Via.Line > 0, fmt.Sprintf(":%d", d.Via.Line)))
		}
		out = append(out, &github.CheckRunAnnotation{Path: github.String(path), StartLine: github.Int(line), EndLine: github.Int(line),
			AnnotationLevel: github.String("failure"), Title: github.String(cutBytes(plain(kindTitle(d.Kind)), maxTitle, "…")),
			Message: github.String(cutBytes(cmp.Or(strings.TrimSpace(msg), "(no message)"), maxAnnotationMessage, "…"))})
	}
	return out
}

// maxAnnotationMessage is GitHub's limit for an annotation's message (64 KB).
const maxAnnotationMessage = 64 << 10

// cleanPath is a diagnostic's path as GitHub takes it: relative to the repository root, no
// "./", no way out of the repository; "" when it cannot be one.
func cleanPath(p string) string {
	p = strings.TrimSpace(sanitize(p))
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\n\r\\") {
		return ""
	}
	p = path.Clean(p)
	if p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return ""
	}
	return p
}

var kindTitles = map[string]string{
	preview.DiagnosticTemplate: "Chart template error", preview.DiagnosticValues: "Values rejected by the chart's schema",
	preview.DiagnosticManifest: "Invalid rendered manifest", preview.DiagnosticDependency: "Chart dependency error",
	preview.DiagnosticRouting: "No route to the preview", preview.DiagnosticRollout: "Release not ready",
	preview.DiagnosticHealth: "Health check failed", preview.DiagnosticConfig: "Catalyst configuration error",
}

func kindTitle(kind string) string { return cmp.Or(kindTitles[kind], "Deployment error") }

// maxListed is how many diagnostics the comment and the summary list; the annotations carry
// every one that names a file.
const maxListed = 10

// diagnosticsList is the short list of the failed task's findings, "" when it has none.
func diagnosticsList(r Report) string {
	if r.Phase != PhaseFailed || len(r.Diagnostics) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n**What went wrong**\n\n")
	for i, d := range r.Diagnostics {
		if i == maxListed {
			fmt.Fprintf(&b, "- and %d more\n", len(r.Diagnostics)-maxListed)
			break
		}
		b.WriteString("- " + kindTitle(d.Kind))
		if p := cleanPath(d.Path); p != "" {
			b.WriteString(" in " + code(p+when(d.Line > 0, fmt.Sprintf(":%d", d.Line))))
		}
		if d.Via != nil && cleanPath(d.Via.Path) != "" {
			b.WriteString(" (included from " + code(cleanPath(d.Via.Path)+when(d.Via.Line > 0, fmt.Sprintf(":%d", d.Via.Line))) + ")")
		}
		b.WriteString(": " + code(cutBytes(d.Message, maxListedMessage, "…")) + "\n")
	}
	return b.String()
}

// maxListedMessage cuts one listed message; the annotation has all of it.
const maxListedMessage = 300

// create and update are the go-github requests of a rendered check run.
func (o checkRunOutput) create(sha string) github.CreateCheckRunOptions {
	c := github.CreateCheckRunOptions{Name: o.Name, HeadSHA: sha, ExternalID: &o.ExternalID, Status: &o.Status,
		Output: &github.CheckRunOutput{Title: &o.Title, Summary: &o.Summary, Text: &o.Text, Annotations: o.Annotations}}
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
	fmt.Fprintf(&b, "%s\n### %s Catalyst Preview: %s\n\n%s\n\n", commentMarker, emoji(r), plain(title(r)), sentence(r))
	if r.Phase != PhaseRemoved && r.Phase != PhaseWaiting {
		b.WriteString(facts(r) + "\n" + taskTable(r) + diagnosticsList(r) + "\n")
	}
	if r.Phase == PhaseRemoved && r.LastVerdict != nil {
		b.WriteString(lastVerdict(*r.LastVerdict) + "\n\n")
	}
	next := nextSteps(r)
	if r.Excerpt != nil {
		const open, end = "<details><summary>Log excerpt</summary>\n\n", "\n</details>\n\n"
		b.WriteString(open + excerptBlock(r.Excerpt, maxComment-b.Len()-len(next)-len(open)-len(end)) + end)
	}
	return cutBytes(b.String()+next, maxComment, cutNote)
}

// lastVerdict keeps, collapsed, what the comment said before the environment went. It is read
// back from an annotation, so its text is treated as from outside.
func lastVerdict(v Verdict) string {
	phase := v.Phase
	if _, ok := emojis[phase]; !ok {
		phase = "unknown"
	}
	body := "Commit " + code(short(v.SHA)) + ": " + code(v.Title) + when(!v.At.IsZero(), " (at "+stamp(v.At)+")") + "."
	if v.Phase == PhaseSucceeded && v.PreviewURL != "" {
		body += " The preview was served at " + link(v.PreviewURL) + "."
	}
	return "<details><summary>Last deployment: " + emoji(Report{Phase: phase}) + " " + string(phase) + "</summary>\n\n" + body + "\n</details>"
}

var emojis = map[Phase]string{PhaseWaiting: "⏸️", PhaseQueued: "⏳", PhaseRunning: "🔄", PhaseSucceeded: "✅",
	PhaseFailed: "❌", PhaseSuperseded: "⏭️", PhaseCancelled: "⏹️", PhaseRemoved: "🗑️"}

func emoji(r Report) string {
	if r.Phase == PhaseFailed && !r.RetryAt.IsZero() {
		return "🔁"
	}
	return emojis[r.Phase]
}

// stopRunRemoved is the stop reason of a check run closed because its PipelineRun was deleted.
const stopRunRemoved = "run-removed"

var stopWhy = map[string][2]string{ // stop reason: title suffix, sentence suffix
	"closed":            {" (pull request closed)", " because the pull request was closed"},
	"cancelled-by-user": {" on request", " on request (`/cancel`)"},
}

// title is the one-line, plain-text state: the check run title and the comment heading. Every
// part of it is ours or filtered to a safe alphabet (task names, commit SHAs), so it needs no
// escaping beyond plain.
func title(r Report) string {
	switch r.Phase {
	case PhaseQueued:
		return "queued" + when(r.QueuePosition > 0, fmt.Sprintf(" (position %d)", r.QueuePosition))
	case PhaseRunning:
		return "deploying" + when(r.CurrentTask != "", " ("+name(r.CurrentTask)+when(!r.TaskStarted.IsZero(), ", "+elapsed(r.TaskStarted, r.At))+")")
	case PhaseSucceeded:
		return "preview ready"
	case PhaseFailed:
		return "failed" + when(r.FailedTask != "", " in "+name(r.FailedTask)) + when(classes[r.FailureClass] != "", " ("+r.FailureClass+" error)") +
			when(!r.RetryAt.IsZero(), ", retrying at "+r.RetryAt.UTC().Format("15:04 UTC"))
	case PhaseSuperseded:
		return "superseded by " + short(r.SupersededBy)
	case PhaseCancelled:
		return "cancelled" + stopWhy[r.StopReason][0]
	case PhaseRemoved:
		if r.StopReason == stopRunRemoved {
			return "deployment removed"
		}
		return "environment removed"
	}
	return "waiting (" + cmp.Or(name(r.Gate), "no run yet") + ")"
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

// sentence says what happened, in Markdown; text from outside (messages, URLs) is made inert.
func sentence(r Report) string {
	c := code(short(r.SHA))
	switch r.Phase {
	case PhaseQueued:
		return "Commit " + c + " waits for a free deployment slot" +
			when(r.QueuePosition > 0, fmt.Sprintf(" (position %d in the queue when this was written)", r.QueuePosition)) + "."
	case PhaseRunning:
		if r.CurrentTask == "" {
			return "Commit " + c + " is being deployed: the pipeline is starting."
		}
		return "Commit " + c + " is being deployed: task " + code(name(r.CurrentTask)) + " is running" +
			when(!r.TaskStarted.IsZero(), " (for "+elapsed(r.TaskStarted, r.At)+")") + "."
	case PhaseSucceeded:
		return "The preview of commit " + c + " is live at " + cmp.Or(link(r.PreviewURL), "(no URL reported)") + "."
	case PhaseFailed:
		msg := r.FailureMessage
		if r.Excerpt != nil && !r.Excerpt.FromLog && r.Excerpt.Withheld == "" {
			msg = "" // the excerpt shows it, with the step's own message
		}
		return "Deploying commit " + c + " failed" + when(r.FailedTask != "", " in task "+code(name(r.FailedTask))) +
			when(r.FailedStep != "", " (step "+code(name(r.FailedStep))+")") + classes[r.FailureClass] + "." +
			when(!r.RetryAt.IsZero(), " It is retried automatically at "+stamp(r.RetryAt)+".") +
			when(strings.TrimSpace(msg) != "", "\n\n"+fenced(cutBytes(msg, maxMessage, "…")))
	case PhaseSuperseded:
		return "Deploying commit " + c + " was stopped: commit " + code(short(r.SupersededBy)) + " superseded it."
	case PhaseCancelled:
		return "Deploying commit " + c + " was cancelled" + stopWhy[r.StopReason][1] + "."
	case PhaseRemoved:
		if r.StopReason == stopRunRemoved {
			return "The PipelineRun deploying commit " + c + " was deleted before it finished."
		}
		return "The preview environment was removed" + when(!r.RemovedAt.IsZero(), " at "+stamp(r.RemovedAt)) + "; commit " + c + " is no longer served."
	}
	why, ok := gates[r.Gate]
	if !ok {
		why = "it waits for the trigger" + when(r.Gate != "", " ("+code(r.Gate)+")")
	}
	return "Commit " + c + " is not deployed: " + why + "."
}

// facts lists commit, attempt, preview URL and timestamps; its header row is the commit.
func facts(r Report) string {
	b := fmt.Sprintf("| Commit | %s (attempt %d) |\n|---|---|\n", code(short(r.SHA)), r.Attempt)
	if r.Phase == PhaseSucceeded && r.PreviewURL != "" {
		b += "| Preview | " + cellEscape(link(r.PreviewURL)) + " |\n"
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
	if r.Phase == PhaseQueued || r.Phase == PhaseRunning {
		b += "| Updated | " + stamp(r.At) + " |\n"
	}
	return b
}

var taskEmoji = map[string]string{taskPending: "⏳", taskRunning: "🔄", taskSucceeded: "✅", taskFailed: "❌", taskSkipped: "⏭️", taskCancelled: "⏹️"}

func taskTable(r Report) string {
	b := "| Task | Status | Duration |\n|---|---|---|\n"
	for _, t := range r.Tasks {
		b += fmt.Sprintf("| %s | %s %s | %s |\n", cellEscape(name(t.Name)), taskEmoji[t.Status], t.Status, when(!t.Started.IsZero(), t.Duration(r.At).String()))
	}
	return b
}

// excerptBlock renders the log excerpt in at most budget bytes, keeping its last lines, in a
// code fence longer than any run of backticks in the log.
func excerptBlock(ex *Excerpt, budget int) string {
	if ex == nil {
		return ""
	}
	if ex.Withheld != "" {
		return "The log excerpt is withheld: the secrets it may contain could not all be read to mask them (" + code(cutBytes(ex.Withheld, 300, "…")) + "). Read the logs where you are allowed to."
	}
	head := "Last lines of the log of step " + code(name(ex.Step)) + " (secret values masked):\n\n"
	if !ex.FromLog {
		head = "The step's log could not be read (" + code(cutBytes(ex.Missing, 300, "…")) + "); the failure messages instead:\n\n"
	}
	text := sanitize(strings.TrimRight(ex.Text, "\n"))
	fence := fenceFor(text)
	text, cut := tail(text, budget-len(head)-2*len(fence)-len(cutNote)-66)
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
	end := max(n-len(note), 0)
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
	logs := "`tkn pipelinerun logs " + name(r.PipelineRun) + " -n " + name(r.Namespace) + "`"
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

// elapsed is how long since start, to the second.
func elapsed(start, now time.Time) string { return max(now.Sub(start), 0).Round(time.Second).String() }
