package reporter

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
)

// usageSample is one poll of the metrics API: what the pods of each namespace use now.
type usageSample struct {
	served      bool // metrics.k8s.io answers; otherwise the gauges fall back to quota usage
	byNamespace map[string]map[corev1.ResourceName]float64
}

// UsagePoller reads PodMetrics (metrics.k8s.io, served by metrics-server) for the usage gauge.
// It runs in the leader only; where the API is not served, the gauge says what the quota
// records instead (source="quota").
type UsagePoller struct {
	Kube     kubernetes.Interface
	Interval time.Duration // default 30s
	Log      *zap.Logger
}

// podMetricsPath lists every pod's metrics in one call; the gauge keeps PR namespaces only.
const podMetricsPath = "/apis/metrics.k8s.io/v1beta1/pods"

// Run polls until ctx ends.
func (p *UsagePoller) Run(ctx context.Context, m *Metrics) {
	interval := p.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	log := p.Log
	if log == nil {
		log = zap.NewNop()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s, err := p.Poll(ctx)
		if err != nil {
			log.Warn("cannot read pod metrics, keeping the last sample", zap.Error(err))
		} else if m != nil && ctx.Err() == nil {
			m.usage.Store(s)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll reads PodMetrics once. An API that is not served (no metrics-server) is not an error:
// the sample says so.
func (p *UsagePoller) Poll(ctx context.Context) (*usageSample, error) {
	raw, err := p.Kube.CoreV1().RESTClient().Get().AbsPath(podMetricsPath).DoRaw(ctx)
	if apierrors.IsNotFound(err) || apierrors.IsServiceUnavailable(err) {
		return &usageSample{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pod metrics: %w", err)
	}
	return decodePodMetrics(raw)
}

// podMetricsList is the part of metrics.k8s.io/v1beta1 PodMetricsList the gauge needs.
type podMetricsList struct {
	Items []struct {
		Metadata struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Containers []struct {
			Usage map[corev1.ResourceName]resource.Quantity `json:"usage"`
		} `json:"containers"`
	} `json:"items"`
}

// decodePodMetrics sums the containers' usage per namespace: cpu in cores, memory in bytes.
func decodePodMetrics(raw []byte) (*usageSample, error) {
	var list podMetricsList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("decode pod metrics: %w", err)
	}
	s := &usageSample{served: true, byNamespace: map[string]map[corev1.ResourceName]float64{}}
	for _, pod := range list.Items {
		ns := s.byNamespace[pod.Metadata.Namespace]
		if ns == nil {
			ns = map[corev1.ResourceName]float64{}
			s.byNamespace[pod.Metadata.Namespace] = ns
		}
		for _, c := range pod.Containers {
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := c.Usage[res]; ok {
					ns[res] += q.AsApproximateFloat64()
				}
			}
		}
	}
	return s, nil
}
