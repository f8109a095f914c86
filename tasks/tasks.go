// Package tasks embeds the Tekton Tasks the preview and cleanup Pipelines reference by name.
// The trigger copies them into each PR namespace; the chart generator and the e2e tests read
// them from here, so there is one copy of the YAML.
package tasks

import (
	"embed"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

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

var catalog = tektonyaml.NewCatalog[v1.Task](FS, "tasks", v1.SchemeGroupVersion.String(), "Task")

// Decode strictly decodes one Task: unknown fields are errors.
func Decode(data []byte) (*v1.Task, error) { return catalog.Decode(data) }

// All returns copies of every embedded Task, sorted by name.
func All() []*v1.Task { return catalog.All() }

// Get returns a copy of the embedded Task named name.
func Get(name string) (*v1.Task, bool) { return catalog.Get(name) }
