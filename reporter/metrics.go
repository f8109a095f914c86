package reporter

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/catalyst-preview/catalyst/preview"
)

// Metrics of the reporter. Labels are bounded: repo (configured repositories), result, surface,
// outcome. The per-namespace quota series carry a namespace label: previews are bounded by the
// open pull requests of configured repositories, and the series are computed from the informer
// caches at scrape time, so they vanish with their namespace instead of going stale.
type Metrics struct {
	reconciles    *prometheus.CounterVec
	reports       *prometheus.CounterVec
	deployments   *prometheus.CounterVec
	timeToPreview *prometheus.HistogramVec
	duration      *prometheus.HistogramVec
	refusals      *prometheus.CounterVec
	state         atomic.Pointer[stateSource]
	usage         atomic.Pointer[usageSample]
}

// stateSource is what the scrape-time gauges read.
type stateSource struct {
	namespaces corelisters.NamespaceLister
	quotas     corelisters.ResourceQuotaLister
	stuckAfter time.Duration
	now        func() time.Time
}

// previewBuckets make p50 and p95 of a time-to-preview of a minute to an hour readable.
var previewBuckets = []float64{15, 30, 45, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1200, 1800, 2700, 3600}

// NewMetrics builds the reporter's metrics and registers them on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "catalyst_reporter_reconciles_total",
			Help: "Reconciles of PR namespaces by result (success, requeue, error).",
		}, []string{"result"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "catalyst_reporter_github_reports_total",
			Help: "Reports written to GitHub by surface (check_run, comment) and outcome (sent, error). Unchanged reports cost nothing and are not counted.",
		}, []string{"surface", "outcome"}),
		deployments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "catalyst_reporter_deployments_total",
			Help: "Deploy attempts that reached a verdict, by repository and result (succeeded, failed, superseded, cancelled).",
		}, []string{"repo", "result"}),
		timeToPreview: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "catalyst_reporter_time_to_preview_seconds",
			Help:    "From the pull request event (the trigger first seeing the head commit) to the preview answering its health check.",
			Buckets: previewBuckets,
		}, []string{"repo"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "catalyst_reporter_deployment_duration_seconds",
			Help:    "From the first task starting to the PipelineRun finishing, by repository and result.",
			Buckets: previewBuckets,
		}, []string{"repo", "result"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "catalyst_reporter_github_refusals_total",
			Help: "Reports GitHub refused for good (422, 404, 410, a 403 that is not a rate limit), by surface and HTTP status; each is not retried until the report changes, and is an Event on the namespace.",
		}, []string{"surface", "code"}),
	}
	if reg != nil {
		reg.MustRegister(m.reconciles, m.reports, m.deployments, m.timeToPreview, m.duration, m.refusals, gauges{m})
	}
	return m
}

// watch points the scrape-time gauges at the leader's informer caches; nil (a follower, or a
// leader that stopped) exports no gauge at all.
func (m *Metrics) watch(s *stateSource) {
	if m != nil {
		m.state.Store(s)
		if s == nil {
			m.usage.Store(nil)
		}
	}
}

func (m *Metrics) refused(surface string, code int) {
	if m != nil {
		m.refusals.WithLabelValues(surface, strconv.Itoa(code)).Inc()
	}
}

func (m *Metrics) reconciled(result string) {
	if m != nil {
		m.reconciles.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) reported(surface string, err error) {
	if m != nil {
		outcome := "sent"
		if err != nil {
			outcome = "error"
		}
		m.reports.WithLabelValues(surface, outcome).Inc()
	}
}

// deployment records an attempt's verdict, once: when its check run first reports it.
func (m *Metrics) deployment(r Report) {
	if m == nil {
		return
	}
	repo := preview.RepoLabelValue(r.Repo)
	m.deployments.WithLabelValues(repo, string(r.Phase)).Inc()
	if !r.Started.IsZero() && !r.Finished.IsZero() {
		m.duration.WithLabelValues(repo, string(r.Phase)).Observe(r.Finished.Sub(r.Started).Seconds())
	}
	if r.Phase == PhaseSucceeded && !r.EventAt.IsZero() && r.Finished.After(r.EventAt) {
		m.timeToPreview.WithLabelValues(repo).Observe(r.Finished.Sub(r.EventAt).Seconds())
	}
}

var (
	activeDesc = prometheus.NewDesc("catalyst_reporter_active_previews",
		"PR namespaces that are not being deleted, by repository.", []string{"repo"}, nil)
	stuckDesc = prometheus.NewDesc("catalyst_reporter_namespaces_stuck_terminating",
		"PR namespaces deleting for longer than the stuck threshold.", nil, nil)
	quotaUsedDesc = prometheus.NewDesc("catalyst_reporter_quota_used",
		"ResourceQuota usage of a PR namespace (requests.cpu in cores, requests.memory in bytes).", []string{"namespace", "resource"}, nil)
	quotaHardDesc = prometheus.NewDesc("catalyst_reporter_quota_hard",
		"ResourceQuota limit of a PR namespace (requests.cpu in cores, requests.memory in bytes).", []string{"namespace", "resource"}, nil)
	overQuotaDesc = prometheus.NewDesc("catalyst_reporter_over_quota",
		"1 when a PR namespace uses all of its requests.cpu or requests.memory quota (new pods are refused).", []string{"namespace"}, nil)
	usageDesc = prometheus.NewDesc("catalyst_reporter_namespace_usage",
		"Resource use of a PR namespace (cpu in cores, memory in bytes). source=\"metrics\": what its pods use now (metrics.k8s.io PodMetrics); source=\"quota\": what they request (ResourceQuota usage), when the metrics API is not served.",
		[]string{"namespace", "resource", "source"}, nil)
)

// usageResource names quota resources as the usage gauge does.
var usageResource = map[corev1.ResourceName]string{corev1.ResourceRequestsCPU: "cpu", corev1.ResourceRequestsMemory: "memory"}

// gauges computes the state gauges from the informer caches when scraped.
type gauges struct{ m *Metrics }

func (g gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{activeDesc, stuckDesc, quotaUsedDesc, quotaHardDesc, overQuotaDesc, usageDesc} {
		ch <- d
	}
}

func (g gauges) Collect(ch chan<- prometheus.Metric) {
	s := g.m.state.Load()
	if s == nil {
		return
	}
	nss, _ := s.namespaces.List(labels.Everything()) // a cache read cannot fail
	active, stuck := map[string]int{}, 0
	for _, ns := range nss {
		switch {
		case ns.DeletionTimestamp == nil:
			active[ns.Labels[preview.LabelRepo]]++
		case s.now().Sub(ns.DeletionTimestamp.Time) > s.stuckAfter:
			stuck++
		}
	}
	for repo, n := range active {
		ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(n), repo)
	}
	ch <- prometheus.MustNewConstMetric(stuckDesc, prometheus.GaugeValue, float64(stuck))
	usage := g.m.usage.Load()
	if usage != nil && usage.served {
		for _, ns := range nss {
			if ns.DeletionTimestamp != nil {
				continue
			}
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				ch <- prometheus.MustNewConstMetric(usageDesc, prometheus.GaugeValue, usage.byNamespace[ns.Name][res], ns.Name, string(res), "metrics")
			}
		}
	}
	quotas, _ := s.quotas.List(labels.Everything())
	seen := map[string]bool{}
	for _, q := range quotas {
		if seen[q.Namespace] { // one series per namespace: the trigger keeps one quota there
			continue
		}
		seen[q.Namespace] = true
		over := 0.0
		for _, res := range []corev1.ResourceName{corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory} {
			hard, ok := q.Status.Hard[res]
			if !ok {
				continue
			}
			used := q.Status.Used[res]
			ch <- prometheus.MustNewConstMetric(quotaUsedDesc, prometheus.GaugeValue, used.AsApproximateFloat64(), q.Namespace, string(res))
			if usage == nil || !usage.served {
				ch <- prometheus.MustNewConstMetric(usageDesc, prometheus.GaugeValue, used.AsApproximateFloat64(), q.Namespace, usageResource[res], "quota")
			}
			ch <- prometheus.MustNewConstMetric(quotaHardDesc, prometheus.GaugeValue, hard.AsApproximateFloat64(), q.Namespace, string(res))
			if used.Cmp(hard) >= 0 {
				over = 1
			}
		}
		ch <- prometheus.MustNewConstMetric(overQuotaDesc, prometheus.GaugeValue, over, q.Namespace)
	}
}
