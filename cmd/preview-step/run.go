package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/catalyst-preview/catalyst/step"
)

// Exit codes: 1 the step failed, 2 bad usage.
const (
	exitFailed = 1
	exitUsage  = 2
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	sub, err := step.NewSubcommand(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n\n", err)
		usage(stderr)
		return exitUsage
	}
	fs := pflag.NewFlagSet("preview-step "+sub.Name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	logOpts := &logOptions{Level: "info", Encoding: "console"}
	logOpts.AddFlags(fs)
	sub.AddFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err = errors.Join(err, logOpts.Validate(), sub.Validate()); err != nil {
		fmt.Fprintf(stderr, "Error: invalid flags:\n%v\n", err)
		return exitUsage
	}
	log, err := logOpts.Build(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()

	if err := runSubcommand(ctx, sub, log, stdout); err != nil {
		log.Error("step failed", zap.String("subcommand", sub.Name), zap.Bool("userError", step.IsUserError(err)), zap.Error(err))
		// The plain error too: chart errors read as file:line: message, one per line.
		fmt.Fprintf(stderr, "\nError: %v\n", err)
		return exitFailed
	}
	return 0
}

func runSubcommand(ctx context.Context, sub *step.Subcommand, log *zap.Logger, stdout io.Writer) error {
	cfg, err := restConfig(sub.Cluster, sub.Name)
	if err != nil {
		return err
	}
	clients, err := step.NewClients(cfg, sub.Cluster.Namespace)
	if err != nil {
		return err
	}
	r := step.New(clients, log, stdout)
	switch sub.Name {
	case "deploy":
		_, err = r.Deploy(ctx, *sub.Deploy)
	case "healthcheck":
		err = r.HealthCheck(ctx, *sub.Health)
	case "cleanup":
		err = r.Cleanup(ctx, *sub.Cleanup)
	}
	return err
}

// restConfig loads --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the pod's service
// account (in-cluster).
func restConfig(o *step.ClusterOptions, sub string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load Kubernetes client configuration (--kubeconfig, $KUBECONFIG or in-cluster): %w", err)
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	cfg.UserAgent = "catalyst-preview-step/" + sub
	return cfg, nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: preview-step <subcommand> [flags]\n\nSubcommands:\n")
	for _, name := range step.Subcommands {
		sub, _ := step.NewSubcommand(name)
		fmt.Fprintf(w, "  %-12s %s\n", name, sub.Summary)
	}
	fmt.Fprintf(w, "\nRun preview-step <subcommand> --help for its flags.\n")
}

// logOptions configure zap (STYLE.md 12).
type logOptions struct {
	Level    string
	Encoding string
}

func (o *logOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Level, "log-level", o.Level, "Log level: debug, info, warn or error.")
	fs.StringVar(&o.Encoding, "log-encoding", o.Encoding, "Log encoding: console or json.")
}

func (o *logOptions) Validate() error {
	var errs []error
	if _, err := zapcore.ParseLevel(o.Level); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	if o.Encoding != "console" && o.Encoding != "json" {
		errs = append(errs, fmt.Errorf("--log-encoding %q: want console or json", o.Encoding))
	}
	return errors.Join(errs...)
}

func (o *logOptions) Build(w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(o.Level)
	if err != nil {
		return nil, err
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder = zapcore.NewJSONEncoder(encCfg)
	if o.Encoding == "console" {
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), level)), nil
}
