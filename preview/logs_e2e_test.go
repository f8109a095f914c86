package preview_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/poll"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/preview"
)

// lines renders what Logs emitted the way previewctl prints it, one string per line.
func collect(dst *[]string) preview.Emit {
	return func(l preview.LogLine) error {
		switch {
		case l.Note:
			*dst = append(*dst, "note: "+l.Line)
		case l.Task != "":
			*dst = append(*dst, "["+l.Task+" : "+l.Step+"] "+l.Line)
		default:
			*dst = append(*dst, "["+l.Pod+"/"+l.Container+"] "+l.Line)
		}
		return nil
	}
}

// setLogs gives a pod's container a log and waits until the apiserver serves it.
func (w *world) setLogs(ns, pod, container, text string) {
	w.t.Helper()
	assert.NilError(w.t, w.c.SetPodLogs(w.t.Context(), ns, pod, container, text))
}

func (w *world) waitLog(ns, pod, container, text string) {
	w.t.Helper()
	poll.WaitOn(w.t, func(poll.LogT) poll.Result {
		raw, err := w.kube.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(w.t.Context())
		if err != nil {
			return poll.Continue("log of %s/%s: %v", pod, container, err)
		}
		if !strings.Contains(string(raw), text) {
			return poll.Continue("log of %s/%s is %q", pod, container, raw)
		}
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))
}

// `logs --follow` prints the steps in the pipeline's order as they run, with task and step,
// waits for the next task to start, and returns when the run ends. Afterwards, with the pods
// gone, it says so and shows what the TaskRuns kept.
func TestLogsFollowEndsWithTheRun(t *testing.T) {
	w := newWorld(t)
	ns := w.env(1, nil)
	ctx := t.Context()
	run := w.run(ns, 1, 1, map[string][]string{"build": {"fetch", "compile"}, "deploy": {"install"}}, []string{"build", "deploy"},
		map[string]string{cluster.AnnotationHold: "true"})
	// Tekton names a run's TaskRuns <run>-<task> and their pods <taskrun>-pod.
	buildPod, deployPod := run.Name+"-build-pod", run.Name+"-deploy-pod"
	w.setLogs(ns, buildPod, "step-fetch", "cloning\ncloned abc\n")
	w.setLogs(ns, buildPod, "step-compile", "compiling\n")
	w.setLogs(ns, deployPod, "step-install", "helm upgrade --install\nrelease ready\n")
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		_, err := w.kube.CoreV1().Pods(ns).Get(ctx, buildPod, metav1.GetOptions{})
		if err != nil {
			return poll.Continue("pod %s: %v", buildPod, err)
		}
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))
	w.waitLog(ns, buildPod, "step-fetch", "cloned abc")

	var got []string
	done := make(chan error, 1)
	go func() {
		done <- w.as("").Logs(ctx, preview.Ref{Repo: w.repo, Number: 1}, preview.LogOptions{Follow: true}, collect(&got))
	}()
	// Follow waits on the held build; release it, then the deploy when it started.
	assert.NilError(t, cluster.Release(ctx, w.kube, ns, run.Name, "build"))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if err := cluster.Release(ctx, w.kube, ns, run.Name, "deploy"); err != nil {
			return poll.Continue("deploy not started: %v", err)
		}
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))
	select {
	case err := <-done:
		assert.NilError(t, err)
	case <-time.After(90 * time.Second):
		t.Fatal("logs --follow did not end with the run")
	}
	assert.DeepEqual(t, got, []string{
		"[build : fetch] cloning", "[build : fetch] cloned abc", "[build : compile] compiling",
		"[deploy : install] helm upgrade --install", "[deploy : install] release ready",
	})
	w.waitRun(ns, run.Name, "Succeeded")

	// Without --follow, the same lines; only one task with --task.
	var again []string
	assert.NilError(t, w.as("").Logs(ctx, preview.Ref{Namespace: ns}, preview.LogOptions{Task: "deploy"}, collect(&again)))
	assert.DeepEqual(t, again, []string{"[deploy : install] helm upgrade --install", "[deploy : install] release ready"})

	// Pods pruned: what the TaskRun kept instead of the log.
	assert.NilError(t, w.kube.CoreV1().Pods(ns).Delete(ctx, deployPod, metav1.DeleteOptions{}))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if _, err := w.kube.CoreV1().Pods(ns).Get(ctx, deployPod, metav1.GetOptions{}); err == nil {
			return poll.Continue("pod %s still there", deployPod)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(100*time.Millisecond))
	var kept []string
	assert.NilError(t, w.as("").Logs(ctx, preview.Ref{Namespace: ns}, preview.LogOptions{Task: "deploy"}, collect(&kept)))
	assert.DeepEqual(t, kept, []string{
		"note: pod " + deployPod + " is gone; what the TaskRun kept: task succeeded",
		"note: step install: terminated, exit code 0 (Completed)",
	})
}

// A run waiting in the queue says so instead of printing nothing.
func TestLogsOfAQueuedRun(t *testing.T) {
	w := newWorld(t)
	ns := w.env(1, nil)
	run := w.run(ns, 1, 1, map[string][]string{"build": {"compile"}}, []string{"build"}, map[string]string{preview.AnnotationQueuePosition: "2"},
		func(pr *pipelinev1.PipelineRun) { pr.Spec.Status = pipelinev1.PipelineRunSpecStatusPending })
	var got []string
	assert.NilError(t, w.as("").Logs(t.Context(), preview.Ref{Namespace: ns}, preview.LogOptions{}, collect(&got)))
	assert.DeepEqual(t, got, []string{"note: run " + run.Name + " is queued (position 2)"})
}

// --app prints the application's containers, labelled with pod and container, and not the
// pipeline's pods.
func TestLogsOfTheApplication(t *testing.T) {
	w := newWorld(t)
	ns := w.env(1, nil)
	ctx := t.Context()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web"}, {Name: "proxy", Image: "envoy"}}}}
	_, err := w.kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	assert.NilError(t, err)
	w.setLogs(ns, "web-1", "app", "listening on :8080\nGET / 200\n")
	w.setLogs(ns, "web-1", "proxy", "proxy ready\n")
	w.waitLog(ns, "web-1", "proxy", "proxy ready")
	w.waitLog(ns, "web-1", "app", "GET / 200")

	var got []string
	assert.NilError(t, w.as("").Logs(ctx, preview.Ref{Namespace: ns}, preview.LogOptions{App: true}, collect(&got)))
	assert.DeepEqual(t, got, []string{"[web-1/app] listening on :8080", "[web-1/app] GET / 200", "[web-1/proxy] proxy ready"})

	var tail []string
	assert.NilError(t, w.as("").Logs(ctx, preview.Ref{Namespace: ns}, preview.LogOptions{App: true, Tail: 1}, collect(&tail)))
	assert.DeepEqual(t, tail, []string{"[web-1/app] GET / 200", "[web-1/proxy] proxy ready"})

	// Following, the lines come and the stream stays open until the caller stops.
	fctx, cancel := context.WithCancel(ctx)
	lines := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		done <- w.as("").Logs(fctx, preview.Ref{Namespace: ns}, preview.LogOptions{App: true, Follow: true}, func(l preview.LogLine) error {
			lines <- fmt.Sprintf("[%s/%s] %s", l.Pod, l.Container, l.Line)
			return nil
		})
	}()
	seen := map[string]bool{}
	for len(seen) < 3 {
		select {
		case l := <-lines:
			seen[l] = true
		case <-time.After(60 * time.Second):
			t.Fatalf("following saw only %v", seen)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("--app --follow ended before it was stopped: %v", err)
	default:
	}
	cancel()
	assert.NilError(t, <-done)
}
