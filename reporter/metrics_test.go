package reporter

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gotest.tools/v3/assert"
	corev1 "k8s.io/api/core/v1"
)

func TestStateGauges(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := newTestController(t, &fakeLogs{})
	c.Metrics = NewMetrics(reg)
	c.Metrics.watch(&stateSource{
		namespaces: c.namespaces, quotas: c.kubeInformers.Core().V1().ResourceQuotas().Lister(),
		stuckAfter: 10 * time.Minute, now: func() time.Time { return fixtureNow },
	})
	nsIndex := c.kubeInformers.Core().V1().Namespaces().Informer().GetIndexer()
	quotaIndex := c.kubeInformers.Core().V1().ResourceQuotas().Informer().GetIndexer()
	assert.NilError(t, nsIndex.Add(namespace(t, 1)))
	assert.NilError(t, nsIndex.Add(namespace(t, 1, `metadata: {name: pr-shop-2}`)))
	assert.NilError(t, nsIndex.Add(namespace(t, 1, `metadata: {name: pr-shop-3, deletionTimestamp: "2026-11-28T12:00:00Z"}`))) // 34 minutes
	assert.NilError(t, nsIndex.Add(namespace(t, 1, `metadata: {name: pr-shop-4, deletionTimestamp: "2026-11-28T12:30:00Z"}`))) // 4 minutes
	for name, used := range map[string]string{"pr-shop-1": `{requests.cpu: 1500m, requests.memory: 1Gi}`, "pr-shop-2": `{requests.cpu: "4", requests.memory: 2Gi}`} {
		assert.NilError(t, quotaIndex.Add(decode[corev1.ResourceQuota](t, `
metadata: {name: catalyst-quota, namespace: `+name+`}
status:
  hard: {requests.cpu: "4", requests.memory: 8Gi, pods: "30"}
  used: `+used)))
	}
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP catalyst_reporter_active_previews PR namespaces that are not being deleted, by repository.
# TYPE catalyst_reporter_active_previews gauge
catalyst_reporter_active_previews{repo="acme.shop"} 2
# HELP catalyst_reporter_namespaces_stuck_terminating PR namespaces deleting for longer than the stuck threshold.
# TYPE catalyst_reporter_namespaces_stuck_terminating gauge
catalyst_reporter_namespaces_stuck_terminating 1
# HELP catalyst_reporter_over_quota 1 when a PR namespace uses all of its requests.cpu or requests.memory quota (new pods are refused).
# TYPE catalyst_reporter_over_quota gauge
catalyst_reporter_over_quota{namespace="pr-shop-1"} 0
catalyst_reporter_over_quota{namespace="pr-shop-2"} 1
# HELP catalyst_reporter_quota_hard ResourceQuota limit of a PR namespace (requests.cpu in cores, requests.memory in bytes).
# TYPE catalyst_reporter_quota_hard gauge
catalyst_reporter_quota_hard{namespace="pr-shop-1",resource="requests.cpu"} 4
catalyst_reporter_quota_hard{namespace="pr-shop-1",resource="requests.memory"} 8.589934592e+09
catalyst_reporter_quota_hard{namespace="pr-shop-2",resource="requests.cpu"} 4
catalyst_reporter_quota_hard{namespace="pr-shop-2",resource="requests.memory"} 8.589934592e+09
# HELP catalyst_reporter_quota_used ResourceQuota usage of a PR namespace (requests.cpu in cores, requests.memory in bytes).
# TYPE catalyst_reporter_quota_used gauge
catalyst_reporter_quota_used{namespace="pr-shop-1",resource="requests.cpu"} 1.5
catalyst_reporter_quota_used{namespace="pr-shop-1",resource="requests.memory"} 1.073741824e+09
catalyst_reporter_quota_used{namespace="pr-shop-2",resource="requests.cpu"} 4
catalyst_reporter_quota_used{namespace="pr-shop-2",resource="requests.memory"} 2.147483648e+09
`), "catalyst_reporter_active_previews", "catalyst_reporter_namespaces_stuck_terminating",
		"catalyst_reporter_over_quota", "catalyst_reporter_quota_hard", "catalyst_reporter_quota_used")
	assert.NilError(t, err)
}

func TestDeploymentMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	m.deployment(fixtures["succeeded"].report(t))
	m.deployment(fixtures["failed-application"].report(t))
	assert.Equal(t, testutil.ToFloat64(m.deployments.WithLabelValues("acme.shop", "succeeded")), 1.0)
	assert.Equal(t, testutil.ToFloat64(m.deployments.WithLabelValues("acme.shop", "failed")), 1.0)
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP catalyst_reporter_time_to_preview_seconds From the pull request event (the trigger first seeing the head commit) to the preview answering its health check.
# TYPE catalyst_reporter_time_to_preview_seconds histogram
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="15"} 0
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="30"} 0
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="45"} 0
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="60"} 0
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="90"} 0
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="120"} 0
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="180"} 0
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="240"} 1
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="300"} 1
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="420"} 1
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="600"} 1
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="900"} 1
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="1200"} 1
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="1800"} 1
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="2700"} 1
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="3600"} 1
catalyst_reporter_time_to_preview_seconds_bucket{repo="acme.shop",le="+Inf"} 1
catalyst_reporter_time_to_preview_seconds_sum{repo="acme.shop"} 200
catalyst_reporter_time_to_preview_seconds_count{repo="acme.shop"} 1
`), "catalyst_reporter_time_to_preview_seconds")
	assert.NilError(t, err)
	assert.Equal(t, testutil.CollectAndCount(m.duration), 2, "a duration per result")
}

// The usage gauge says where its figure comes from: the pods' use from the metrics API where
// it is served, else the quota's record of their requests. A follower exports no gauge.
func TestUsageGauge(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := newTestController(t, &fakeLogs{})
	c.Metrics = NewMetrics(reg)
	assert.NilError(t, c.kubeInformers.Core().V1().Namespaces().Informer().GetIndexer().Add(namespace(t, 1)))
	assert.NilError(t, c.kubeInformers.Core().V1().ResourceQuotas().Informer().GetIndexer().Add(decode[corev1.ResourceQuota](t, `
metadata: {name: catalyst-quota, namespace: pr-shop-1}
status: {hard: {requests.cpu: "4", requests.memory: 8Gi}, used: {requests.cpu: 500m, requests.memory: 256Mi}}`)))
	n, err := testutil.GatherAndCount(reg)
	assert.NilError(t, err)
	assert.Equal(t, n, 0, "a follower (no watch) exports nothing")

	c.Metrics.watch(&stateSource{namespaces: c.namespaces, quotas: c.quotas, stuckAfter: time.Minute, now: time.Now})
	want := func(source, cpu, mem string) string {
		return `
# HELP catalyst_reporter_namespace_usage Resource use of a PR namespace (cpu in cores, memory in bytes). source="metrics": what its pods use now (metrics.k8s.io PodMetrics); source="quota": what they request (ResourceQuota usage), when the metrics API is not served.
# TYPE catalyst_reporter_namespace_usage gauge
catalyst_reporter_namespace_usage{namespace="pr-shop-1",resource="cpu",source="` + source + `"} ` + cpu + `
catalyst_reporter_namespace_usage{namespace="pr-shop-1",resource="memory",source="` + source + `"} ` + mem + "\n"
	}
	assert.NilError(t, testutil.GatherAndCompare(reg, strings.NewReader(want("quota", "0.5", "2.68435456e+08")), "catalyst_reporter_namespace_usage"))

	sample, err := decodePodMetrics([]byte(`{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":[
{"metadata":{"name":"web-1","namespace":"pr-shop-1"},"containers":[{"name":"app","usage":{"cpu":"120m","memory":"64Mi"}},{"name":"sidecar","usage":{"cpu":"30m","memory":"16Mi"}}]},
{"metadata":{"name":"web-2","namespace":"pr-shop-1"},"containers":[{"name":"app","usage":{"cpu":"250000n","memory":"48Mi"}}]},
{"metadata":{"name":"other","namespace":"kube-system"},"containers":[{"name":"x","usage":{"cpu":"1","memory":"1Gi"}}]}]}`))
	assert.NilError(t, err)
	c.Metrics.usage.Store(sample)
	assert.NilError(t, testutil.GatherAndCompare(reg, strings.NewReader(want("metrics", "0.15025", "1.34217728e+08")), "catalyst_reporter_namespace_usage"))

	c.Metrics.watch(nil)
	n, err = testutil.GatherAndCount(reg)
	assert.NilError(t, err)
	assert.Equal(t, n, 0, "a leader that stopped leading exports nothing")
}
