// Package tasks embeds the Tekton Tasks the preview and cleanup Pipelines reference by name.
// The trigger copies them into each PR namespace; the chart generator and the e2e tests read
// them from here, so there is one copy of the YAML.
package tasks

import (
	"embed"
	"sync"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/tasks/tektonyaml"
)

// Task names, as referenced by taskRef.name in pipelines/.
const (
	Build       = "catalyst-build"
	Deploy      = "catalyst-deploy"
	Healthcheck = "catalyst-healthcheck"
	Cleanup     = "catalyst-cleanup"
)

// FS holds the Task YAML files, one Task per file.
//
//go:embed *.yaml
var FS embed.FS

var load = sync.OnceValues(func() (map[string]*v1.Task, error) {
	return tektonyaml.Load(FS, "tasks", Decode, func(x *v1.Task) string { return x.Name })
})

// Decode strictly decodes one Task: unknown fields are errors.
func Decode(data []byte) (*v1.Task, error) {
	return tektonyaml.Decode(data, v1.SchemeGroupVersion.String(), "Task",
		func(x *v1.Task) metav1.TypeMeta { return x.TypeMeta }, func(x *v1.Task) string { return x.Name })
}

// All returns copies of every Task, sorted by name. The embedded YAML is checked by this
// package's tests, so a decode error here is a build defect and panics.
func All() []*v1.Task {
	m, err := load()
	if err != nil {
		panic(err)
	}
	return tektonyaml.Sorted(m, (*v1.Task).DeepCopy)
}

// Get returns a copy of the Task named name.
func Get(name string) (*v1.Task, bool) {
	m, err := load()
	if err != nil {
		panic(err)
	}
	x, ok := m[name]
	if !ok {
		return nil, false
	}
	return x.DeepCopy(), true
}
