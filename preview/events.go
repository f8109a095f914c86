package preview

import (
	"cmp"
	"context"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Event is a Kubernetes Event of an environment's namespace: what the scheduler, the quota
// admission, the controllers and Tekton said about its objects.
type Event struct {
	Type    string    `json:"type"` // Normal | Warning
	Reason  string    `json:"reason"`
	Object  string    `json:"object"` // kind/name
	Message string    `json:"message"`
	Count   int32     `json:"count"`
	Last    time.Time `json:"last"`
}

// Events returns the environment's most recent events, newest first, at most limit.
func (c *Client) Events(ctx context.Context, ref Ref, limit int) ([]Event, error) {
	ns, err := c.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	list, err := c.kube.CoreV1().Events(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, wrap(err, "list events in %s", ns.Name)
	}
	out := make([]Event, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, eventOf(&list.Items[i]))
	}
	slices.SortFunc(out, func(a, b Event) int { return cmp.Or(b.Last.Compare(a.Last), cmp.Compare(a.Object, b.Object)) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func eventOf(e *corev1.Event) Event {
	last := e.LastTimestamp.Time
	if last.IsZero() {
		last = e.EventTime.Time
	}
	if e.Series != nil && !e.Series.LastObservedTime.IsZero() {
		last = e.Series.LastObservedTime.Time
	}
	if last.IsZero() {
		last = e.CreationTimestamp.Time
	}
	count := e.Count
	if e.Series != nil {
		count = max(count, e.Series.Count)
	}
	return Event{Type: e.Type, Reason: e.Reason, Object: e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name,
		Message: e.Message, Count: max(count, 1), Last: last.UTC()}
}
