package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
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
	rc, err := setup.RESTConfig(o.Kubeconfig)
	if err != nil {
		return err
	}
	rc.UserAgent = "catalyst-trigger"
	// client-go's default 5 requests/s would make a burst of pull requests queue in the client.
	rc.QPS, rc.Burst = 50, 100
	reg := prometheus.NewRegistry()
	setup.CountKubeRequests(rc, reg)
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
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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

	mux := http.NewServeMux()
	mux.Handle("/webhook", trigger.NewWebhookHandler(secrets, store, log, metrics))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		// Ready when the apiserver answers: the webhook can then record deliveries.
		if _, err := kube.Discovery().ServerVersion(); err != nil {
			http.Error(w, "apiserver unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Addr: o.Listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return setup.Serve(ctx, srv, log) })
	g.Go(func() error {
		if !o.LeaderElect {
			return controller.Run(ctx, o.Workers)
		}
		var runErr error
		err := setup.LeaderElect(ctx, kube, o.SystemNamespace, o.LeaseName, log, func(ctx context.Context) {
			runErr = controller.Run(ctx, o.Workers)
		})
		return errors.Join(err, runErr)
	})
	log.Info("trigger started", zap.String("listen", o.Listen), zap.String("system_namespace", o.SystemNamespace), zap.Int("repositories", len(cfg.Repositories)))
	return g.Wait()
}
