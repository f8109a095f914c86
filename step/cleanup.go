package step

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Cleanup uninstalls the release (foreground deletion, so owned ReplicaSets and Pods go first)
// and waits until every object of its manifest and every pod of its workloads is gone. A
// release that does not exist is success: cleanup may run twice.
func (r *Runner) Cleanup(ctx context.Context, o CleanupOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	log := r.Log.With(zap.String("release", o.Release), zap.String("namespace", r.Kube.Namespace))
	if _, err := r.Kube.ServerVersion(ctx); err != nil {
		return err
	}
	cfg, err := r.Kube.helm(log)
	if err != nil {
		return err
	}
	rel, err := currentRelease(cfg, o.Release)
	if errors.Is(err, ErrReleaseNotFound) {
		log.Info("release not found; nothing to uninstall")
		fmt.Fprintf(r.Out, "release %s not found in namespace %s: nothing to remove\n", o.Release, r.Kube.Namespace)
		return nil
	}
	if err != nil {
		return err
	}
	resources, err := cfg.KubeClient.Build(strings.NewReader(rel.Manifest), false)
	if err != nil {
		return fmt.Errorf("read the objects of release %q: %w", o.Release, err)
	}
	objs, err := manifestObjects(rel.Manifest)
	if err != nil {
		return err
	}
	selectors := r.podSelectors(ctx, workloadsOf(objs))

	log.Info("uninstalling release", zap.Int("revision", rel.Version), zap.Int("objects", len(resources)))
	u := action.NewUninstall(cfg)
	u.Wait = true
	u.Timeout = remaining(ctx, o.Timeout)
	u.DeletionPropagation = "foreground"
	if _, err := u.Run(o.Release); err != nil {
		return fmt.Errorf("uninstall release %q: %w", o.Release, err)
	}
	if err := r.waitGone(ctx, log, resources, selectors, o.PollInterval); err != nil {
		return fmt.Errorf("release %q uninstalled but objects remain: %w", o.Release, err)
	}
	log.Info("release removed", zap.Int("objects", len(resources)))
	fmt.Fprintf(r.Out, "release %s removed from namespace %s (%d objects)\n", o.Release, r.Kube.Namespace, len(resources))
	return nil
}

func remaining(ctx context.Context, fallback time.Duration) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return fallback
}

// podSelectors reads the pod selectors of the workloads before they are deleted.
func (r *Runner) podSelectors(ctx context.Context, workloads []objectRef) []labels.Selector {
	var out []labels.Selector
	for _, wl := range workloads {
		var sel *metav1.LabelSelector
		switch wl.Kind {
		case "Deployment":
			if d, err := r.Kube.Kube.AppsV1().Deployments(r.Kube.Namespace).Get(ctx, wl.Name, metav1.GetOptions{}); err == nil {
				sel = d.Spec.Selector
			}
		case "StatefulSet":
			if s, err := r.Kube.Kube.AppsV1().StatefulSets(r.Kube.Namespace).Get(ctx, wl.Name, metav1.GetOptions{}); err == nil {
				sel = s.Spec.Selector
			}
		}
		if s, err := metav1.LabelSelectorAsSelector(sel); err == nil && sel != nil && !s.Empty() {
			out = append(out, s)
		}
	}
	return out
}

// waitGone polls until every resource is NotFound and no pod matches the selectors.
func (r *Runner) waitGone(ctx context.Context, log *zap.Logger, resources kube.ResourceList, selectors []labels.Selector, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Second
	}
	for {
		var left []string
		for _, info := range resources {
			err := info.Get()
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				left = append(left, fmt.Sprintf("%s/%s (cannot read: %v)", info.Mapping.GroupVersionKind.Kind, info.Name, err))
			default:
				left = append(left, describeLeft(info.Mapping.GroupVersionKind.Kind, info.Name, info.Object))
			}
		}
		for _, sel := range selectors {
			pods, err := r.Kube.Kube.CoreV1().Pods(r.Kube.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
			if err != nil {
				left = append(left, fmt.Sprintf("pods %s (cannot list: %v)", sel, err))
				continue
			}
			for i := range pods.Items {
				left = append(left, describeLeft("Pod", pods.Items[i].Name, &pods.Items[i]))
			}
		}
		if len(left) == 0 {
			return nil
		}
		sort.Strings(left)
		log.Debug("waiting for objects to be deleted", zap.Strings("objects", left))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", strings.Join(left, ", "), ctx.Err())
		case <-r.Clock.After(interval):
		}
	}
}

func describeLeft(kind, name string, obj any) string {
	s := kind + "/" + name
	m, ok := obj.(metav1.Object)
	if !ok {
		return s
	}
	if m.GetDeletionTimestamp() != nil {
		s += " (terminating"
		if f := m.GetFinalizers(); len(f) > 0 {
			s += ", finalizers " + strings.Join(f, ",")
		}
		s += ")"
	}
	return s
}
