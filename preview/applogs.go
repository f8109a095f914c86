package preview

import (
	"context"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// tektonTaskRunLabel is on every pod Tekton creates: those are the pipeline's, not the app's.
const tektonTaskRunLabel = "tekton.dev/taskRun"

// appLogs reads the application's containers: every pod of the namespace that Tekton did not
// create. Without Follow, pod by pod, container by container. With Follow, all at once (lines
// of different containers interleave as they come), including pods that start later (a
// rollout), until ctx ends.
func (c *Client) appLogs(ctx context.Context, namespace string, o LogOptions, emit Emit) error {
	list, err := c.kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "!" + tektonTaskRunLabel})
	if err != nil {
		return wrap(err, "list pods in %s", namespace)
	}
	pods := list.Items
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return compareStrings(a.Name, b.Name) })
	if !o.Follow {
		if len(pods) == 0 {
			return emit(LogLine{Line: "no application pods in " + namespace, Note: true})
		}
		for i := range pods {
			for _, ctr := range pods[i].Spec.Containers {
				if err := c.containerLog(ctx, namespace, pods[i].Name, false, c.appLogOptions(o, ctr.Name), LogLine{Pod: pods[i].Name, Container: ctr.Name}, emit); err != nil && KindOf(err) != KindNotFound && KindOf(err) != KindInvalid {
					return err
				}
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	started := map[string]bool{}
	start := func(p *corev1.Pod) {
		for _, ctr := range p.Spec.Containers {
			key := p.Name + "/" + ctr.Name
			if started[key] || p.DeletionTimestamp != nil {
				continue
			}
			if s := containerStatus(p, ctr.Name); s == nil || (s.State.Running == nil && s.State.Terminated == nil) {
				continue // not started: the next event of the pod says when
			}
			started[key] = true
			wg.Add(1)
			go func(pod, container string) {
				defer wg.Done()
				err := c.containerLog(ctx, namespace, pod, true, c.appLogOptions(o, container), LogLine{Pod: pod, Container: container}, emit)
				if err != nil && ctx.Err() == nil && KindOf(err) != KindNotFound {
					select {
					case errs <- err:
					default:
					}
				}
			}(p.Name, ctr.Name)
		}
	}
	w, err := c.kube.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{LabelSelector: "!" + tektonTaskRunLabel, ResourceVersion: list.ResourceVersion})
	if err != nil {
		return wrap(err, "watch pods in %s", namespace)
	}
	defer w.Stop()
	for i := range pods {
		start(&pods[i])
	}
	defer wg.Wait()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type != watch.Deleted {
				start(p)
			}
		}
	}
}

func (c *Client) appLogOptions(o LogOptions, container string) *corev1.PodLogOptions {
	opts := &corev1.PodLogOptions{Container: container, Previous: o.Previous}
	if o.Tail > 0 {
		opts.TailLines = &o.Tail
	}
	if o.Since > 0 {
		secs := int64(o.Since.Seconds())
		opts.SinceSeconds = &secs
	}
	return opts
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
