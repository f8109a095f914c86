package setup

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// NewRegistry is a Prometheus registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// KubeConfig loads the client configuration for a controller: its user agent, room for bursts
// of pull requests (client-go's default 5 requests/s would queue them in the client), and
// every request counted on reg.
func KubeConfig(kubeconfig, userAgent string, reg prometheus.Registerer) (*rest.Config, error) {
	rc, err := RESTConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.UserAgent = userAgent
	rc.QPS, rc.Burst = 200, 400
	CountKubeRequests(rc, reg)
	return rc, nil
}

// NewMux serves /healthz, /readyz (the API server answers) and /metrics.
func NewMux(kube kubernetes.Interface, reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if _, err := kube.Discovery().ServerVersion(); err != nil {
			http.Error(w, "apiserver unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// RunController serves mux on o.Listen in every replica and runs reconcile, leader-elected
// unless o.LeaderElect is off, until ctx ends or either fails.
func RunController(ctx context.Context, o ControllerOptions, kube kubernetes.Interface, mux http.Handler, log *zap.Logger, reconcile func(context.Context) error) error {
	srv := &http.Server{Addr: o.Listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return Serve(ctx, srv, log) })
	g.Go(func() error {
		if !o.LeaderElect {
			return reconcile(ctx)
		}
		var runErr error
		err := LeaderElect(ctx, kube, o.SystemNamespace, o.LeaseName, log, func(ctx context.Context) {
			runErr = reconcile(ctx)
		})
		return errors.Join(err, runErr)
	})
	log.Info("started", zap.String("listen", o.Listen), zap.String("system_namespace", o.SystemNamespace), zap.Bool("leader_elect", o.LeaderElect))
	return g.Wait()
}
