package pipelines_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	runv1beta1 "github.com/tektoncd/pipeline/pkg/apis/run/v1beta1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/pipelines"
	"github.com/catalyst-preview/catalyst/tasks"
)

// Tests named TestE2E* run against the local control plane (e2e/cluster); under -short they skip.
func TestMain(m *testing.M) { os.Exit(cluster.RunMain(m, nil)) }

const (
	e2eWait   = 90 * time.Second
	e2eSHA    = "0123456789abcdef0123456789abcdef01234567"
	e2eImage  = "registry.local:5000/acme-web:pr-7-0123456789ab"
	e2eHost   = "7-web.preview.test"
	stepImage = "ghcr.io/catalyst-preview/preview-step:test"
)

var e2eDigest = "sha256:" + strings.Repeat("ab", 32)

type env struct {
	c      *cluster.Cluster
	ns     string
	tekton versioned.Interface
}

// newEnv gives the test a namespace set up as the trigger would: the pipelines and tasks
// applied, the catalyst-pipeline service account.
func newEnv(t *testing.T) env {
	t.Helper()
	c := cluster.Require(t)
	t.Parallel()
	tc, err := versioned.NewForConfig(c.RESTConfig())
	assert.NilError(t, err)
	e := env{c: c, ns: c.Namespace(t), tekton: tc}
	assert.NilError(t, pipelines.Apply(t.Context(), tc, e.ns))
	_, err = c.Kube().CoreV1().ServiceAccounts(e.ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "catalyst-pipeline"}}, metav1.CreateOptions{})
	assert.NilError(t, err)
	return e
}

func params(kv map[string]string) v1.Params {
	var out v1.Params
	for k, v := range kv {
		out = append(out, v1.Param{Name: k, Value: *v1.NewStructuredValues(v)})
	}
	return out
}

// previewParams are the params the trigger passes (issue 4's contract).
func previewParams() map[string]string {
	return map[string]string{
		pipelines.ParamRepoURL:      "https://github.com/acme/web.git",
		pipelines.ParamRevision:     e2eSHA,
		pipelines.ParamPRNumber:     "7",
		pipelines.ParamImage:        e2eImage,
		pipelines.ParamChartPath:    "charts/example-app",
		pipelines.ParamValuesFile:   "",
		pipelines.ParamPreviewHost:  e2eHost,
		pipelines.ParamHealthPath:   "/healthz",
		pipelines.ParamDockerfile:   "Dockerfile",
		pipelines.ParamContext:      ".",
		pipelines.ParamURLScheme:    "https",
		pipelines.ParamStepImage:    stepImage,
		pipelines.ParamBuilderImage: "docker.io/moby/buildkit:v0.23.2-rootless",
		pipelines.ParamGitImage:     "docker.io/alpine/git:2.49.1",
		pipelines.ParamReleaseName:  "preview",
	}
}

func (e env) run(t *testing.T, pipeline string, p map[string]string, annotations map[string]string) *v1.PipelineRun {
	t.Helper()
	pr := &v1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{GenerateName: pipeline + "-", Annotations: annotations},
		Spec: v1.PipelineRunSpec{
			PipelineRef:     &v1.PipelineRef{Name: pipeline},
			Params:          params(p),
			TaskRunTemplate: v1.PipelineTaskRunTemplate{ServiceAccountName: "catalyst-pipeline"},
		},
	}
	created, err := e.tekton.TektonV1().PipelineRuns(e.ns).Create(t.Context(), pr, metav1.CreateOptions{})
	assert.NilError(t, err)
	return created
}

func (e env) wait(t *testing.T, name string, status corev1.ConditionStatus, reason string) *v1.PipelineRun {
	t.Helper()
	var pr *v1.PipelineRun
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		var err error
		pr, err = e.tekton.TektonV1().PipelineRuns(e.ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		c := pr.Status.GetCondition(apis.ConditionSucceeded)
		switch {
		case c == nil:
			return poll.Continue("no condition yet")
		case c.Status == status && c.Reason == reason:
			return poll.Success()
		case c.Status != corev1.ConditionUnknown:
			return poll.Error(fmt.Errorf("PipelineRun ended %s/%s: %s", c.Status, c.Reason, c.Message))
		}
		return poll.Continue("PipelineRun is %s/%s", c.Status, c.Reason)
	}, poll.WithTimeout(e2eWait), poll.WithDelay(100*time.Millisecond))
	return pr
}

// finishBuild plays the build controller (trigger/buildrun, tested against this control plane in
// its own package): the pipeline's build is a custom task, so its CustomRun only finishes when
// something marks it. It returns the CustomRun as the pipeline created it.
func (e env) finishBuild(t *testing.T, pr, digest string) *v1beta1.CustomRun {
	t.Helper()
	var cr *v1beta1.CustomRun
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		list, err := e.tekton.TektonV1beta1().CustomRuns(e.ns).List(t.Context(), metav1.ListOptions{
			LabelSelector: "tekton.dev/pipelineRun=" + pr + ",tekton.dev/pipelineTask=" + pipelines.TaskBuild})
		if err != nil {
			return poll.Error(err)
		}
		if len(list.Items) == 0 {
			return poll.Continue("no build CustomRun yet")
		}
		cr = &list.Items[0]
		cr.Status.StartTime = &metav1.Time{Time: time.Now()}
		cr.Status.CompletionTime = &metav1.Time{Time: time.Now()}
		cr.Status.Results = []runv1beta1.CustomRunResult{{Name: pipelines.ResultImageDigest, Value: digest}}
		cr.Status.MarkCustomRunSucceeded("Succeeded", "built by the test")
		if cr, err = e.tekton.TektonV1beta1().CustomRuns(e.ns).UpdateStatus(t.Context(), cr, metav1.UpdateOptions{}); err != nil {
			return poll.Continue("mark the build done: %v", err)
		}
		return poll.Success()
	}, poll.WithTimeout(e2eWait), poll.WithDelay(100*time.Millisecond))
	return cr
}

// taskRuns returns the run's TaskRuns by pipeline task name.
func (e env) taskRuns(t *testing.T, pr string) map[string]*v1.TaskRun {
	t.Helper()
	out, err := e.taskRunsE(t, pr)
	assert.NilError(t, err)
	return out
}

// taskRunsE is taskRuns for poll checks, which must not fail the test from their goroutine.
func (e env) taskRunsE(t *testing.T, pr string) (map[string]*v1.TaskRun, error) {
	list, err := e.tekton.TektonV1().TaskRuns(e.ns).List(t.Context(), metav1.ListOptions{LabelSelector: "tekton.dev/pipelineRun=" + pr})
	if err != nil {
		return nil, err
	}
	out := map[string]*v1.TaskRun{}
	for i := range list.Items {
		out[list.Items[i].Labels["tekton.dev/pipelineTask"]] = &list.Items[i]
	}
	return out, nil
}

// container returns the pod container of a step, with Tekton's substitutions applied.
func (e env) container(t *testing.T, tr *v1.TaskRun, step string) corev1.Container {
	t.Helper()
	pod, err := e.c.Kube().CoreV1().Pods(e.ns).Get(t.Context(), tr.Status.PodName, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(pod.Spec.ServiceAccountName, "catalyst-pipeline"))
	for _, c := range pod.Spec.Containers {
		if c.Name == "step-"+step {
			return c
		}
	}
	t.Fatalf("pod %s has no container step-%s", pod.Name, step)
	return corev1.Container{}
}

func TestE2EApplyIsIdempotent(t *testing.T) {
	e := newEnv(t)
	assert.NilError(t, pipelines.Apply(t.Context(), e.tekton, e.ns)) // second time
	ts, err := e.tekton.TektonV1().Tasks(e.ns).List(t.Context(), metav1.ListOptions{})
	assert.NilError(t, err)
	var names []string
	for _, task := range ts.Items {
		names = append(names, task.Name)
		assert.Check(t, is.Equal(task.Generation, int64(1)), "%s changed by a second apply", task.Name)
	}
	assert.Check(t, is.DeepEqual(names, []string{tasks.Build, tasks.Cleanup, tasks.Deploy, tasks.Healthcheck}))
	ps, err := e.tekton.TektonV1().Pipelines(e.ns).List(t.Context(), metav1.ListOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(ps.Items, 2))
	got, err := e.tekton.TektonV1().Pipelines(e.ns).Get(t.Context(), pipelines.Preview, metav1.GetOptions{})
	assert.NilError(t, err)
	want, _ := pipelines.Get(pipelines.Preview)
	assert.Check(t, is.Len(got.Spec.Tasks, len(want.Spec.Tasks)))
	assert.Check(t, is.Len(got.Spec.Params, len(want.Spec.Params)))
}

func TestE2EPreviewRunSucceedsWithResults(t *testing.T) {
	e := newEnv(t)
	url := "https://" + e2eHost
	pr := e.run(t, pipelines.Preview, previewParams(), map[string]string{
		cluster.ForTask(cluster.AnnotationResults, pipelines.TaskDeploy): cluster.ResultsMessage(map[string]string{
			pipelines.ResultURL: url, pipelines.ResultReleaseRevision: "1"}),
	})
	build := e.finishBuild(t, pr.Name, e2eDigest)
	pr = e.wait(t, pr.Name, corev1.ConditionTrue, "Succeeded")

	results := map[string]string{}
	for _, r := range pr.Status.Results {
		results[r.Name] = r.Value.StringVal
	}
	assert.Check(t, is.DeepEqual(results, map[string]string{
		pipelines.ResultURL: url, pipelines.ResultImageDigest: e2eDigest, pipelines.ResultReleaseRevision: "1"}))

	trs := e.taskRuns(t, pr.Name)
	assert.Assert(t, is.Len(trs, 2)) // the build is a CustomRun, not a TaskRun
	deploy, health := trs[pipelines.TaskDeploy], trs[pipelines.TaskHealthcheck]
	// build → deploy → healthcheck: each starts after the previous one completed.
	assert.Check(t, !deploy.Status.StartTime.Before(build.Status.CompletionTime), "deploy started before build completed")
	assert.Check(t, !health.Status.StartTime.Before(deploy.Status.CompletionTime), "healthcheck started before deploy completed")
	assert.Check(t, is.Equal(deploy.Spec.Timeout.Duration, 15*time.Minute))
	assert.Check(t, is.Equal(health.Spec.Timeout.Duration, 10*time.Minute))

	// Params, context variables and results substituted into what runs.
	buildParams := map[string]string{}
	for _, p := range build.Spec.Params {
		buildParams[p.Name] = p.Value.StringVal
	}
	assert.Check(t, is.Equal(buildParams["revision"], e2eSHA))
	assert.Check(t, is.Equal(buildParams["repo-url"], "https://github.com/acme/web.git"))
	assert.Check(t, is.Equal(buildParams["image"], e2eImage))
	deployArgs := strings.Join(e.container(t, deploy, "deploy").Args, " ")
	for _, want := range []string{"deploy --namespace=" + e.ns, "--chart=charts/example-app", "--image=" + e2eImage,
		"--image-digest=" + e2eDigest, "--host=" + e2eHost, "--values= ", "--description=" + e2eSHA, "--results-dir=/tekton/results"} {
		assert.Check(t, is.Contains(deployArgs, want))
	}
	healthArgs := strings.Join(e.container(t, health, "healthcheck").Args, " ")
	for _, want := range []string{"healthcheck --namespace=" + e.ns, "--url=" + url, "--path=/healthz", "--release=preview"} {
		assert.Check(t, is.Contains(healthArgs, want))
	}
	assert.Check(t, is.Equal(e.container(t, health, "healthcheck").Image, stepImage))
}

func TestE2EDeployFailureSkipsHealthcheck(t *testing.T) {
	e := newEnv(t)
	pr := e.run(t, pipelines.Preview, previewParams(), map[string]string{
		cluster.ForTask(cluster.AnnotationFail, pipelines.TaskDeploy): "1",
	})
	e.finishBuild(t, pr.Name, e2eDigest)
	pr = e.wait(t, pr.Name, corev1.ConditionFalse, "Failed")
	var skipped []string
	for _, s := range pr.Status.SkippedTasks {
		skipped = append(skipped, s.Name)
	}
	assert.Check(t, is.DeepEqual(skipped, []string{pipelines.TaskHealthcheck}))
	assert.Check(t, is.Len(e.taskRuns(t, pr.Name), 1)) // deploy only: the build is a CustomRun
}

// The trigger stops a run that is deploying with StoppedRunFinally (never Cancelled): the
// deploy finishes, the health check is skipped.
func TestE2EStoppedWhileDeployingLetsTheDeployFinish(t *testing.T) {
	e := newEnv(t)
	pr := e.run(t, pipelines.Preview, previewParams(), map[string]string{
		cluster.ForTask(cluster.AnnotationResults, pipelines.TaskDeploy): cluster.ResultsMessage(map[string]string{pipelines.ResultURL: "https://" + e2eHost, pipelines.ResultReleaseRevision: "1"}),
		cluster.ForTask(cluster.AnnotationHold, pipelines.TaskDeploy):    "true",
	})
	e.finishBuild(t, pr.Name, e2eDigest)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		trs, err := e.taskRunsE(t, pr.Name)
		if err != nil {
			return poll.Error(err)
		}
		tr := trs[pipelines.TaskDeploy]
		if tr == nil || tr.Status.PodName == "" {
			return poll.Continue("deploy not running yet")
		}
		return poll.Success()
	}, poll.WithTimeout(e2eWait), poll.WithDelay(100*time.Millisecond))
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"status": v1.PipelineRunSpecStatusStoppedRunFinally}})
	_, err := e.tekton.TektonV1().PipelineRuns(e.ns).Patch(t.Context(), pr.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	assert.NilError(t, err)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if err := cluster.Release(t.Context(), e.c.Kube(), e.ns, pr.Name, pipelines.TaskDeploy); err != nil {
			return poll.Continue("%v", err)
		}
		return poll.Success()
	}, poll.WithTimeout(e2eWait), poll.WithDelay(100*time.Millisecond))
	pr = e.wait(t, pr.Name, corev1.ConditionFalse, "Cancelled")
	trs := e.taskRuns(t, pr.Name)
	deploy := trs[pipelines.TaskDeploy]
	assert.Assert(t, deploy != nil)
	assert.Check(t, is.Equal(deploy.Status.GetCondition(apis.ConditionSucceeded).Status, corev1.ConditionTrue), "deploy ran to completion")
	assert.Check(t, trs[pipelines.TaskHealthcheck] == nil, "healthcheck never started")
}

func TestE2ECleanupRunSucceeds(t *testing.T) {
	e := newEnv(t)
	pr := e.run(t, pipelines.Cleanup, map[string]string{pipelines.ParamReleaseName: "preview", pipelines.ParamStepImage: stepImage}, nil)
	pr = e.wait(t, pr.Name, corev1.ConditionTrue, "Succeeded")
	trs := e.taskRuns(t, pr.Name)
	cleanup := trs[pipelines.TaskCleanup]
	assert.Assert(t, cleanup != nil)
	assert.Check(t, is.Equal(cleanup.Spec.Timeout.Duration, 10*time.Minute))
	args := strings.Join(e.container(t, cleanup, "cleanup").Args, " ")
	assert.Check(t, is.Contains(args, "cleanup --namespace="+e.ns+" --release=preview --timeout=2m"))
}
