package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/catalyst-preview/catalyst/preview"
)

func (a *app) listCommand() *cobra.Command {
	var repo, states, sortBy string
	var olderThan time.Duration
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the environments you can see, with state, age, activity, URL and quota usage",
		Long: `List the environments you can see. Who may list namespaces cluster-wide sees all of them;
who may not sees the namespaces given with -n (or the kubeconfig context's namespace) and those
their RBAC rules name, and is told so on stderr.`,
		Args:    noArgs,
		Example: "  previewctl list\n  previewctl list --repo acme/shop --state failed,queued\n  previewctl list --older-than 168h -o json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := preview.ParseStates(states)
			if err != nil {
				return err
			}
			by, err := preview.ParseSortBy(sortBy)
			if err != nil {
				return err
			}
			c, err := a.newPrev()
			if err != nil {
				return err
			}
			l, err := c.List(cmd.Context(), preview.ListOptions{Namespaces: a.visibleHint(), Repo: repo, States: st, OlderThan: olderThan, SortBy: by})
			if err != nil {
				return err
			}
			a.warn(l.Warnings)
			if len(l.Items) == 0 && a.output == "table" {
				fmt.Fprintln(a.Err, "No preview environments found.")
				return nil
			}
			return a.printer().print(l)
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "only this repository (OWNER/REPO)")
	cmd.Flags().StringVar(&states, "state", "", "only these states, comma-separated: "+stateNames())
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "only environments created longer ago than this (e.g. 72h)")
	cmd.Flags().StringVar(&sortBy, "sort-by", "name", "order: name (repository, PR), age (oldest first) or activity (least recent first)")
	return cmd
}

func stateNames() string {
	var s []string
	for _, st := range preview.States {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

func (a *app) getCommand() *cobra.Command {
	var runs int
	cmd := &cobra.Command{
		Use:     "get OWNER/REPO#N | NAMESPACE",
		Short:   "Show one environment: its state, recent runs task by task, URL, quota usage, tkn commands",
		Args:    maxOneArg,
		Example: "  previewctl get acme/shop#42\n  previewctl get pr-shop-42 -o yaml",
		RunE: a.onEnvironment(func(cmd *cobra.Command, c *preview.Client, ref preview.Ref) error {
			d, err := c.Get(cmd.Context(), ref, preview.GetOptions{Runs: runs})
			if err != nil {
				return err
			}
			a.warn(d.Warnings)
			return a.printer().print(d)
		}),
	}
	cmd.Flags().IntVar(&runs, "runs", 5, "how many recent runs to show")
	return cmd
}

func (a *app) logsCommand() *cobra.Command {
	var o preview.LogOptions
	var timestamps bool
	cmd := &cobra.Command{
		Use:   "logs OWNER/REPO#N | NAMESPACE",
		Short: "Print the pipeline's step logs (as tkn pipelinerun logs does), or the application's with --app",
		Long: `Print the logs of the head commit's latest run, task by task, step by step, each line
prefixed with [task : step]. With --follow, wait for tasks to start and steps to write, and end
when the run ends. When a task's pod is gone, say so and print what its TaskRun kept (step
exit codes, the failure message, the deploy's diagnostics). previewctl's own notes go to stderr.

With --app, print the application's containers instead (every pod of the namespace that is not
a pipeline pod), each line prefixed with [pod/container]; --follow then runs until interrupted.
With -o json, one JSON object per line: task, step, pod, container, line, time, note.`,
		Args:    maxOneArg,
		Example: "  previewctl logs acme/shop#42\n  previewctl logs acme/shop#42 --task deploy --follow\n  previewctl logs acme/shop#42 --app --tail 50 -f",
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := a.ref(args)
			if err != nil {
				return err
			}
			if a.output == "yaml" {
				return usageError{fmt.Errorf("logs print table (text) or json (one object per line), not yaml")}
			}
			if !o.App && (o.Tail != 0 || o.Since != 0 || o.Previous) {
				return usageError{fmt.Errorf("--tail, --since and --previous apply to --app")}
			}
			c, err := a.newPrev()
			if err != nil {
				return err
			}
			w := bufio.NewWriter(a.Out)
			defer w.Flush()
			enc := json.NewEncoder(w)
			return c.Logs(cmd.Context(), ref, o, func(l preview.LogLine) error {
				if a.output == "json" {
					return enc.Encode(l)
				}
				if l.Note {
					w.Flush()
					_, err := fmt.Fprintln(a.Err, formatLogLine(l, false))
					return err
				}
				_, err := fmt.Fprintln(w, formatLogLine(l, timestamps))
				if o.Follow {
					w.Flush()
				}
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Task, "task", "", "only this pipeline task (build, deploy, healthcheck, cleanup)")
	f.BoolVarP(&o.Follow, "follow", "f", false, "follow new lines and steps until the run ends")
	f.BoolVar(&o.PreviousRun, "previous-run", false, "the run before the latest")
	f.StringVar(&o.Run, "run", "", "a PipelineRun by name instead of the latest")
	f.BoolVar(&o.App, "app", false, "the application's containers instead of the pipeline's")
	f.Int64Var(&o.Tail, "tail", 0, "with --app: the last lines of each container")
	f.DurationVar(&o.Since, "since", 0, "with --app: only lines newer than this (e.g. 10m)")
	f.BoolVar(&o.Previous, "previous", false, "with --app: the previous instance of restarted containers")
	f.BoolVar(&timestamps, "timestamps", false, "print each line's timestamp")
	return cmd
}

// formatLogLine renders a line as tkn (pipeline) and kubectl --prefix (application) do.
func formatLogLine(l preview.LogLine, timestamps bool) string {
	prefix := ""
	switch {
	case l.Note && l.Task != "":
		prefix = "[" + l.Task + "] "
	case l.Note:
	case l.Task != "":
		prefix = "[" + l.Task + " : " + l.Step + "] "
	default:
		prefix = "[" + l.Pod + "/" + l.Container + "] "
	}
	if l.Note {
		return "previewctl: " + prefix + l.Line
	}
	if timestamps && !l.Time.IsZero() {
		prefix = l.Time.Format(time.RFC3339Nano) + " " + prefix
	}
	return prefix + l.Line
}

func (a *app) retryCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "retry OWNER/REPO#N | NAMESPACE",
		Short: "Ask for a new attempt at the head commit (the same request as a /retest comment)",
		Args:  maxOneArg,
		RunE: a.onEnvironment(func(cmd *cobra.Command, c *preview.Client, ref preview.Ref) error {
			r, err := c.Retry(cmd.Context(), ref)
			if err != nil {
				return err
			}
			return a.printer().print(r)
		}),
	}
}

func (a *app) deleteCommand() *cobra.Command {
	var yes, noWait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "delete OWNER/REPO#N | NAMESPACE",
		Short: "Remove an environment: stop its runs, run the cleanup, delete the namespace, and wait until it is gone",
		Long: `Remove an environment the way a closed pull request's is removed: the trigger stops its runs,
runs the cleanup pipeline and deletes the namespace. previewctl records the request with your
identity and shows the progress until the namespace is gone. The pull request's record is kept:
a later push or /retest deploys it again.`,
		Args: maxOneArg,
		RunE: a.onEnvironment(func(cmd *cobra.Command, c *preview.Client, ref preview.Ref) error {
			if !yes {
				fmt.Fprintf(a.Err, "Remove the preview environment %s? [y/N] ", ref)
				line, _ := bufio.NewReader(a.In).ReadString('\n')
				if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
					return fmt.Errorf("%w: nothing removed (pass --yes to skip the question)", errAborted)
				}
			}
			ctx := cmd.Context()
			if !noWait {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			r, err := c.Delete(ctx, ref, preview.DeleteOptions{Wait: !noWait, Progress: func(p preview.DeleteProgress) {
				fmt.Fprintf(a.Err, "%s  %-9s %s\n", p.At.Format("15:04:05"), p.Stage, p.Message)
			}})
			if err != nil {
				if preview.KindOf(err) == preview.KindUnavailable && ctx.Err() != nil {
					return fmt.Errorf("%w (the request stays recorded: the trigger removes the environment when it runs)", err)
				}
				return err
			}
			return a.printer().print(r)
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "record the request and return")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the namespace to go")
	return cmd
}

func (a *app) keepCommand(keep bool) *cobra.Command {
	use, short := "keep", "Exempt an environment from the idle TTL and gc --idle (label catalyst.dev/keep=true)"
	if !keep {
		use, short = "unkeep", "Remove the keep label: the idle TTL applies again (after a new warning)"
	}
	return &cobra.Command{
		Use:   use + " OWNER/REPO#N | NAMESPACE",
		Short: short,
		Args:  maxOneArg,
		RunE: a.onEnvironment(func(cmd *cobra.Command, c *preview.Client, ref preview.Ref) error {
			r, err := c.Keep(cmd.Context(), ref, keep)
			if err != nil {
				return err
			}
			return a.printer().print(r)
		}),
	}
}

func (a *app) gcCommand() *cobra.Command {
	var o preview.GCOptions
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove environments of closed pull requests, orphaned ones and (with --idle) idle ones",
		Long: `Select environments of closed or merged pull requests (--closed), orphaned ones whose
repository left the configuration or whose record is broken (--orphans), and those without a
push for longer than --idle (the keep label exempts them); with none of these flags, closed and
orphaned ones. Each is removed through the same request as delete (without waiting); --dry-run
only says what would be removed.`,
		Args:    noArgs,
		Example: "  previewctl gc --dry-run\n  previewctl gc --idle 168h",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Idle < 0 {
				return usageError{fmt.Errorf("--idle must not be negative")}
			}
			c, err := a.newPrev()
			if err != nil {
				return err
			}
			o.Namespaces = a.visibleHint()
			r, err := c.GC(cmd.Context(), o)
			if err != nil {
				return err
			}
			a.warn(r.Warnings)
			if err := a.printer().print(r); err != nil {
				return err
			}
			for _, it := range r.Items {
				if it.Error != "" {
					return fmt.Errorf("gc: %s: %s", it.Environment.Namespace, it.Error)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.Closed, "closed", false, "environments of closed or merged pull requests")
	cmd.Flags().BoolVar(&o.Orphans, "orphans", false, "environments of repositories no longer configured, or with a broken record")
	cmd.Flags().DurationVar(&o.Idle, "idle", 0, "environments without a push for this long (e.g. 168h); kept ones are skipped")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "say what would be removed, remove nothing")
	return cmd
}

func (a *app) explainCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "explain OWNER/REPO#N",
		Short: "Why is there no preview? Walk the chain from the webhook to the health check and name the first broken link",
		Args:  maxOneArg,
		RunE: a.onEnvironment(func(cmd *cobra.Command, c *preview.Client, ref preview.Ref) error {
			e, err := c.Explain(cmd.Context(), ref)
			if err != nil {
				return err
			}
			return a.printer().print(e)
		}),
	}
}

// versionInfo is what version prints.
type versionInfo struct {
	Client clientVersion  `json:"client"`
	Server *serverVersion `json:"server,omitempty"`
}

type clientVersion struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"goVersion"`
}

type serverVersion struct {
	Kubernetes string `json:"kubernetes,omitempty"`
	Error      string `json:"error,omitempty"`
}

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = ""

func (a *app) versionCommand() *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print previewctl's version and the cluster's",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionInfo{Client: clientVersion{Version: "(devel)", GoVersion: "unknown"}}
			if bi, ok := debug.ReadBuildInfo(); ok {
				v.Client.GoVersion = bi.GoVersion
				if bi.Main.Version != "" {
					v.Client.Version = bi.Main.Version
				}
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						v.Client.Commit = s.Value
					}
				}
			}
			if version != "" {
				v.Client.Version = version
			}
			if !clientOnly {
				v.Server = &serverVersion{}
				if dc, err := a.config.ToDiscoveryClient(); err != nil {
					v.Server.Error = oneLine(err.Error())
				} else if sv, err := dc.ServerVersion(); err != nil {
					v.Server.Error = oneLine(err.Error())
				} else {
					v.Server.Kubernetes = sv.GitVersion
				}
			}
			return a.printer().print(v)
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "previewctl's version only")
	return cmd
}

// onEnvironment is the RunE of a command about one environment: it resolves the argument (or the
// current namespace) and the query layer's client before calling run.
func (a *app) onEnvironment(run func(cmd *cobra.Command, c *preview.Client, ref preview.Ref) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ref, err := a.ref(args)
		if err != nil {
			return err
		}
		c, err := a.newPrev()
		if err != nil {
			return err
		}
		return run(cmd, c, ref)
	}
}
