package main

import (
	"context"
	"fmt"

	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/catalyst-preview/catalyst/cmd/internal/setup"
	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/reporter"
)

func run(ctx context.Context, o options) error {
	log, err := o.Log.Logger()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cfg, err := config.Load(o.Config)
	if err != nil {
		return err
	}
	reg := setup.NewRegistry()
	rc, err := setup.KubeConfig(o.Kubeconfig, "catalyst-reporter", reg)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	tekton, err := tektonclient.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("tekton client: %w", err)
	}
	gh, err := setup.GitHubClients(cfg.GitHub, log, githubapp.NewMetrics(reg))
	if err != nil {
		return err
	}
	events := record.NewBroadcaster(record.WithContext(ctx))
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	defer events.Shutdown()
	controller := reporter.NewController(reporter.Deps{
		Kube: kube, Tekton: tekton, GitHub: reporter.ClientsFrom(gh), Config: cfg, Log: log,
		Recorder: events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "catalyst-reporter"}),
		Metrics:  reporter.NewMetrics(reg), LogLines: o.LogLines, Settle: o.Settle, StuckAfter: o.StuckAfter,
	})
	return setup.RunController(ctx, o.ControllerOptions, kube, setup.NewMux(kube, reg), log,
		func(ctx context.Context) error { return controller.Run(ctx, o.Workers) })
}
