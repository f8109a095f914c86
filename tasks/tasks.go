// Package tasks embeds the Tekton Tasks the preview and cleanup Pipelines reference by name.
// The trigger copies them into each PR namespace; the chart generator and the e2e tests read
// them from here, so there is one copy of the YAML.
package tasks

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"sync"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
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
	files, err := fs.Glob(FS, "*.yaml")
	if err != nil {
		return nil, err
	}
	out := map[string]*v1.Task{}
	for _, f := range files {
		data, err := FS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		t, err := Decode(data)
		if err != nil {
			return nil, fmt.Errorf("tasks/%s: %w", f, err)
		}
		if _, dup := out[t.Name]; dup {
			return nil, fmt.Errorf("tasks/%s: a second Task named %q", f, t.Name)
		}
		out[t.Name] = t
	}
	return out, nil
})

// Decode strictly decodes one Task: unknown fields are errors.
func Decode(data []byte) (*v1.Task, error) {
	var t v1.Task
	if err := yaml.UnmarshalStrict(data, &t); err != nil {
		return nil, err
	}
	if err := caseSensitiveStrict(data, &v1.Task{}); err != nil {
		return nil, err
	}
	if t.APIVersion != v1.SchemeGroupVersion.String() || t.Kind != "Task" {
		return nil, fmt.Errorf("want apiVersion %s kind Task, got %s %s", v1.SchemeGroupVersion, t.APIVersion, t.Kind)
	}
	if t.Name == "" {
		return nil, fmt.Errorf("task has no metadata.name")
	}
	return &t, nil
}

// All returns copies of every Task, sorted by name. The embedded YAML is checked by this
// package's tests, so a decode error here is a build defect and panics.
func All() []*v1.Task {
	m, err := load()
	if err != nil {
		panic(err)
	}
	out := make([]*v1.Task, 0, len(m))
	for _, t := range m {
		out = append(out, t.DeepCopy())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns a copy of the Task named name.
func Get(name string) (*v1.Task, bool) {
	m, err := load()
	if err != nil {
		panic(err)
	}
	t, ok := m[name]
	if !ok {
		return nil, false
	}
	return t.DeepCopy(), true
}

// caseSensitiveStrict catches what yaml.UnmarshalStrict lets through: encoding/json matches
// field names case-insensitively, so "taskref" would silently fill taskRef. The API server
// would drop such a field; here it is an error.
func caseSensitiveStrict(data []byte, into any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, into)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}
