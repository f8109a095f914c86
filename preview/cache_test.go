package preview

import (
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSlimForCache(t *testing.T) {
	mf := []metav1.ManagedFieldsEntry{{Manager: "tekton"}}
	pr := &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{Name: "r", ManagedFields: mf, Labels: map[string]string{LabelSHA: "abc"}}}
	pr.Status.PipelineSpec = &pipelinev1.PipelineSpec{
		Tasks:   []pipelinev1.PipelineTask{{Name: "build", TaskRef: &pipelinev1.TaskRef{Name: "catalyst-build"}}, {Name: "deploy"}},
		Finally: []pipelinev1.PipelineTask{{Name: "notify"}},
		Params:  pipelinev1.ParamSpecs{{Name: "revision"}},
	}
	pr.Status.Provenance = &pipelinev1.Provenance{}
	pr.Status.ChildReferences = []pipelinev1.ChildStatusReference{{Name: "r-build", PipelineTaskName: "build"}}
	_, err := SlimForCache(pr)
	assert.NilError(t, err)
	assert.Check(t, pr.ManagedFields == nil)
	assert.Check(t, pr.Status.Provenance == nil)
	assert.DeepEqual(t, pr.Status.PipelineSpec, &pipelinev1.PipelineSpec{
		Tasks: []pipelinev1.PipelineTask{{Name: "build"}, {Name: "deploy"}}, Finally: []pipelinev1.PipelineTask{{Name: "notify"}},
	})
	assert.Equal(t, pr.Labels[LabelSHA], "abc", "what the controllers read stays")
	assert.Equal(t, pr.Status.ChildReferences[0].PipelineTaskName, "build")

	tr := &pipelinev1.TaskRun{}
	tr.Status.TaskSpec = &pipelinev1.TaskSpec{Steps: []pipelinev1.Step{{Name: "build"}}}
	tr.Status.Steps = []pipelinev1.StepState{{Name: "build"}}
	_, err = SlimForCache(tr)
	assert.NilError(t, err)
	assert.Check(t, tr.Status.TaskSpec == nil)
	assert.Equal(t, len(tr.Status.Steps), 1, "step states stay: the reporter reads exit codes")

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{ManagedFields: mf}}
	_, err = SlimForCache(ns)
	assert.NilError(t, err)
	assert.Check(t, ns.ManagedFields == nil)
}
