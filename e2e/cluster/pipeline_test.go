package cluster_test

import (
	"strings"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

// Every step has a command: without one Tekton would ask the image registry for the entrypoint.
const echoTask = `
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: echo
spec:
  params:
  - name: msg
    default: hello
  results:
  - name: url
  steps:
  - name: echo
    image: example.invalid/alpine:3
    command: [echo]
    args: ["$(params.msg)"]
`

const buildDeployPipeline = `
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: build-deploy
spec:
  results:
  - name: url
    value: $(tasks.deploy.results.url)
  tasks:
  - name: build
    taskRef: {name: echo}
  - name: deploy
    runAfter: [build]
    taskRef: {name: echo}
    params:
    - name: msg
      value: deploying after $(tasks.build.results.url)
`

const buildDeployRun = `
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  generateName: preview-
spec:
  pipelineRef: {name: build-deploy}
`

func TestPipelineSucceedsWithResults(t *testing.T) {
	e := newEnv(t)
	assert.NilError(t, e.c.Apply(t.Context(), []byte(strings.ReplaceAll(echoTask+"\n---\n"+buildDeployPipeline, "metadata:\n", "metadata:\n  namespace: "+e.ns+"\n"))))

	pr := e.createPipelineRun(t, buildDeployRun, map[string]string{
		cluster.ForTask(cluster.AnnotationResults, "build"):  cluster.ResultsMessage(map[string]string{"url": "registry.test/app:abc"}),
		cluster.ForTask(cluster.AnnotationResults, "deploy"): cluster.ResultsMessage(map[string]string{"url": "https://pr-1-app.preview.test"}),
	})
	pr = e.waitPipelineRun(t, pr.Name, corev1.ConditionTrue, "Succeeded")

	assert.DeepEqual(t, pr.Status.Results, []pipelinev1.PipelineRunResult{
		{Name: "url", Value: *pipelinev1.NewStructuredValues("https://pr-1-app.preview.test")},
	})
	// the build result reached the deploy task's parameter
	deploy := e.waitTaskRun(t, pr.Name, "deploy", finished, "finished")
	assert.Check(t, is.Contains(deploy.Spec.Params, pipelinev1.Param{Name: "msg", Value: *pipelinev1.NewStructuredValues("deploying after registry.test/app:abc")}))
}

// inline is a two-task pipeline whose tasks are embedded, for runs that need no Task objects.
const inline = `
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  generateName: inline-
spec:
  pipelineSpec:
    tasks:
    - name: build
      taskSpec:
        steps:
        - {name: compile, image: example.invalid/go, command: ["go", "build"]}
    - name: deploy
      runAfter: [build]
      taskSpec:
        steps:
        - {name: helm, image: example.invalid/helm, command: ["helm", "upgrade"]}
        - {name: check, image: example.invalid/curl, script: "curl -f http://app"}
    finally:
    - name: report
      taskSpec:
        steps:
        - {name: report, image: example.invalid/alpine, command: ["true"]}
`

func TestStepFailureFailsPipelineRun(t *testing.T) {
	e := newEnv(t)
	pr := e.createPipelineRun(t, inline, map[string]string{
		cluster.ForTask(cluster.AnnotationFail, "deploy"):       "3",
		cluster.ForTask(cluster.AnnotationFailReason, "deploy"): "HelmUpgradeFailed",
	})
	pr = e.waitPipelineRun(t, pr.Name, corev1.ConditionFalse, "Failed")

	deploy := e.waitTaskRun(t, pr.Name, "deploy", finished, "finished")
	cond := deploy.Status.GetCondition(apis.ConditionSucceeded)
	assert.Equal(t, cond.Reason, "StepFailed")
	assert.Check(t, is.Contains(cond.Message, `"step-helm" exited with code 3: HelmUpgradeFailed`))
	assert.Equal(t, deploy.Status.Steps[0].Terminated.ExitCode, int32(3))
	// the other tasks kept the default fate
	build := e.waitTaskRun(t, pr.Name, "build", finished, "finished")
	assert.Equal(t, build.Status.GetCondition(apis.ConditionSucceeded).Reason, "Succeeded")
	report := e.waitTaskRun(t, pr.Name, "report", finished, "finished")
	assert.Equal(t, report.Status.GetCondition(apis.ConditionSucceeded).Reason, "Succeeded")
}

func TestDelayKeepsTaskRunning(t *testing.T) {
	e := newEnv(t)
	pr := e.createPipelineRun(t, inline, map[string]string{
		cluster.ForTask(cluster.AnnotationDelay, "build"): "2s",
	})
	build := e.waitTaskRun(t, pr.Name, "build", running, "running")
	pr = e.waitPipelineRun(t, pr.Name, corev1.ConditionTrue, "Succeeded")
	build, err := e.tekton.TektonV1().TaskRuns(e.ns).Get(t.Context(), build.Name, metav1.GetOptions{})
	assert.NilError(t, err)
	took := build.Status.CompletionTime.Sub(build.Status.StartTime.Time)
	assert.Assert(t, took.Seconds() >= 1.5, "build took %s, want about 2s", took)
}
