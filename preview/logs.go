package preview

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	pipelinev1beta1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/apis"
)

// LogLine is one line of a log, with where it comes from. The pipeline's lines carry the
// pipeline task and step (as `tkn pipelinerun logs` prefixes them); the application's carry
// only the pod and container.
type LogLine struct {
	Task      string    `json:"task,omitempty"`
	Step      string    `json:"step,omitempty"`
	Pod       string    `json:"pod,omitempty"`
	Container string    `json:"container,omitempty"`
	Line      string    `json:"line"`
	Time      time.Time `json:"time,omitzero"` // the kubelet's timestamp; zero for notes
	// Note marks the query layer's own lines: the run is queued, a pod is gone and this is what
	// its TaskRun kept, a build pod in a namespace the caller may not read.
	Note bool `json:"note,omitempty"`
}

// LogOptions select what Logs reads.
type LogOptions struct {
	Run         string // a PipelineRun by name; default: the head commit's latest attempt
	PreviousRun bool   // the run before that one
	Task        string // only this pipeline task
	Follow      bool   // follow new lines and new steps until the run (or, with App, ctx) ends
	// App reads the application's containers (every pod of the namespace that is not a
	// pipeline pod) instead of the pipeline's.
	App      bool
	Tail     int64         // App: the last lines of each container; 0: all
	Since    time.Duration // App: only lines newer than this
	Previous bool          // App: the previous instance of restarted containers
}

// Streamer opens one container's log; PodLogStreamer reads the pods/log subresource. Tests
// and other surfaces may inject their own (the model: tektoncd/cli pkg/log).
type Streamer interface {
	Stream(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
}

// PodLogStreamer streams through the apiserver with kube.
func PodLogStreamer(kube kubernetes.Interface) Streamer { return podLogs{kube} }

type podLogs struct{ kube kubernetes.Interface }

func (p podLogs) Stream(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return p.kube.CoreV1().Pods(namespace).GetLogs(pod, opts).Stream(ctx)
}

// Emit receives lines; Logs never calls it concurrently. An error stops Logs and is returned.
type Emit func(LogLine) error

// Logs reads an environment's pipeline logs (or, with App, its application's), calling emit
// for every line in order: tasks in the pipeline's order, steps in the task's order. With
// Follow, it waits for tasks to start and steps to write, and returns when the run ends.
func (c *Client) Logs(ctx context.Context, ref Ref, o LogOptions, emit Emit) error {
	ns, err := c.resolve(ctx, ref)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	serial := func(l LogLine) error {
		mu.Lock()
		defer mu.Unlock()
		return emit(l)
	}
	if o.App {
		return c.appLogs(ctx, ns.Name, o, serial)
	}
	run, err := c.pickRun(ctx, ns, o)
	if err != nil {
		return err
	}
	return c.runLogs(ctx, ns.Name, run, o, serial)
}

// pickRun chooses the run to read: named, the head commit's latest attempt (or the latest run
// of any commit), or the one before it.
func (c *Client) pickRun(ctx context.Context, ns *corev1.Namespace, o LogOptions) (string, error) {
	if o.Run != "" {
		return o.Run, nil
	}
	runs, err := c.runsOf(ctx, ns.Name)
	if err != nil {
		return "", err
	}
	head := ns.Annotations[AnnotationHeadSHA]
	slices.SortFunc(runs, func(a, b *pipelinev1.PipelineRun) int {
		ah, bh := a.Labels[LabelSHA] == head && a.Labels[LabelKind] != KindCleanup, b.Labels[LabelSHA] == head && b.Labels[LabelKind] != KindCleanup
		if ah != bh {
			if ah {
				return -1
			}
			return 1
		}
		return cmp.Or(b.CreationTimestamp.Compare(a.CreationTimestamp.Time), cmp.Compare(attemptOf(b), attemptOf(a)), cmp.Compare(b.Name, a.Name))
	})
	i := 0
	if o.PreviousRun {
		i = 1
	}
	if len(runs) <= i {
		e := EnvironmentOf(ns, runs)
		if o.PreviousRun {
			return "", newError(KindNotFound, nil, "%s has no earlier run", refOf(ns))
		}
		return "", newError(KindNotFound, nil, "%s has no run yet: %s", refOf(ns), e.Reason)
	}
	return runs[i].Name, nil
}

// runLogs reads one PipelineRun's task logs in the pipeline's order.
func (c *Client) runLogs(ctx context.Context, namespace, name string, o LogOptions, emit Emit) error {
	done := map[string]bool{}
	queuedSaid := false
	return c.waitFor(ctx, namespace, func(ctx context.Context) (bool, error) {
		pr, err := c.tekton.TektonV1().PipelineRuns(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return false, newError(KindNotFound, err, "pipelinerun %s/%s not found", namespace, name)
			}
			return false, wrap(err, "get pipelinerun %s/%s", namespace, name)
		}
		finished := pr.IsDone()
		tasks := pipelineTaskNames(pr)
		if o.Task != "" {
			if pr.Status.PipelineSpec != nil && !slices.Contains(tasks, o.Task) {
				return false, newError(KindInvalid, nil, "run %s has no task %q (tasks: %s)", name, o.Task, strings.Join(tasks, ", "))
			}
			tasks = []string{o.Task}
		}
		if pr.IsPending() || (!finished && len(pr.Status.ChildReferences) == 0) {
			if !queuedSaid {
				queuedSaid = true
				r := RunOf(pr, nil)
				msg := "run " + name + " has not started"
				if r.QueuePosition > 0 {
					msg = fmt.Sprintf("run %s is queued (position %d)", name, r.QueuePosition)
				}
				if err := emit(LogLine{Line: msg, Note: true}); err != nil {
					return false, err
				}
			}
			return !o.Follow, nil
		}
		skipped := map[string]string{}
		for _, s := range pr.Status.SkippedTasks {
			skipped[s.Name] = string(s.Reason)
		}
		for _, task := range tasks {
			if done[task] {
				continue
			}
			child := childOf(pr, task)
			if child == nil {
				if _, ok := skipped[task]; ok || finished {
					done[task] = true
					if o.Task != "" {
						return true, emit(LogLine{Task: task, Line: "task " + task + " did not run: " + cmp.Or(skipped[task], "run "+name+" ended before it"), Note: true})
					}
					continue
				}
				if o.Follow {
					return false, nil // tasks are read in order: wait for this one to start
				}
				continue
			}
			complete, err := c.childLogs(ctx, namespace, task, child, o.Follow, emit)
			if err != nil {
				return false, err
			}
			if !complete {
				return false, nil
			}
			done[task] = true
		}
		return !o.Follow || finished, nil
	})
}

// childLogs reads one task's logs; with follow it returns false while the task has no pod yet.
func (c *Client) childLogs(ctx context.Context, namespace, task string, child *pipelinev1.ChildStatusReference, follow bool, emit Emit) (bool, error) {
	trNamespace, trName := namespace, child.Name
	if child.Kind == "CustomRun" {
		cr, err := c.tekton.TektonV1beta1().CustomRuns(namespace).Get(ctx, child.Name, metav1.GetOptions{})
		if err != nil {
			return true, emit(LogLine{Task: task, Line: "customrun " + child.Name + ": " + reasonOf(err), Note: true})
		}
		ref := cr.Annotations[AnnotationBuildTaskRun]
		trNamespace, trName, _ = strings.Cut(ref, "/")
		if ref == "" || trName == "" {
			if follow && !cr.IsDone() {
				return false, nil
			}
			return true, emit(LogLine{Task: task, Line: "customrun " + child.Name + " names no TaskRun: " + customRunSummary(cr), Note: true})
		}
	}
	tr, err := c.tekton.TektonV1().TaskRuns(trNamespace).Get(ctx, trName, metav1.GetOptions{})
	switch {
	case apierrors.IsForbidden(err):
		return true, emit(LogLine{Task: task, Line: fmt.Sprintf("taskrun %s/%s: you may not read namespace %s; ask an operator for its logs", trNamespace, trName, trNamespace), Note: true})
	case apierrors.IsNotFound(err):
		return true, emit(LogLine{Task: task, Line: fmt.Sprintf("taskrun %s/%s is gone (deleted or pruned): its logs are gone with it", trNamespace, trName), Note: true})
	case err != nil:
		return false, wrap(err, "get taskrun %s/%s", trNamespace, trName)
	}
	taskDone := tr.IsDone()
	if tr.Status.PodName == "" {
		if follow && !taskDone {
			return false, nil
		}
		return true, keptStatus(tr, task, "no pod was created", emit)
	}
	pod, err := c.kube.CoreV1().Pods(trNamespace).Get(ctx, tr.Status.PodName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, keptStatus(tr, task, "pod "+tr.Status.PodName+" is gone", emit)
	case apierrors.IsForbidden(err):
		return true, emit(LogLine{Task: task, Pod: tr.Status.PodName, Line: fmt.Sprintf("pod %s/%s: forbidden; ask an operator for its logs", trNamespace, tr.Status.PodName), Note: true})
	case err != nil:
		return false, wrap(err, "get pod %s/%s", trNamespace, tr.Status.PodName)
	}
	for _, s := range stepsOf(tr, pod) {
		l := LogLine{Task: task, Step: s.Name, Pod: pod.Name, Container: s.Container}
		if err := c.containerLog(ctx, trNamespace, pod.Name, follow && !taskDone, &corev1.PodLogOptions{Container: s.Container}, l, emit); err != nil {
			if KindOf(err) == KindNotFound {
				return true, keptStatus(tr, task, "pod "+pod.Name+" is gone", emit)
			}
			return false, err
		}
	}
	return true, nil
}

// stepsOf are the task's steps in order: from the TaskRun's status, else the pod's containers.
func stepsOf(tr *pipelinev1.TaskRun, pod *corev1.Pod) []Step {
	if len(tr.Status.Steps) > 0 {
		return TaskOf(tr).Steps
	}
	var out []Step
	for _, ctr := range pod.Spec.Containers {
		if name, ok := strings.CutPrefix(ctr.Name, "step-"); ok {
			out = append(out, Step{Name: name, Container: ctr.Name})
		}
	}
	return out
}

// keptStatus says what Kubernetes still knows of a task whose logs are gone: each step's exit,
// the failure message, the diagnostics the step wrote.
func keptStatus(tr *pipelinev1.TaskRun, task, why string, emit Emit) error {
	t := TaskOf(tr)
	lines := []string{why + "; what the TaskRun kept: task " + cmp.Or(t.State, "unknown")}
	for _, s := range t.Steps {
		line := "step " + s.Name + ": " + s.State
		if s.ExitCode != nil {
			line += fmt.Sprintf(", exit code %d", *s.ExitCode)
		}
		if s.Reason != "" {
			line += " (" + s.Reason + ")"
		}
		lines = append(lines, line)
	}
	if t.Message != "" && t.State != TaskSucceeded {
		lines = append(lines, "message: "+t.Message)
	}
	for _, d := range t.Diagnostics {
		lines = append(lines, "diagnostic: "+FormatDiagnostic(d))
	}
	for _, line := range lines {
		if err := emit(LogLine{Task: task, Pod: tr.Status.PodName, Line: line, Note: true}); err != nil {
			return err
		}
	}
	return nil
}

func customRunSummary(cr *pipelinev1beta1.CustomRun) string {
	cond := cr.Status.GetCondition(apis.ConditionSucceeded)
	if cond == nil {
		return "not started"
	}
	return strings.TrimSpace(string(cond.Status) + " " + cond.Reason + " " + cond.Message)
}

// followGrace is how long a follow stream may stay open after its container ended: a kubelet
// closes it within about a second; a stream that stays open is cut and the rest read again.
const followGrace = 2 * time.Second

// containerLog emits one container's log. Following, it waits for the container to start,
// streams until the container ends, and reads what the stream had not delivered yet.
func (c *Client) containerLog(ctx context.Context, namespace, pod string, follow bool, opts *corev1.PodLogOptions, tmpl LogLine, emit Emit) error {
	opts.Timestamps = true
	if !follow {
		_, err := c.readLog(ctx, namespace, pod, opts, 0, tmpl, emit)
		return err
	}
	p, err := c.waitPod(ctx, namespace, pod, func(p *corev1.Pod) bool {
		s := containerStatus(p, opts.Container)
		return s != nil && (s.State.Running != nil || s.State.Terminated != nil) || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded
	})
	if err != nil {
		return err
	}
	if s := containerStatus(p, opts.Container); s == nil || s.State.Running == nil {
		_, err := c.readLog(ctx, namespace, pod, opts, 0, tmpl, emit)
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	streamed := make(chan struct{})
	var n int
	var serr error
	fopts := *opts
	fopts.Follow = true
	go func() {
		defer close(streamed)
		n, serr = c.readLog(sctx, namespace, pod, &fopts, 0, tmpl, emit)
	}()
	ended := make(chan error, 1)
	go func() {
		_, err := c.waitPod(sctx, namespace, pod, func(p *corev1.Pod) bool {
			s := containerStatus(p, opts.Container)
			return s == nil || s.State.Terminated != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded
		})
		ended <- err
	}()
	select {
	case <-streamed:
		cancel()
		return ignoreCancel(serr)
	case err := <-ended:
		if err != nil && ctx.Err() == nil && KindOf(err) != KindNotFound {
			return err
		}
	}
	select {
	case <-streamed:
	case <-time.After(followGrace):
	}
	cancel()
	<-streamed
	if serr != nil && !errors.Is(serr, context.Canceled) && ctx.Err() == nil {
		return serr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	_, err = c.readLog(ctx, namespace, pod, opts, n, tmpl, emit)
	return err
}

// readLog streams a log and emits its lines after skipping the first skip ones; it says how
// many lines it read in all.
func (c *Client) readLog(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions, skip int, tmpl LogLine, emit Emit) (int, error) {
	rc, err := c.o.Streamer.Stream(ctx, namespace, pod, opts)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, wrap(err, "log of %s/%s container %s", namespace, pod, opts.Container)
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)
	n := 0
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			n++
			if n > skip {
				l := tmpl
				l.Time, l.Line = splitTimestamp(strings.TrimSuffix(line, "\n"), opts.Timestamps)
				if err := emit(l); err != nil {
					return n, err
				}
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, ignoreCancel(err)
		}
	}
}

// splitTimestamp separates the RFC3339Nano timestamp the kubelet puts before each line.
func splitTimestamp(line string, stamped bool) (time.Time, string) {
	if !stamped {
		return time.Time{}, line
	}
	ts, rest, ok := strings.Cut(line, " ")
	if !ok {
		ts, rest = line, ""
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, line
	}
	return t.UTC(), rest
}

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// waitPod returns the pod once ok holds, re-reading on every change (watch) and at least every
// PollInterval.
func (c *Client) waitPod(ctx context.Context, namespace, name string, ok func(*corev1.Pod) bool) (*corev1.Pod, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed := make(chan struct{}, 1)
	w, err := c.kube.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err == nil {
		defer w.Stop()
		go forward(ctx, w.ResultChan(), changed)
	}
	tick := time.NewTicker(c.o.PollInterval)
	defer tick.Stop()
	for {
		p, err := c.kube.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, wrap(err, "get pod %s/%s", namespace, name)
		}
		if ok(p) {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		case <-tick.C:
		}
	}
}

// FormatDiagnostic is "path:line: kind: message", as every surface shows a diagnostic.
func FormatDiagnostic(d Diagnostic) string {
	where := d.Path
	if where != "" && d.Line > 0 {
		where += fmt.Sprintf(":%d", d.Line)
	}
	if where != "" {
		where += ": "
	}
	return where + d.Kind + ": " + d.Message
}
