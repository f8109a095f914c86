package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/preview"
)

// printer is previewctl's one output path: every command's result goes through print, as a
// table (for people), JSON or YAML (for scripts and agents; the preview package's types with
// their json tags, so the three surfaces agree).
type printer struct {
	format string
	out    io.Writer
	now    time.Time
}

func (p printer) print(v any) error {
	switch p.format {
	case "json":
		enc := json.NewEncoder(p.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		raw, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = p.out.Write(raw)
		return err
	}
	tw := tabwriter.NewWriter(p.out, 0, 4, 3, ' ', 0)
	switch v := v.(type) {
	case *preview.List:
		p.list(tw, v)
	case *preview.Detail:
		p.detail(tw, v)
	case *preview.Explanation:
		p.explain(tw, v)
	case *preview.GCResult:
		p.gc(tw, v)
	case *preview.RetryResult:
		fmt.Fprintf(tw, "retry of %s requested in %s (request %s); the trigger starts the new attempt\n", abbrev(v.SHA), v.Namespace, v.Nonce)
	case *preview.DeleteResult:
		if v.Stage == preview.DeleteGone {
			fmt.Fprintf(tw, "environment %s removed\n", v.Namespace)
		} else {
			fmt.Fprintf(tw, "removal of %s requested; the trigger removes it\n", v.Namespace)
		}
	case *preview.KeepResult:
		if v.Kept {
			fmt.Fprintf(tw, "%s is kept: the idle TTL and gc --idle skip it\n", v.Namespace)
		} else {
			fmt.Fprintf(tw, "%s is no longer kept: the idle TTL applies again\n", v.Namespace)
		}
	case versionInfo:
		fmt.Fprintf(tw, "previewctl:\t%s\t%s %s\n", v.Client.Version, v.Client.GoVersion, v.Client.Commit)
		if v.Server != nil {
			fmt.Fprintf(tw, "kubernetes:\t%s\n", cmp.Or(v.Server.Kubernetes, "unreachable: "+v.Server.Error))
		}
	default:
		return fmt.Errorf("no table for %T", v)
	}
	return tw.Flush()
}

func (p printer) list(tw io.Writer, l *preview.List) {
	fmt.Fprintln(tw, "REPOSITORY\tPR\tSTATE\tSHA\tAGE\tACTIVE\tURL\tCPU\tMEMORY\tQUOTA\tREASON")
	for _, e := range l.Items {
		cpu, mem, quota := "-", "-", "-"
		if u := e.Usage; u != nil {
			cpu, mem = amount(u.CPU), amount(u.Memory)
			quota = "ok"
			if u.OverQuota {
				quota = "FULL:" + strings.Join(u.Exhausted, ",")
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(e.Repo), e.PR, stateOf(e), dash(abbrev(e.HeadSHA)),
			p.age(e.Created), p.age(e.LastActivity), dash(e.URL), cpu, mem, quota, dash(e.Reason))
	}
}

// stateOf flags what needs attention beyond the state: kept environments.
func stateOf(e preview.Environment) string {
	s := string(e.State)
	if e.Kept {
		s += ",kept"
	}
	return s
}

func (p printer) detail(tw io.Writer, d *preview.Detail) {
	e := d.Environment
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Environment", e.Ref().String()+" ("+e.Namespace+")")
	pr := e.PRState
	if e.Author != "" {
		pr += ", by @" + e.Author
	}
	row("Pull request", dash(e.PRURL)+" ("+cmp.Or(pr, "state unknown")+")")
	row("State", string(e.State)+" — "+e.Reason)
	row("Head", dash(e.HeadSHA))
	row("URL", dash(e.URL))
	row("Created", p.when(e.Created))
	row("Last push", p.when(e.IdleSince))
	row("Last activity", p.when(e.LastActivity))
	kept := "no"
	if e.Kept {
		kept = "yes (the idle TTL and gc --idle skip it)"
	}
	row("Kept", kept)
	if e.ExpiresAt != nil {
		row("Expires", p.when(*e.ExpiresAt)+" (idle TTL; warned on the pull request)")
	}
	if e.Removal != nil {
		row("Removal", fmt.Sprintf("requested by %s (%s) %s", e.Removal.By, e.Removal.Reason, p.when(e.Removal.At)))
	}
	row("Usage", usage(e.Usage))
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "RUN\tSHA\tATTEMPT\tCAUSE\tSTATE\tSTARTED\tDURATION\tMESSAGE")
	for _, r := range d.Runs {
		started := "-"
		if r.Started != nil {
			started = p.age(*r.Started) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Name, abbrev(r.SHA), r.Attempt, dash(r.Cause), r.State, started,
			p.span(r.Started, r.Finished), dash(firstLine(cmp.Or(runMessage(r), ""))))
		for _, t := range r.Tasks {
			fmt.Fprintf(tw, "  %s\t\t\t\t%s\t\t%s\t%s\n", t.Name, dash(t.State), p.span(t.Started, t.Finished), dash(firstLine(taskMessage(t))))
			for _, d := range t.Diagnostics {
				fmt.Fprintf(tw, "\t\t\t\t\t\t\t  %s\n", preview.FormatDiagnostic(d))
			}
		}
	}
	if len(d.Runs) == 0 {
		fmt.Fprintln(tw, "(no runs)")
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "Tekton:")
	for _, c := range d.Commands {
		fmt.Fprintln(tw, "  "+c)
	}
}

func runMessage(r preview.Run) string {
	switch r.State {
	case preview.RunFailed, preview.RunCancelled, preview.RunSuperseded:
		if r.StopReason != "" {
			return "stopped: " + r.StopReason
		}
		return r.Message
	case preview.RunQueued:
		if r.QueuePosition > 0 {
			return fmt.Sprintf("queue position %d", r.QueuePosition)
		}
	case preview.RunSucceeded:
		return r.URL
	}
	return ""
}

func taskMessage(t preview.Task) string {
	if t.State == preview.TaskFailed || t.State == preview.TaskSkipped {
		return cmp.Or(t.Message, t.Reason)
	}
	return ""
}

func (p printer) explain(tw io.Writer, e *preview.Explanation) {
	head := e.Ref
	if e.Namespace != "" && e.Namespace != e.Ref {
		head += " (namespace " + e.Namespace + ")"
	}
	fmt.Fprintln(tw, head)
	fmt.Fprintln(tw, "LINK\tSTATUS\tDETAIL")
	for _, l := range e.Links {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Name, strings.ToUpper(string(l.Status)), dash(l.Detail))
	}
	switch {
	case e.Stop == "":
		fmt.Fprintln(tw, "\nThe preview is up: "+e.URL)
	default:
		fmt.Fprintf(tw, "\nStopped at: %s\nFix: %s\n", e.Stop, e.Fix)
	}
}

func (p printer) gc(tw io.Writer, r *preview.GCResult) {
	if len(r.Items) == 0 && len(r.Skipped) == 0 {
		fmt.Fprintln(tw, "nothing to collect")
		return
	}
	fmt.Fprintln(tw, "REPOSITORY\tPR\tNAMESPACE\tREASON\tDETAIL\tACTION")
	for _, it := range append(append([]preview.GCItem(nil), r.Items...), r.Skipped...) {
		action := it.Action
		if it.Error != "" {
			action += ": " + it.Error
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", dash(it.Environment.Repo), it.Environment.PR, it.Environment.Namespace, it.Reason, it.Detail, action)
	}
}

func usage(u *preview.Usage) string {
	if u == nil {
		return "unknown (no quota, or not readable)"
	}
	s := "cpu " + amount(u.CPU) + ", memory " + amount(u.Memory)
	if u.OverQuota {
		s += ", QUOTA FULL: " + strings.Join(u.Exhausted, ", ")
	} else {
		s += ", within quota"
	}
	if u.Live != nil {
		s += fmt.Sprintf("; live cpu %s, memory %s", u.Live.CPU.String(), u.Live.Memory.String())
	}
	return s
}

func amount(a preview.Amount) string {
	if a.Hard == nil {
		return a.Used.String()
	}
	return a.Used.String() + "/" + a.Hard.String()
}

func (p printer) age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(p.now.Sub(t))
}

func (p printer) when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339) + " (" + p.age(t) + " ago)"
}

func (p printer) span(from, to *time.Time) string {
	if from == nil {
		return "-"
	}
	end := p.now
	if to != nil {
		end = *to
	}
	return duration.HumanDuration(end.Sub(*from))
}

func abbrev(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
