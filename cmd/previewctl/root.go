package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"

	"github.com/catalyst-preview/catalyst/preview"
)

// Exit codes, documented in the README ("Day-2 operations") and in `previewctl --help`.
const (
	exitOK          = 0
	exitError       = 1 // anything not below
	exitUsage       = 2 // bad flags or arguments: a malformed OWNER/REPO#N, an unknown state
	exitNotFound    = 3 // no such environment
	exitForbidden   = 4 // Kubernetes RBAC refused
	exitConflict    = 5 // the environment changed meanwhile (a push superseded a delete)
	exitUnavailable = 6 // no cluster access, or a wait timed out
	exitAborted     = 7 // the confirmation was declined
)

const exitCodesHelp = `Exit codes:
  0  success
  1  an error not listed below
  2  invalid input: bad flags, a malformed OWNER/REPO#N, an unknown state
  3  not found: no such environment
  4  forbidden: Kubernetes RBAC refused the request
  5  conflict: the environment changed meanwhile (a push superseded a delete)
  6  unavailable: the cluster cannot be reached, or a wait timed out
  7  aborted: the confirmation was declined`

type streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// app is one invocation: flags, streams and the client built from them.
type app struct {
	streams
	config  *genericclioptions.ConfigFlags
	output  string
	system  string
	now     func() time.Time
	newPrev func() (*preview.Client, error) // tests replace it
}

// errAborted: the user declined a confirmation.
var errAborted = errors.New("aborted")

// usageError marks errors of the command line itself.
type usageError struct{ error }

// run executes one command line and returns its exit code. Errors are one line on stderr.
func run(ctx context.Context, args []string, s streams) int {
	a := &app{streams: s}
	return a.runWith(ctx, args, nil)
}

// runWith runs with a given client (tests), or one built from the flags when nil.
func (a *app) runWith(ctx context.Context, args []string, c *preview.Client) int {
	s := a.streams
	a.config, a.now = genericclioptions.NewConfigFlags(true), time.Now
	a.newPrev = a.client
	if c != nil {
		a.newPrev = func() (*preview.Client, error) { return c, nil }
	}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(s.Err, "error: "+oneLine(err.Error()))
	return exitCode(err)
}

func exitCode(err error) int {
	var ue usageError
	switch {
	case errors.Is(err, errAborted):
		return exitAborted
	case errors.As(err, &ue):
		return exitUsage
	}
	switch preview.KindOf(err) {
	case preview.KindInvalid:
		return exitUsage
	case preview.KindNotFound:
		return exitNotFound
	case preview.KindForbidden:
		return exitForbidden
	case preview.KindConflict:
		return exitConflict
	case preview.KindUnavailable:
		return exitUnavailable
	}
	return exitError
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "previewctl",
		Short: "See and manage Catalyst Preview environments with your own Kubernetes identity",
		Long: `previewctl lists, inspects and manages the preview environments Catalyst Preview keeps
for pull requests. It uses your kubeconfig (or --as to impersonate): Kubernetes RBAC decides
what you see and may do. Actions (retry, delete, keep, gc) are requests recorded on the
environment's namespace; the trigger carries them out.

Environments are named OWNER/REPO#N, by their pull request URL, or by namespace (pr-repo-N).

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q (previewctl --help lists them)", args[0])}
			}
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch a.output {
			case "table", "json", "yaml":
				return nil
			}
			return usageError{fmt.Errorf("unknown output format %q: table, json or yaml", a.output)}
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	a.config.AddFlags(root.PersistentFlags())
	root.PersistentFlags().StringVarP(&a.output, "output", "o", "table", "output format: table, json or yaml")
	root.PersistentFlags().StringVar(&a.system, "system-namespace", preview.DefaultSystemNamespace, "namespace of Catalyst's own objects (pending records, read by explain)")
	root.AddCommand(a.listCommand(), a.getCommand(), a.logsCommand(), a.retryCommand(), a.deleteCommand(),
		a.keepCommand(true), a.keepCommand(false), a.gcCommand(), a.explainCommand(), a.versionCommand(),
		a.loginCommand(), a.tokenCommand(), a.mcpCommand())
	return root
}

// client builds the query layer on the caller's kubeconfig (flags included: --context, --as...).
func (a *app) client() (*preview.Client, error) {
	rc, err := a.config.ToRESTConfig()
	if err != nil {
		return nil, &preview.Error{Kind: preview.KindUnavailable, Msg: "no cluster access: " + err.Error(), Err: err}
	}
	rc.QPS, rc.Burst = 50, 100
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, &preview.Error{Kind: preview.KindUnavailable, Msg: "no cluster access: " + err.Error(), Err: err}
	}
	tekton, err := tektonclient.NewForConfig(rc)
	if err != nil {
		return nil, &preview.Error{Kind: preview.KindUnavailable, Msg: "no cluster access: " + err.Error(), Err: err}
	}
	return preview.New(preview.Clients{Kube: kube, Tekton: tekton}, preview.Options{SystemNamespace: a.system}), nil
}

// noArgs and maxOneArg check arguments as usage errors (exit code 2).
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(args, " "))}
	}
	return nil
}

func maxOneArg(_ *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usageError{fmt.Errorf("expected one environment, got %d arguments", len(args))}
	}
	return nil
}

// namespaceFlag is -n when given.
func (a *app) namespaceFlag() string {
	if a.config.Namespace != nil {
		return *a.config.Namespace
	}
	return ""
}

// visibleHint is where List looks when the caller may not list namespaces: -n, or the
// kubeconfig context's namespace when one is set.
func (a *app) visibleHint() []string {
	if ns := a.namespaceFlag(); ns != "" {
		return []string{ns}
	}
	if ns, explicit, err := a.config.ToRawKubeConfigLoader().Namespace(); err == nil && explicit && ns != "" {
		return []string{ns}
	}
	return nil
}

// ref reads the environment argument; without one, -n names it.
func (a *app) ref(args []string) (preview.Ref, error) {
	switch {
	case len(args) == 1:
		return preview.ParseRef(args[0])
	case len(args) == 0 && a.namespaceFlag() != "":
		return preview.ParseRef(a.namespaceFlag())
	case len(args) == 0:
		return preview.Ref{}, usageError{errors.New("name the environment: OWNER/REPO#N, a pull request URL, or its namespace")}
	}
	return preview.Ref{}, usageError{fmt.Errorf("expected one environment, got %d arguments", len(args))}
}

func (a *app) printer() printer { return printer{format: a.output, out: a.Out, now: a.now()} }

func (a *app) warn(warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(a.Err, "warning: "+w)
	}
}
