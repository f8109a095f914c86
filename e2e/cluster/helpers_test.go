package cluster_test

import (
	"fmt"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tekton "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/poll"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

// env is what most tests need: the cluster, a namespace of their own, a Tekton client.
type env struct {
	c      *cluster.Cluster
	ns     string
	tekton tekton.Interface
}

func newEnv(t *testing.T) env {
	t.Helper()
	c := cluster.Require(t)
	tc, err := tekton.NewForConfig(c.RESTConfig())
	assert.NilError(t, err)
	return env{c: c, ns: c.Namespace(t), tekton: tc}
}

const waitTimeout = 60 * time.Second

func waitOpts() []poll.SettingOp {
	return []poll.SettingOp{poll.WithTimeout(waitTimeout), poll.WithDelay(100 * time.Millisecond)}
}

// createPipelineRun decodes a PipelineRun from YAML (strictly), adds annotations and creates it.
func (e env) createPipelineRun(t *testing.T, manifest string, annotations map[string]string) *pipelinev1.PipelineRun {
	t.Helper()
	var pr pipelinev1.PipelineRun
	assert.NilError(t, yaml.UnmarshalStrict([]byte(manifest), &pr))
	if pr.Annotations == nil {
		pr.Annotations = map[string]string{}
	}
	for k, v := range annotations {
		pr.Annotations[k] = v
	}
	created, err := e.tekton.TektonV1().PipelineRuns(e.ns).Create(t.Context(), &pr, metav1.CreateOptions{})
	assert.NilError(t, err)
	return created
}

// waitPipelineRun waits until the PipelineRun's Succeeded condition has the status and reason.
func (e env) waitPipelineRun(t *testing.T, name string, status corev1.ConditionStatus, reason string) *pipelinev1.PipelineRun {
	t.Helper()
	var pr *pipelinev1.PipelineRun
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		var err error
		pr, err = e.tekton.TektonV1().PipelineRuns(e.ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		cond := pr.Status.GetCondition(apis.ConditionSucceeded)
		if cond == nil {
			return poll.Continue("PipelineRun %s has no Succeeded condition yet", name)
		}
		if cond.Status == status && cond.Reason == reason {
			return poll.Success()
		}
		if cond.Status != corev1.ConditionUnknown { // finished otherwise: fail now, not at the timeout
			return poll.Error(fmt.Errorf("PipelineRun %s ended %s/%s: %s", name, cond.Status, cond.Reason, cond.Message))
		}
		return poll.Continue("PipelineRun %s is %s/%s, want %s/%s", name, cond.Status, cond.Reason, status, reason)
	}, waitOpts()...)
	return pr
}

// taskRun returns the TaskRun of one pipeline task, waiting until it exists and cond holds.
func (e env) waitTaskRun(t *testing.T, pipelineRun, pipelineTask string, cond func(*pipelinev1.TaskRun) bool, what string) *pipelinev1.TaskRun {
	t.Helper()
	var tr *pipelinev1.TaskRun
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		list, err := e.tekton.TektonV1().TaskRuns(e.ns).List(t.Context(), metav1.ListOptions{
			LabelSelector: "tekton.dev/pipelineRun=" + pipelineRun + ",tekton.dev/pipelineTask=" + pipelineTask,
		})
		if err != nil {
			return poll.Error(err)
		}
		if len(list.Items) == 0 {
			return poll.Continue("no TaskRun for task %s yet", pipelineTask)
		}
		tr = &list.Items[0]
		if !cond(tr) && finished(tr) { // it will never get there: fail now, not at the timeout
			return poll.Error(fmt.Errorf("TaskRun %s ended without being %s: %v", tr.Name, what, tr.Status.GetCondition(apis.ConditionSucceeded)))
		}
		if !cond(tr) {
			return poll.Continue("TaskRun %s is not %s: %v", tr.Name, what, tr.Status.GetCondition(apis.ConditionSucceeded))
		}
		return poll.Success()
	}, waitOpts()...)
	return tr
}

func running(tr *pipelinev1.TaskRun) bool {
	c := tr.Status.GetCondition(apis.ConditionSucceeded)
	return c != nil && c.Status == corev1.ConditionUnknown && c.Reason == "Running"
}

func finished(tr *pipelinev1.TaskRun) bool {
	c := tr.Status.GetCondition(apis.ConditionSucceeded)
	return c != nil && c.Status != corev1.ConditionUnknown
}
