package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the webhook endpoint. Labels are bounded: event types and results; no PR numbers.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the webhook's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "catalyst_trigger_webhook_requests_total",
			Help: "Webhook deliveries by event type and result (recorded, unchanged, ignored, rejected, unauthorized, error).",
		}, []string{"event", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "catalyst_trigger_webhook_duration_seconds",
			Help:    "Time from receiving a webhook to answering it, including persisting the record.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"event"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *Metrics) observe(event, result string, d time.Duration) {
	if m == nil {
		return
	}
	if event == "" {
		event = "unknown"
	}
	m.requests.WithLabelValues(event, result).Inc()
	m.latency.WithLabelValues(event).Observe(d.Seconds())
}
