package trigger

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the trigger's controller. Labels are bounded: kinds, results and outcomes; no PR
// numbers. The webhook's own metrics are in package webhook.
type Metrics struct {
	reconciles   *prometheus.CounterVec
	pipelineRuns *prometheus.CounterVec
	queueDepth   prometheus.Gauge
	runningRuns  prometheus.Gauge
	resyncs      *prometheus.CounterVec
}

// NewMetrics registers the trigger's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "catalyst_trigger_reconciles_total",
			Help: "Reconciles by kind of key (namespace, pending, queue) and result (success, error, requeue).",
		}, []string{"kind", "result"}),
		pipelineRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "catalyst_trigger_pipelineruns_total",
			Help: "PipelineRuns created, started from the queue, cancelled and gracefully stopped, by repository.",
		}, []string{"repo", "operation"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "catalyst_trigger_queue_depth",
			Help: "Deploy PipelineRuns waiting as PipelineRunPending for a concurrency slot.",
		}),
		runningRuns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "catalyst_trigger_running_pipelineruns",
			Help: "Deploy PipelineRuns started and not finished.",
		}),
		resyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "catalyst_trigger_resync_total",
			Help: "Resync passes by result.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.reconciles, m.pipelineRuns, m.queueDepth, m.runningRuns, m.resyncs)
	return m
}

func (m *Metrics) reconciled(kind, result string) {
	if m != nil {
		m.reconciles.WithLabelValues(kind, result).Inc()
	}
}

func (m *Metrics) pipelineRun(repo, operation string) {
	if m != nil {
		m.pipelineRuns.WithLabelValues(repo, operation).Inc()
	}
}

func (m *Metrics) queue(pending, running int) {
	if m != nil {
		m.queueDepth.Set(float64(pending))
		m.runningRuns.Set(float64(running))
	}
}

func (m *Metrics) resynced(result string) {
	if m != nil {
		m.resyncs.WithLabelValues(result).Inc()
	}
}
