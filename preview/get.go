package preview

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	pipelinev1beta1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// Detail is one environment with its recent runs, task by task.
type Detail struct {
	Environment `json:",inline"`
	// Runs, newest first: deploy attempts and the cleanup.
	Runs []Run `json:"runs"`
	// Commands are the tkn commands that show the same runs.
	Commands []string `json:"commands"`
	// Warnings: parts that could not be read (RBAC).
	Warnings []string `json:"warnings,omitempty"`
}

// GetOptions tune Get.
type GetOptions struct {
	// Runs is how many recent runs to show; 5 when zero.
	Runs int
}

// Get returns one environment with its recent runs.
func (c *Client) Get(ctx context.Context, ref Ref, o GetOptions) (*Detail, error) {
	ns, err := c.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	runs, err := c.runsOf(ctx, ns.Name)
	if err != nil {
		return nil, err
	}
	d := &Detail{Environment: EnvironmentOf(ns, runs)}
	children, warn := c.childrenOf(ctx, ns.Name)
	d.Warnings = append(d.Warnings, warn...)
	slices.SortFunc(runs, func(a, b *pipelinev1.PipelineRun) int {
		return cmp.Or(b.CreationTimestamp.Compare(a.CreationTimestamp.Time), cmp.Compare(b.Name, a.Name))
	})
	limit := cmp.Or(o.Runs, 5)
	for i, pr := range runs {
		if i == limit {
			break
		}
		d.Runs = append(d.Runs, RunOf(pr, children))
	}
	if d.Runs == nil {
		d.Runs = []Run{}
	}
	quotas, err := c.kube.CoreV1().ResourceQuotas(ns.Name).List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	switch {
	case err == nil:
		d.Usage = usageOf(quotas.Items)
	case apierrors.IsForbidden(err):
		d.Warnings = append(d.Warnings, "cannot list resourcequotas: usage unknown")
	default:
		return nil, wrap(err, "list resourcequotas in %s", ns.Name)
	}
	if d.Usage != nil {
		d.Usage.Live, _ = c.o.Metrics.NamespaceUsage(ctx, ns.Name)
	}
	d.Commands = tknCommands(ns.Name, d.LatestRun)
	return d, nil
}

func tknCommands(namespace, run string) []string {
	cmds := []string{fmt.Sprintf("tkn pipelinerun list -n %s", namespace)}
	if run != "" {
		cmds = append(cmds,
			fmt.Sprintf("tkn pipelinerun describe %s -n %s", run, namespace),
			fmt.Sprintf("tkn pipelinerun logs %s -n %s", run, namespace))
	}
	return cmds
}

// childrenOf reads a namespace's TaskRuns and CustomRuns as tasks, by child name.
func (c *Client) childrenOf(ctx context.Context, namespace string) (map[string]Task, []string) {
	out := map[string]Task{}
	var warn []string
	trs, err := c.tekton.TektonV1().TaskRuns(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		warn = append(warn, "cannot list taskruns: "+reasonOf(err))
	} else {
		for i := range trs.Items {
			out[trs.Items[i].Name] = TaskOf(&trs.Items[i])
		}
	}
	crs, err := c.tekton.TektonV1beta1().CustomRuns(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			warn = append(warn, "cannot list customruns: "+reasonOf(err))
		}
	} else {
		for i := range crs.Items {
			out[crs.Items[i].Name] = taskOfCustomRun(&crs.Items[i])
		}
	}
	return out, warn
}

// taskOfCustomRun reads a CustomRun (the build, run by Catalyst's custom task controller in the
// builds namespace) into a Task. Its pod is elsewhere: see the log reader.
func taskOfCustomRun(cr *pipelinev1beta1.CustomRun) Task {
	t := Task{Name: cr.Labels["tekton.dev/pipelineTask"], Child: cr.Name, Kind: "CustomRun"}
	cond := cr.Status.GetCondition(apis.ConditionSucceeded)
	t.State = childState(cond, cr.Status.StartTime != nil)
	if cond != nil {
		t.Reason, t.Message = cond.Reason, cond.Message
	}
	if cr.Status.StartTime != nil {
		t.Started = ptr(cr.Status.StartTime.UTC())
	}
	if cr.Status.CompletionTime != nil {
		t.Finished = ptr(cr.Status.CompletionTime.UTC())
	}
	return t
}
