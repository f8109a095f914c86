// Package steprunner plays the kubelet and Tekton's entrypoint for the task pods that run the
// project's step image, so that end-to-end runs execute the real step code. KWOK (e2e/cluster)
// has no container runtime: it only moves pods through phases. For a pod that holds a container
// with the step image, the Runner instead runs, container by container in Tekton's order, the
// real command (cmd/preview-step, built on this machine) as a local process with
//
//   - the command and arguments Tekton's entrypoint wrapper would run (-entrypoint … -- args),
//     with the kubelet's $(VAR) expansion;
//   - the container's environment (env and envFrom, Secrets and ConfigMaps resolved);
//   - the pod's volumes as local folders (emptyDirs shared between the pod's steps, Secrets,
//     ConfigMaps, downward API files), every path inside them moved in the arguments and
//     environment ("--results-dir=/tekton/results" → the local results folder);
//   - the identity of the pod's ServiceAccount: a token from the TokenRequest API, bound to the
//     pod, in a kubeconfig ($KUBECONFIG) — only when the pod mounts a token, as in a cluster;
//   - Tekton's -timeout, -results and -on_error, and "skip after a failed step".
//
// Then it writes back what the container would have left: its output as the container's log
// (pods/log), the termination message Tekton reads results from (written by Tekton's own
// termination package, with its 4 KiB limit), and the exit code, start and finish time in the
// pod's status. Containers of other images (the git fetch, the BuildKit build) are simulated by
// Options.Simulate and say so in their log.
//
// What it does not do: isolate the process (no namespaces, cgroups, read-only root or user
// IDs: paths outside the pod's volumes are this machine's), enforce resource limits, or pull
// images.
package steprunner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tektoncd/pipeline/pkg/result"
	"github.com/tektoncd/pipeline/pkg/termination"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/catalyst-preview/catalyst/e2e/process"
)

// LogWriter sets the text pods/log serves for one container; (*cluster.Cluster).SetPodLogs.
type LogWriter interface {
	SetPodLogs(ctx context.Context, namespace, pod, container, text string) error
}

// Options configure a Runner.
type Options struct {
	// Image is the step image: a container whose image is exactly this runs for real.
	Image string
	// Commands maps the step's command (as written in the Task, or its base name) to a local
	// binary: {"preview-step": "/tmp/…/preview-step"}.
	Commands map[string]string
	// Simulate plays the containers of other images; nil: Succeed.
	Simulate Simulator
	// Dir holds a folder per running pod (volumes, the step's kubeconfig), removed when the pod
	// is done. Empty: the system's temporary folder.
	Dir string
}

// Outcome is how one container ended.
type Outcome struct {
	ExitCode int
	// Log is what the container printed (stdout and stderr), served as its pods/log.
	Log string
	// Results are task results the step wrote, by name (the Task's results only are kept).
	Results map[string]string
	// Reason is Tekton's termination reason when the entrypoint gives one: "TimeoutExceeded",
	// "Skipped"; empty otherwise.
	Reason string
}

// Simulator plays a container that does not run the step image.
type Simulator func(ctx context.Context, s *Step) Outcome

// Succeed is the default Simulator: the container exits 0 and its log says it was simulated.
func Succeed(_ context.Context, s *Step) Outcome {
	return Outcome{Log: fmt.Sprintf("e2e harness: %s (image %s) was simulated, not run: there is no container runtime here\n", s.Container.Name, s.Container.Image)}
}

// Runner runs the step image's containers of task pods. It is safe for concurrent use: Run
// may be called for many pods at once.
type Runner struct {
	kube   kubernetes.Interface
	server string
	logs   LogWriter
	o      Options

	mu      sync.Mutex
	records []Record
}

// Record is one container the runner played, for tests to assert on what really ran.
type Record struct {
	Namespace, Pod, Container string
	// Task is the pod's pipeline task (label tekton.dev/pipelineTask), "" outside a pipeline.
	Task string
	// Real is true when the step image's command ran; false for a simulated container.
	Real    bool
	Command []string
	Outcome Outcome
}

// Dump renders every record, for a failed run's artifacts.
func (r *Runner) Dump() string {
	var b strings.Builder
	for _, rec := range r.Records("") {
		kind := "simulated"
		if rec.Real {
			kind = "real"
		}
		fmt.Fprintf(&b, "=== %s/%s %s (%s, task %q) exit %d %s\n$ %s\n%s\n", rec.Namespace, rec.Pod, rec.Container, kind, rec.Task,
			rec.Outcome.ExitCode, rec.Outcome.Reason, strings.Join(rec.Command, " "), rec.Outcome.Log)
	}
	return b.String()
}

// Records returns what the runner played in a namespace ("" for all), in order.
func (r *Runner) Records(namespace string) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Record
	for _, rec := range r.records {
		if namespace == "" || rec.Namespace == namespace {
			out = append(out, rec)
		}
	}
	return out
}

// New returns a runner. kube acts as the kubelet does (reads Secrets and ConfigMaps for
// volumes, requests ServiceAccount tokens, writes pod status): give it the admin client. cfg's
// Host is the apiserver the steps talk to.
func New(kube kubernetes.Interface, cfg *rest.Config, logs LogWriter, o Options) *Runner {
	if o.Simulate == nil {
		o.Simulate = Succeed
	}
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	return &Runner{kube: kube, server: cfg.Host, logs: logs, o: o}
}

// Runs reports whether the pod has a container with the step image.
func (r *Runner) Runs(pod *corev1.Pod) bool {
	for _, c := range pod.Spec.Containers {
		if c.Image == r.o.Image {
			return true
		}
	}
	return false
}

// Run plays the pod to its end: it waits until KWOK has made the pod Running, runs its steps
// in order and writes each one's end into the pod's status as it happens, then the pod's phase
// (Succeeded, or Failed when a step failed). The pod must stay out of KWOK's hands meanwhile:
// give it the harness's hold annotation (e2e/cluster AnnotationHold), which every task pod of
// e2e/system carries. Cancel ctx when the pod is deleted: the running process is killed. Run
// returns an error only when it could not play the pod (it then leaves the pod as it was).
func (r *Runner) Run(ctx context.Context, pod *corev1.Pod) error {
	pod, err := r.waitRunning(ctx, pod)
	if err != nil || pod == nil {
		return err
	}
	dir, err := os.MkdirTemp(r.o.Dir, fmt.Sprintf("steprunner-%s-%s-", pod.Namespace, pod.Name))
	if err != nil {
		return fmt.Errorf("steprunner: %w", err)
	}
	defer os.RemoveAll(dir)

	steps := stepContainers(pod)
	vols, volErr := r.volumes(ctx, pod, dir)
	failed := false
	for n, i := range steps {
		c := pod.Spec.Containers[i]
		started, failedBefore := time.Now(), failed
		var out Outcome
		var st *Step
		if volErr == nil {
			st, err = r.prepare(ctx, pod, c, vols, dir)
		}
		switch {
		case volErr != nil:
			// A real pod would wait in ContainerCreating until the TaskRun times out; failing
			// at once with the reason is kinder to a test.
			out = Outcome{ExitCode: 1, Log: fmt.Sprintf("e2e harness: cannot mount the pod's volumes: %v\n", volErr)}
		case err != nil:
			out = Outcome{ExitCode: 1, Log: fmt.Sprintf("e2e harness: %v\n", err)}
		case failedBefore:
			out = Outcome{ExitCode: 1, Reason: "Skipped", Log: "Skipping step because a previous step failed\n"}
		default:
			if st.WaitReady {
				if err := r.waitReady(ctx, pod); err != nil {
					return err
				}
			}
			started = time.Now()
			if c.Image == r.o.Image {
				out = r.exec(ctx, st)
			} else {
				out = r.o.Simulate(ctx, st)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err() // the pod is gone: nothing to write
		}
		if out.ExitCode != 0 && (st == nil || st.OnError != "continue") {
			failed = true
		}
		msg, err := terminationMessage(dir, c.Name, out, started)
		if err != nil {
			// Tekton's entrypoint fails the step when its results do not fit
			out.ExitCode, out.Log = 1, out.Log+err.Error()+"\n"
			failed = true
		}
		rec := Record{Namespace: pod.Namespace, Pod: pod.Name, Container: c.Name, Task: pod.Labels["tekton.dev/pipelineTask"],
			Real: st != nil && c.Image == r.o.Image && !failedBefore, Outcome: out}
		if st != nil {
			rec.Command = st.Command
		}
		r.mu.Lock()
		r.records = append(r.records, rec)
		r.mu.Unlock()
		if err := r.setLog(ctx, pod, c.Name, out.Log); err != nil {
			return err
		}
		if err := r.terminate(ctx, pod, c.Name, out, msg, started, n == len(steps)-1, failed); err != nil {
			return err
		}
	}
	return nil
}

// stepContainers are the indexes of the pod's step containers in order: Tekton's "step-*"
// containers (its sidecars are not steps), or every container of a pod Tekton did not make.
func stepContainers(pod *corev1.Pod) []int {
	var out, all []int
	for i, c := range pod.Spec.Containers {
		all = append(all, i)
		if strings.HasPrefix(c.Name, "step-") {
			out = append(out, i)
		}
	}
	if len(out) == 0 {
		return all
	}
	return out
}

// prepare works out what a container runs, with what environment, where.
func (r *Runner) prepare(ctx context.Context, pod *corev1.Pod, c corev1.Container, vols map[string]volume, dir string) (*Step, error) {
	cmd, timeout, results, onError, waitReady, err := entrypointArgs(c)
	if err != nil {
		return nil, err
	}
	st := &Step{Pod: pod, Container: c, Timeout: timeout, Results: results, OnError: onError, WaitReady: waitReady, Dir: filepath.Join(dir, "root")}
	var tokenMount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("container %s mounts unknown volume %s", c.Name, m.Name)
		}
		st.mounts = append(st.mounts, mount{path: strings.TrimSuffix(m.MountPath, "/"), local: filepath.Join(v.dir, m.SubPath)})
		if v.token != "" {
			tokenMount = &c.VolumeMounts[i]
		}
	}
	sort.Slice(st.mounts, func(i, j int) bool { return len(st.mounts[i].path) > len(st.mounts[j].path) })
	if err := os.MkdirAll(st.Dir, 0o755); err != nil {
		return nil, err
	}
	if c.WorkingDir != "" {
		if local, ok := st.Local(c.WorkingDir); ok {
			st.Dir = local
		}
	}

	vars, order, err := r.env(ctx, pod, c)
	if err != nil {
		return nil, err
	}
	// What an image and the kubelet give every container; a step never sees the harness's own
	// environment (its KUBECONFIG, Go or cloud settings).
	base := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOSTNAME=" + pod.Name,
		"HOME=" + filepath.Join(dir, "root"),
	}
	if host, port, ok := strings.Cut(strings.TrimPrefix(r.server, "https://"), ":"); ok {
		base = append(base, "KUBERNETES_SERVICE_HOST="+host, "KUBERNETES_SERVICE_PORT="+port)
	}
	if tokenMount != nil {
		v := vols[tokenMount.Name]
		kc := filepath.Join(dir, "kubeconfig-"+c.Name)
		if err := r.kubeconfig(kc, filepath.Join(v.dir, tokenMount.SubPath), v.token); err != nil {
			return nil, err
		}
		base = append(base, "KUBECONFIG="+kc)
	}
	st.Env = base
	for _, k := range order {
		st.Env = append(st.Env, k+"="+st.localize(vars[k]))
	}
	for _, a := range cmd {
		st.Command = append(st.Command, st.localize(expand(a, vars)))
	}
	return st, nil
}

// exec runs a step-image container's command as a local process.
func (r *Runner) exec(ctx context.Context, st *Step) Outcome {
	bin := r.o.Commands[st.Command[0]]
	if bin == "" {
		bin = r.o.Commands[filepath.Base(st.Command[0])]
	}
	if bin == "" {
		// what a container runtime says for a command missing from the image
		return Outcome{ExitCode: 127, Log: fmt.Sprintf("e2e harness: no local binary for command %q (steprunner.Options.Commands)\n", st.Command[0])}
	}
	runCtx := ctx
	if st.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, st.Timeout)
		defer cancel()
	}
	logPath := filepath.Join(filepath.Dir(st.Dir), st.Container.Name+".log")
	p, err := process.Start(process.Spec{
		Name: st.Container.Name, Bin: bin, Args: st.Command[1:], Env: st.Env, CleanEnv: true,
		LogPath: logPath, Dir: st.Dir, NoHeader: true,
	})
	if err != nil {
		return Outcome{ExitCode: 128, Log: fmt.Sprintf("e2e harness: %v\n", err)}
	}
	timedOut := false
	select {
	case <-p.Done():
	case <-runCtx.Done():
		timedOut = ctx.Err() == nil
		p.Stop(5 * time.Second)
	}
	data, _ := os.ReadFile(logPath)
	out := Outcome{ExitCode: p.ExitCode(), Log: string(data), Results: map[string]string{}}
	if timedOut {
		// Tekton's entrypoint: TimeoutExceeded, exit 1
		out.ExitCode, out.Reason = 1, "TimeoutExceeded"
		out.Log += fmt.Sprintf("%s exceeded its timeout of %s\n", st.Container.Name, st.Timeout)
	}
	for _, name := range st.Results {
		local, ok := st.Local("/tekton/results/" + name)
		if !ok {
			continue
		}
		if v, err := os.ReadFile(local); err == nil {
			out.Results[name] = string(v)
		}
	}
	return out
}

// terminationMessage renders what Tekton's entrypoint writes to the termination path — the
// results, then the step's start time and termination reason — with Tekton's own writer, which
// refuses messages over 4 KiB as the kubelet would cut them.
func terminationMessage(dir, container string, out Outcome, started time.Time) (string, error) {
	path := filepath.Join(dir, "termination-"+container)
	var results []result.RunResult
	for _, k := range sortedKeys(out.Results) {
		results = append(results, result.RunResult{Key: k, Value: out.Results[k], ResultType: result.TaskRunResultType})
	}
	var errs []error
	if len(results) > 0 {
		errs = append(errs, termination.WriteMessage(path, results))
	}
	internal := []result.RunResult{{Key: "StartedAt", Value: started.Format("2006-01-02T15:04:05.000Z07:00"), ResultType: result.InternalTektonResultType}}
	if out.Reason != "" {
		internal = append(internal, result.RunResult{Key: "Reason", Value: out.Reason, ResultType: result.InternalTektonResultType})
	}
	if err := termination.WriteMessage(path, internal); err != nil {
		errs = append(errs, err)
	}
	data, _ := os.ReadFile(path)
	return string(data), errors.Join(errs...)
}

// setLog makes pods/log serve the container's output and waits until it does, so that whoever
// reads the log once the step has ended (the reporter, tkn) reads this text.
func (r *Runner) setLog(ctx context.Context, pod *corev1.Pod, container, text string) error {
	if err := r.logs.SetPodLogs(ctx, pod.Namespace, pod.Name, container, text); err != nil {
		return fmt.Errorf("steprunner: %w", err)
	}
	first, _, _ := strings.Cut(text, "\n")
	if first == "" {
		return nil
	}
	return process.WaitUntil(ctx, "the log of "+pod.Name+"/"+container, 30*time.Second, func(ctx context.Context) error {
		data, err := r.kube.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), first) {
			return errors.New("not served yet")
		}
		return nil
	})
}

// terminate writes one container's end into the pod's status, and the pod's when it is the last.
func (r *Runner) terminate(ctx context.Context, pod *corev1.Pod, container string, out Outcome, msg string, started time.Time, last, failed bool) error {
	pods := r.kube.CoreV1().Pods(pod.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		for i := range p.Status.ContainerStatuses {
			cs := &p.Status.ContainerStatuses[i]
			if cs.Name != container && !(last && cs.State.Terminated == nil) {
				continue
			}
			t := &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: metav1.NewTime(started), FinishedAt: now}
			if cs.Name == container {
				t.ExitCode, t.Message = int32(out.ExitCode), msg
				if out.ExitCode != 0 {
					t.Reason = "Error"
				}
			} else if cs.State.Running != nil {
				t.StartedAt = cs.State.Running.StartedAt // a sidecar, stopped with the pod
			}
			cs.State = corev1.ContainerState{Terminated: t}
			cs.Ready, cs.Started = false, ptrFalse()
		}
		if last {
			p.Status.Phase = corev1.PodSucceeded
			reason := "PodCompleted"
			if failed {
				p.Status.Phase, reason = corev1.PodFailed, "PodFailed"
			}
			for i := range p.Status.Conditions {
				c := &p.Status.Conditions[i]
				if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
					c.Status, c.Reason, c.LastTransitionTime = corev1.ConditionFalse, reason, now
				}
			}
		}
		_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) || ctx.Err() != nil {
		return nil // deleted meanwhile (a cancelled run)
	}
	if err != nil {
		return fmt.Errorf("steprunner: write the status of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

func ptrFalse() *bool { f := false; return &f }

// waitRunning waits until KWOK has started the pod; nil when it ended or went away first.
func (r *Runner) waitRunning(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	var cur *corev1.Pod
	err := process.WaitUntil(ctx, "pod "+pod.Namespace+"/"+pod.Name+" Running", 2*time.Minute, func(ctx context.Context) error {
		p, err := r.kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		switch p.Status.Phase {
		case corev1.PodRunning:
			cur = p
			return nil
		case corev1.PodSucceeded, corev1.PodFailed:
			return nil
		}
		return errors.New(string(p.Status.Phase))
	})
	if err != nil {
		return nil, fmt.Errorf("steprunner: %w", err)
	}
	return cur, nil
}

// waitReady waits for Tekton's go-ahead (the pod's tekton.dev/ready annotation), which the
// first step's entrypoint waits for through a downward API file.
func (r *Runner) waitReady(ctx context.Context, pod *corev1.Pod) error {
	err := process.WaitUntil(ctx, "tekton.dev/ready on "+pod.Name, 2*time.Minute, func(ctx context.Context) error {
		p, err := r.kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Annotations["tekton.dev/ready"] == "" {
			return errors.New("not ready")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("steprunner: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
