package preview

import (
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
)

// SlimForCache is an informer transform for the controllers' caches: it drops what they never
// read — managed fields everywhere, and from PipelineRuns and TaskRuns the resolved specs Tekton
// copies into their status (all but the task names) and the provenance. With a thousand
// environments that is most of the memory of a cached run.
func SlimForCache(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	switch o := obj.(type) {
	case *pipelinev1.PipelineRun:
		o.Status.Provenance = nil
		if spec := o.Status.PipelineSpec; spec != nil {
			o.Status.PipelineSpec = &pipelinev1.PipelineSpec{Tasks: namesOnly(spec.Tasks), Finally: namesOnly(spec.Finally)}
		}
	case *pipelinev1.TaskRun:
		o.Status.Provenance = nil
		o.Status.TaskSpec = nil
	}
	return obj, nil
}

func namesOnly(tasks []pipelinev1.PipelineTask) []pipelinev1.PipelineTask {
	out := make([]pipelinev1.PipelineTask, len(tasks))
	for i, t := range tasks {
		out[i] = pipelinev1.PipelineTask{Name: t.Name}
	}
	return out
}

// SlimInformers sets SlimForCache on informers that have not started.
func SlimInformers(infs ...cache.SharedIndexInformer) error {
	for _, inf := range infs {
		if err := inf.SetTransform(SlimForCache); err != nil {
			return err
		}
	}
	return nil
}
