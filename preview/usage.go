package preview

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
)

// Usage is what an environment uses against its ResourceQuota and, when the cluster serves
// metrics.k8s.io, what its pods use right now.
type Usage struct {
	CPU    Amount `json:"cpu"`    // requests.cpu (or cpu) used against the quota's hard limit
	Memory Amount `json:"memory"` // requests.memory (or memory)
	// OverQuota: some quota resource is used up (used ≥ hard): new pods of the namespace are
	// refused, and a run waits or fails with ExceededResourceQuota.
	OverQuota bool `json:"overQuota"`
	// Exhausted names those resources (requests.cpu, limits.memory, pods, ...).
	Exhausted []string `json:"exhausted,omitempty"`
	// Live is the pods' current use from metrics.k8s.io; nil when it is not served.
	Live *LiveUsage `json:"live,omitempty"`
}

// Amount is a quantity used against a hard limit (nil: no limit).
type Amount struct {
	Used resource.Quantity  `json:"used"`
	Hard *resource.Quantity `json:"hard,omitempty"`
}

// LiveUsage sums the namespace's pod metrics.
type LiveUsage struct {
	CPU    resource.Quantity `json:"cpu"`
	Memory resource.Quantity `json:"memory"`
}

// usageOf sums the namespace's ResourceQuotas (the trigger writes one; an operator may add more:
// the tightest hard limit counts).
func usageOf(quotas []corev1.ResourceQuota) *Usage {
	if len(quotas) == 0 {
		return nil
	}
	u := &Usage{}
	used, hard := corev1.ResourceList{}, corev1.ResourceList{}
	for _, q := range quotas {
		for name, h := range q.Status.Hard {
			if cur, ok := hard[name]; !ok || h.Cmp(cur) < 0 {
				hard[name] = h
			}
		}
		for name, v := range q.Status.Used {
			if cur, ok := used[name]; !ok || v.Cmp(cur) > 0 {
				used[name] = v
			}
		}
		for name, h := range q.Status.Hard {
			if v, ok := q.Status.Used[name]; ok && v.Cmp(h) >= 0 && !slices.Contains(u.Exhausted, string(name)) {
				u.Exhausted = append(u.Exhausted, string(name))
			}
		}
	}
	slices.Sort(u.Exhausted)
	u.OverQuota = len(u.Exhausted) > 0
	u.CPU = amount(used, hard, corev1.ResourceRequestsCPU, corev1.ResourceCPU)
	u.Memory = amount(used, hard, corev1.ResourceRequestsMemory, corev1.ResourceMemory)
	return u
}

func amount(used, hard corev1.ResourceList, names ...corev1.ResourceName) Amount {
	for _, n := range names {
		h, ok := hard[n]
		if !ok {
			continue
		}
		return Amount{Used: used[n], Hard: &h}
	}
	return Amount{}
}

// MetricsReader reads the summed live usage of a namespace's pods; nil, nil when the cluster
// does not serve metrics.k8s.io.
type MetricsReader interface {
	NamespaceUsage(ctx context.Context, namespace string) (*LiveUsage, error)
}

// apiMetrics reads metrics.k8s.io/v1beta1 PodMetrics through the apiserver (metrics-server).
type apiMetrics struct{ kube kubernetes.Interface }

// podMetricsList is the part of metrics.k8s.io/v1beta1 PodMetricsList that is summed; decoded
// here rather than adding k8s.io/metrics for two fields.
type podMetricsList struct {
	Items []struct {
		Containers []struct {
			Usage corev1.ResourceList `json:"usage"`
		} `json:"containers"`
	} `json:"items"`
}

func (m apiMetrics) NamespaceUsage(ctx context.Context, namespace string) (*LiveUsage, error) {
	rc := m.kube.Discovery().RESTClient()
	if rc == nil {
		return nil, nil
	}
	raw, err := rc.Get().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces", namespace, "pods").DoRaw(ctx)
	if apierrors.IsNotFound(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsForbidden(err) {
		return nil, nil // not served (no metrics-server), or not for this caller: quota only
	}
	if err != nil {
		return nil, fmt.Errorf("read pod metrics of %s: %w", namespace, err)
	}
	return sumPodMetrics(raw)
}

func sumPodMetrics(raw []byte) (*LiveUsage, error) {
	var list podMetricsList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("decode pod metrics: %w", err)
	}
	live := &LiveUsage{}
	for _, p := range list.Items {
		for _, c := range p.Containers {
			live.CPU.Add(c.Usage[corev1.ResourceCPU])
			live.Memory.Add(c.Usage[corev1.ResourceMemory])
		}
	}
	return live, nil
}
