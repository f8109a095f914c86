// Package pipelines embeds the Tekton Pipelines of Catalyst Preview — catalyst-preview
// (build → deploy → healthcheck) and catalyst-cleanup — and applies them, with the Tasks they
// reference, into a namespace.
package pipelines

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/tasks"

	"github.com/catalyst-preview/catalyst/tasks/tektonyaml"
)

// Pipeline names.
const (
	Preview = "catalyst-preview"
	Cleanup = "catalyst-cleanup"
)

// Pipeline task names; the trigger and the reporter key off them.
const (
	TaskBuild       = "build"
	TaskDeploy      = "deploy"
	TaskHealthcheck = "healthcheck"
	TaskCleanup     = "cleanup"
)

// Params of catalyst-preview (and, for ParamReleaseName and ParamStepImage, catalyst-cleanup).
const (
	ParamRepoURL          = "repo-url"
	ParamRevision         = "revision"
	ParamPRNumber         = "pr-number"
	ParamImage            = "image"
	ParamChartPath        = "chart-path"
	ParamValuesFile       = "values-file"
	ParamPreviewHost      = "preview-host"
	ParamHealthPath       = "health-path"
	ParamDockerfile       = "dockerfile"
	ParamContext          = "context"
	ParamURLScheme        = "url-scheme"
	ParamStepImage        = "step-image"
	ParamBuilderImage     = "builder-image"
	ParamGitImage         = "git-image"
	ParamReleaseName      = "release-name"
	ParamIngressClass     = "ingress-class"
	ParamCacheImage       = "cache-image"
	ParamRegistryInsecure = "registry-insecure"
	ParamValuesOverlay    = "values-overlay"
	ParamDependencyBuild  = "dependency-build"
	ParamDeployTimeout    = "deploy-timeout"
	ParamHealthTimeout    = "health-timeout"
	ParamHealthConnectTo  = "health-connect-to"
	// ParamHealthCABundle and ParamHealthInsecureSkipVerify configure an https health check.
	ParamHealthCABundle           = "health-ca-bundle"
	ParamHealthInsecureSkipVerify = "health-insecure-skip-verify"
	ParamCleanupTimeout           = "cleanup-timeout"
)

// Results of catalyst-preview.
const (
	ResultURL             = "url"
	ResultImageDigest     = "image-digest"
	ResultReleaseRevision = "release-revision"
)

// TaskOf names the Task a pipeline task runs: its taskRef, or for the build custom task
// (preview.BuildAPIVersion, preview.BuildKind) the Task the build controller runs for it in the
// builds namespace. ok is false for a reference to anything else.
func TaskOf(pt v1.PipelineTask) (name string, ok bool) {
	ref := pt.TaskRef
	switch {
	case ref == nil:
		return "", false
	case ref.APIVersion == preview.BuildAPIVersion && string(ref.Kind) == preview.BuildKind:
		return tasks.Build, true
	case ref.APIVersion == "" && (ref.Kind == "" || ref.Kind == v1.NamespacedTaskKind):
		return ref.Name, ref.Name != ""
	}
	return "", false
}

// FieldManager is the server-side apply field manager of Apply.
const FieldManager = "catalyst-preview"

// FS holds the Pipeline YAML files, one Pipeline per file.
//
//go:embed *.yaml
var FS embed.FS

var catalog = tektonyaml.NewCatalog[v1.Pipeline](FS, "pipelines", v1.SchemeGroupVersion.String(), "Pipeline")

// Decode strictly decodes one Pipeline: unknown fields are errors.
func Decode(data []byte) (*v1.Pipeline, error) { return catalog.Decode(data) }

// All returns copies of every embedded Pipeline, sorted by name.
func All() []*v1.Pipeline { return catalog.All() }

// Get returns a copy of the embedded Pipeline named name.
func Get(name string) (*v1.Pipeline, bool) { return catalog.Get(name) }

// Apply server-side applies every Task and Pipeline into namespace (Tasks first, so a
// Pipeline never references a missing Task). It is idempotent; fields this manager set
// before and no longer sets are removed.
func Apply(ctx context.Context, client versioned.Interface, namespace string) error {
	force := true
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
	for _, t := range tasks.All() {
		body, err := applyBody(&t.TypeMeta, &t.ObjectMeta, namespace, t.Spec)
		if err != nil {
			return err
		}
		if _, err := client.TektonV1().Tasks(namespace).Patch(ctx, t.Name, types.ApplyPatchType, body, opts); err != nil {
			return fmt.Errorf("apply Task %s/%s: %w", namespace, t.Name, err)
		}
	}
	for _, p := range All() {
		body, err := applyBody(&p.TypeMeta, &p.ObjectMeta, namespace, p.Spec)
		if err != nil {
			return err
		}
		if _, err := client.TektonV1().Pipelines(namespace).Patch(ctx, p.Name, types.ApplyPatchType, body, opts); err != nil {
			return fmt.Errorf("apply Pipeline %s/%s: %w", namespace, p.Name, err)
		}
	}
	return nil
}

// applyBody is the apply configuration: type, name, namespace, labels, annotations and spec
// only (no status, no server-set metadata).
func applyBody(tm *metav1.TypeMeta, om *metav1.ObjectMeta, namespace string, spec any) ([]byte, error) {
	body := map[string]any{
		"apiVersion": tm.APIVersion,
		"kind":       tm.Kind,
		"metadata": map[string]any{
			"name":        om.Name,
			"namespace":   namespace,
			"labels":      om.Labels,
			"annotations": om.Annotations,
		},
		"spec": spec,
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", tm.Kind, om.Name, err)
	}
	return data, nil
}
