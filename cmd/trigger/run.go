package main

import (
	"context"
	"fmt"
	"time"

	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/catalyst-preview/catalyst/cmd/internal/setup"
	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/trigger"
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
	secrets, err := setup.WebhookSecrets(cfg.GitHub.WebhookSecretFiles)
	if err != nil {
		return err
	}
	reg := setup.NewRegistry()
	rc, err := setup.KubeConfig(o.Kubeconfig, "catalyst-trigger", reg)
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
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	gh, err := setup.GitHubClients(cfg.GitHub, log, githubapp.NewMetrics(reg))
	if err != nil {
		return err
	}
	metrics := trigger.NewMetrics(reg)
	store := trigger.NewStore(kube, cfg, o.SystemNamespace, time.Now)
	controller := trigger.NewController(trigger.Deps{
		Kube: kube, Tekton: tekton, Dynamic: dyn, GitHub: trigger.ClientsFrom(gh), Config: cfg,
		SystemNamespace: o.SystemNamespace, Log: log, Metrics: metrics, RetryAfter: githubapp.RetryAfter,
		ResyncEvery: o.ResyncEvery,
	})
	mux := setup.NewMux(kube, reg)
	// Every replica serves webhooks: recording is safe under concurrency; only the leader reconciles.
	mux.Handle("/webhook", trigger.NewWebhookHandler(secrets, store, log, metrics))
	return setup.RunController(ctx, o.ControllerOptions, kube, mux, log,
		func(ctx context.Context) error { return controller.Run(ctx, o.Workers) })
}
