package trigger

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/pipelines"
	"github.com/catalyst-preview/catalyst/preview"
)

// cleanupTimeout bounds the helm uninstall so that a closed PR's environment is gone within
// five minutes of the close even when the uninstall hangs.
const cleanupTimeout = 3 * time.Minute

// deployRun is the PipelineRun that previews one head SHA. Its name is deterministic per SHA
// and attempt, so a redelivered event or a repeated reconcile finds it instead of adding one.
func deployRun(rec prRecord, n newRun, p config.Preview, r config.Repository, pending bool, now time.Time) *pipelinev1.PipelineRun {
	repo, ann, namespace := rec.Repo, rec.Ann, rec.Name
	number := strconv.Itoa(rec.Number)
	pr := &pipelinev1.PipelineRun{
		TypeMeta: metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "PipelineRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      preview.PipelineRunName(preview.KindDeploy, n.SHA, n.Attempt),
			Namespace: namespace,
			Labels:    runLabels(rec, n.SHA, preview.KindDeploy),
			Annotations: map[string]string{
				preview.AnnotationRepo:     repo,
				preview.AnnotationAttempt:  strconv.Itoa(n.Attempt),
				preview.AnnotationCause:    n.Cause,
				preview.AnnotationQueuedAt: now.UTC().Format(time.RFC3339Nano),
			},
		},
		Spec: pipelinev1.PipelineRunSpec{
			PipelineRef: &pipelinev1.PipelineRef{Name: p.DeployPipeline},
			Params: pipelinev1.Params{
				param("repo-url", ann[preview.AnnotationCloneURL]),
				param("revision", n.SHA),
				param("pr-number", number),
				param("image", preview.ImageRef(p.Registry, repo, rec.Number, n.SHA)),
				param("chart-path", r.ChartPath),
				param("values-file", r.ValuesFile),
				param("preview-host", ann[preview.AnnotationPreviewHost]),
				param("health-path", r.HealthPath),
				param("dockerfile", r.Dockerfile),
				param("context", r.Context),
				param("url-scheme", p.URLScheme),
				param("step-image", p.StepImage),
				param("release-name", preview.ReleaseName),
				param("ingress-class", p.IngressClass),
			},
			TaskRunTemplate: pipelinev1.PipelineTaskRunTemplate{ServiceAccountName: PipelineServiceAccount},
			Timeouts:        &pipelinev1.TimeoutFields{Pipeline: &metav1.Duration{Duration: p.PipelineTimeout.Duration}},
		},
	}
	// Optional overrides: unset, the pipeline's own defaults apply.
	for _, o := range []struct{ name, value string }{{"builder-image", p.BuilderImage}, {"git-image", p.GitImage}, {"health-connect-to", p.HealthConnectTo},
		{pipelines.ParamValuesOverlay, valuesOverlay(r.Values)}, {pipelines.ParamDependencyBuild, trueOrEmpty(r.DependencyBuild)},
		{pipelines.ParamHealthCABundle, p.HealthCABundle}, {pipelines.ParamHealthInsecureSkipVerify, trueOrEmpty(p.HealthInsecureSkipVerify)}} {
		if o.value != "" {
			pr.Spec.Params = append(pr.Spec.Params, param(o.name, o.value))
		}
	}
	for k, v := range p.PipelineRunAnnotations {
		if _, ours := pr.Annotations[k]; !ours {
			pr.Annotations[k] = v
		}
	}
	if at := ann[preview.AnnotationHeadSeenAt]; at != "" && n.Cause == preview.CauseEvent {
		pr.Annotations[preview.AnnotationEventAt] = at
	}
	if n.Nonce != "" {
		pr.Annotations[preview.AnnotationRetestNonceOf] = n.Nonce
	}
	if pending {
		pr.Spec.Status = pipelinev1.PipelineRunSpecStatusPending
	}
	return pr
}

// cleanupRun uninstalls the preview's helm release before the namespace is deleted.
func cleanupRun(rec prRecord, p config.Preview) *pipelinev1.PipelineRun {
	sha := rec.Ann[preview.AnnotationHeadSHA]
	ann := map[string]string{preview.AnnotationRepo: rec.Repo}
	for k, v := range p.PipelineRunAnnotations {
		ann[k] = v
	}
	return &pipelinev1.PipelineRun{
		TypeMeta: metav1.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "PipelineRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        preview.PipelineRunName(preview.KindCleanup, sha, 1),
			Namespace:   rec.Name,
			Labels:      runLabels(rec, sha, preview.KindCleanup),
			Annotations: ann,
		},
		Spec: pipelinev1.PipelineRunSpec{
			PipelineRef: &pipelinev1.PipelineRef{Name: *p.CleanupPipeline},
			Params: pipelinev1.Params{
				param("release-name", preview.ReleaseName),
				param("step-image", p.StepImage),
			},
			TaskRunTemplate: pipelinev1.PipelineTaskRunTemplate{ServiceAccountName: PipelineServiceAccount},
			Timeouts:        &pipelinev1.TimeoutFields{Pipeline: &metav1.Duration{Duration: cleanupTimeout}},
		},
	}
}

func runLabels(rec prRecord, sha, kind string) map[string]string {
	return map[string]string{
		preview.LabelManaged:     preview.ManagedTrue,
		preview.LabelRepo:        preview.RepoLabelValue(rec.Repo),
		preview.LabelPR:          strconv.Itoa(rec.Number),
		preview.LabelSHA:         sha,
		preview.LabelKind:        kind,
		preview.LabelEnvironment: preview.EnvironmentPreview,
	}
}

// valuesOverlay passes repositories[].values to the deploy step as JSON (keys sorted, so the
// same configuration gives the same PipelineRun); the step replaces its ${...} placeholders
// with the run's facts, the image digest included, which only the build knows.
func valuesOverlay(v map[string]any) string {
	if len(v) == 0 {
		return ""
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "" // cannot happen: the tree was decoded from the configuration's YAML
	}
	return strings.TrimSpace(b.String())
}

func trueOrEmpty(b bool) string {
	if b {
		return "true"
	}
	return ""
}

func param(name, value string) pipelinev1.Param {
	return pipelinev1.Param{Name: name, Value: *pipelinev1.NewStructuredValues(value)}
}
