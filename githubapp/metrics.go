package githubapp

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the GitHub client's Prometheus series. Labels are bounded:
// endpoint is a route template, installation is the (few) App installations.
type Metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	rateRemaining *prometheus.GaugeVec
	breaker       *prometheus.GaugeVec
	retries       *prometheus.CounterVec
	refused       *prometheus.CounterVec
}

// NewMetrics builds the metrics and registers them on reg; a nil reg keeps
// them unregistered (tests, tools).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "catalyst_github_requests_total",
			Help: "HTTP requests to the GitHub API by route template, method and status code (\"error\" when no answer).",
		}, []string{"endpoint", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "catalyst_github_request_duration_seconds",
			Help:    "Latency of GitHub API requests by route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"endpoint"}),
		rateRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "catalyst_github_rate_limit_remaining",
			Help: "Requests left in the current rate-limit window, per installation (0 is the App itself or the dev token).",
		}, []string{"installation"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "catalyst_github_circuit_breaker_state",
			Help: "Circuit breaker per installation: 0 closed, 1 half-open, 2 open.",
		}, []string{"installation"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "catalyst_github_retries_total",
			Help: "GitHub calls that failed with 5xx or a network error, by operation.",
		}, []string{"op"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "catalyst_github_calls_refused_total",
			Help: "Calls refused locally without a request, by reason (rate_limited, circuit_open).",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.rateRemaining, m.breaker, m.retries, m.refused)
	}
	return m
}

func (m *Metrics) setBreaker(installation string, s breakerState) {
	m.breaker.WithLabelValues(installation).Set(float64(s))
}
