package main

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/dynamic"

	"github.com/catalyst-preview/catalyst/cmd/internal/setup"
	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/trigger"
	"github.com/catalyst-preview/catalyst/trigger/buildrun"
	"github.com/catalyst-preview/catalyst/trigger/record"
	"github.com/catalyst-preview/catalyst/trigger/webhook"
)

func run(ctx context.Context, o options) error {
	b, err := setup.NewBase(o.ControllerOptions, "catalyst-trigger")
	if err != nil {
		return err
	}
	defer b.Close()
	secrets, err := setup.WebhookSecrets(b.Config.GitHub.WebhookSecretFiles)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(b.REST)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	metrics := trigger.NewMetrics(b.Registry)
	store := record.NewStore(b.Kube, b.Config, o.SystemNamespace, time.Now)
	controller := trigger.NewController(trigger.Deps{
		Kube: b.Kube, Tekton: b.Tekton, Dynamic: dyn, GitHub: trigger.ClientsFrom(b.GitHub), Config: b.Config,
		SystemNamespace: o.SystemNamespace, Log: b.Log, Metrics: metrics, RetryAfter: githubapp.RetryAfter,
		ResyncEvery: o.ResyncEvery,
	})
	mux := setup.NewMux(b.Kube, b.Registry)
	// Every replica serves webhooks: recording is safe under concurrency; only the leader reconciles.
	mux.Handle("/webhook", webhook.NewHandler(secrets, store, b.Log, webhook.NewMetrics(b.Registry)))
	builds := buildrun.NewController(buildrun.Deps{Kube: b.Kube, Tekton: b.Tekton, Dynamic: dyn, Config: b.Config, Log: b.Log.Named("build")})
	return setup.RunController(ctx, o.ControllerOptions, b.Kube, mux, b.Log, func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return controller.Run(ctx, o.Workers) })
		g.Go(func() error { return builds.Run(ctx, 2) })
		return g.Wait()
	})
}
