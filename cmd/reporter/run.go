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
	rc, err := setup.RESTConfig(o.Kubeconfig)
	if err != nil {
		return err
	}
	rc.UserAgent = "catalyst-reporter"
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	tekton, err := tektonclient.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("tekton client: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
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
	log.Info("reporter started", zap.String("listen", o.Listen), zap.String("system_namespace", o.SystemNamespace), zap.Bool("leader_elect", o.LeaderElect))
	return g.Wait()
}
