package trigger

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/catalyst-preview/catalyst/preview"
)

// queuedRuns lists every managed deploy PipelineRun from the cache for the global queue.
func (c *Controller) queuedRuns() ([]queuedRun, error) {
	sel := labels.SelectorFromSet(labels.Set{preview.LabelManaged: preview.ManagedTrue, preview.LabelKind: preview.KindDeploy})
	runs, err := c.runs.List(sel)
	if err != nil {
		return nil, fmt.Errorf("list pipelineruns: %w", err)
	}
	out := make([]queuedRun, 0, len(runs))
	for _, pr := range runs {
		out = append(out, queuedRunOf(pr))
	}
	return out, nil
}

// limits from configuration; a repository's own limit overrides the default per-repository one.
func (c *Controller) limits() limits {
	p := c.Config.Preview
	perRepo := map[string]int{}
	for _, r := range c.Config.Repositories {
		if r.Concurrency > 0 {
			perRepo[preview.RepoLabelValue(r.Name)] = r.Concurrency
		}
	}
	return limits{
		Global: p.Concurrency.Global,
		PerRepo: func(repo string) int {
			if n, ok := perRepo[repo]; ok {
				return n
			}
			return p.Concurrency.PerRepository
		},
	}
}

// reconcileQueue starts queued runs as slots free up, first in first out, and keeps each
// waiting run's position in an annotation for the reporter to show.
func (c *Controller) reconcileQueue(ctx context.Context) error {
	cached, err := c.queuedRuns()
	if err != nil {
		return err
	}
	plan := c.slots.planStarts(cached, c.limits(), c.Now())
	c.Metrics.queue(plan.Pending, plan.Running)
	for _, r := range plan.Start {
		patch := map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{preview.AnnotationQueuePosition: nil}},
			"spec":     map[string]any{"status": nil},
		}
		if err := c.patchRun(ctx, r.Namespace, r.Name, patch); err != nil {
			c.slots.forget(r.Namespace + "/" + r.Name)
			return fmt.Errorf("start queued pipelinerun %s/%s: %w", r.Namespace, r.Name, err)
		}
		c.Metrics.pipelineRun(r.Repo, "started")
		c.Log.Info("started queued pipelinerun", zap.String("namespace", r.Namespace), zap.String("pipelinerun", r.Name))
	}
	for k, pos := range plan.Positions {
		ns, name, _ := strings.Cut(k, "/")
		patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{preview.AnnotationQueuePosition: strconv.Itoa(pos)}}}
		if err := c.patchRun(ctx, ns, name, patch); err != nil {
			return fmt.Errorf("set queue position of %s: %w", k, err)
		}
	}
	return nil
}
