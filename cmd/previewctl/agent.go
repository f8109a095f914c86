package main

import (
	"context"
	"errors"
	"io"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/catalyst-preview/catalyst/kubelogin"
	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/previewmcp"
)

// loginCommand and tokenCommand parse their own flags (package kubelogin): --kubeconfig,
// --user, --cluster and --context there name what login writes, not what it reads.
func (a *app) loginCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "login --issuer URL --client-id ID [--device]",
		Short: "Sign in with your identity provider so that kubectl and k9s act as you",
		Long: `login signs you in with the OpenID Connect provider the cluster trusts (the browser's
authorization-code flow with PKCE, or with --device a code to approve on any device), caches the
tokens, and writes a kubeconfig user whose exec plugin is "previewctl token", with a context for
it made current. Run "previewctl login --help" for the flags.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return helpIsNoError(kubelogin.RunLogin(cmd.Context(), args, a.Err))
		},
	}
}

func (a *app) tokenCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "token --issuer URL --client-id ID",
		Short:              "Print a client.authentication.k8s.io/v1 ExecCredential (the kubeconfig's exec plugin)",
		Hidden:             true, // kubectl runs it, people do not
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return helpIsNoError(kubelogin.RunToken(cmd.Context(), args, a.Out))
		},
	}
}

func helpIsNoError(err error) error {
	if errors.Is(err, pflag.ErrHelp) {
		return nil
	}
	return err
}

func (a *app) mcpCommand() *cobra.Command {
	var readOnly bool
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve the MCP tools to an AI agent over stdio, with your Kubernetes identity",
		Long: `mcp serves the Model Context Protocol on standard input and output, for an agent that
starts previewctl as its MCP server: the tools list, get, read logs of, explain, retry, keep and
delete environments as previewctl does, with your kubeconfig (and --context, --as...), so that
RBAC decides what the agent sees and may do. --read-only serves the read tools only.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.newPrev()
			if err != nil {
				return err
			}
			srv, err := previewmcp.New(previewmcp.Options{
				Client:   func(context.Context, *mcp.CallToolRequest) (*preview.Client, error) { return c, nil },
				ReadOnly: readOnly,
				Version:  version,
			})
			if err != nil {
				return err
			}
			err = srv.Run(cmd.Context(), &mcp.IOTransport{Reader: io.NopCloser(a.In), Writer: nopWriteCloser{a.Out}})
			if errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
				return nil // the agent went away or we were interrupted: a normal end
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "serve the read tools only (list, get, logs, explain)")
	return cmd
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
