// Package podfate decides, test by test, how each Tekton task pod ends. The system under test
// runs as real processes that cannot be told anything, so every PipelineRun carries the
// harness's hold annotation (through the trigger's preview.pipelineRunAnnotations); the Driver
// watches held pods and asks its Policy what each one does: run its step-image containers for
// real (e2e/steprunner), or end as the policy says (success with results, a failure, an
// eviction, an image pull failure) by patching the pod's annotations that the KWOK stages of
// e2e/cluster read.
package podfate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/preview"
)

// Fate is how one task pod ends. The zero value: every step succeeds at once.
type Fate struct {
	// Hold keeps the pod running; the policy is asked again on the pod's next change or when
	// Reconsider is called.
	Hold bool
	// Run runs the pod's step-image containers as real processes (Options.Runner) after
	// Delay; their exit codes, results and output decide the end, and the fields below are
	// ignored. Only for pods whose Task.StepImage is true.
	Run       bool
	Delay     time.Duration     // before the end
	ExitCode  int               // non-zero: the steps fail with it
	Message   string            // the failure reason Tekton shows
	Results   map[string]string // task results the steps write
	Evict     bool              // the node evicts the pod (infrastructure failure)
	ImagePull bool              // the image cannot be pulled (infrastructure failure)
	// Log is every container's log (Options.Logs); empty: one line saying the end was simulated.
	Log string
}

// Task says which task pod is asking.
type Task struct {
	// Namespace is the PipelineRun's: the PR namespace, also for a build pod, which runs in the
	// builds namespace (trigger/buildrun); Pod.Namespace is the pod's.
	Namespace string
	// PipelineRun is the run the pod belongs to; nil for a TaskRun outside a pipeline.
	PipelineRun *pipelinev1.PipelineRun
	Task        string // pipeline task name: build, deploy, healthcheck, cleanup; "" outside a pipeline
	Pod         *corev1.Pod
	// StepImage says the pod has a container with the step image, which Fate.Run runs.
	StepImage bool
}

// Param returns a PipelineRun parameter.
func (t Task) Param(name string) string {
	if t.PipelineRun == nil {
		return ""
	}
	for _, p := range t.PipelineRun.Spec.Params {
		if p.Name == name {
			return p.Value.StringVal
		}
	}
	return ""
}

// Annotation returns an annotation of the PipelineRun, or of the pod outside a pipeline.
func (t Task) Annotation(key string) string {
	if t.PipelineRun != nil {
		return t.PipelineRun.Annotations[key]
	}
	return t.Pod.Annotations[key]
}

// Policy picks a fate.
type Policy func(Task) Fate

// Succeed is the policy of a healthy pipeline where nothing runs for real: every task succeeds
// and writes the results the real steps write (an image digest; the preview URL and helm
// revision), after delay.
func Succeed(delay time.Duration) Policy {
	return func(t Task) Fate { return Fate{Delay: delay, Results: Results(t)} }
}

// RunSteps is the policy of a healthy pipeline with the real step code: pods with the step
// image run it (deploy, health check, cleanup), the others (the image build) succeed with the
// results the real task writes; each after delay.
func RunSteps(delay time.Duration) Policy {
	return func(t Task) Fate { return Default(t, delay) }
}

// Default is RunSteps' fate for one task, for policies that change only some tasks.
func Default(t Task, delay time.Duration) Fate {
	if t.StepImage {
		return Fate{Run: true, Delay: delay}
	}
	return Fate{Delay: delay, Results: Results(t)}
}

// Results are the results the real task writes.
func Results(t Task) map[string]string {
	switch t.Task {
	case "build":
		return map[string]string{"image-digest": "sha256:" + fmt.Sprintf("%064x", len(t.Param("revision")))}
	case "deploy":
		scheme := t.Param("url-scheme")
		if scheme == "" {
			scheme = "https"
		}
		return map[string]string{"url": scheme + "://" + t.Param("preview-host"), "release-revision": "1"}
	}
	return nil
}

// Runner runs a pod's step-image containers for real; *steprunner.Runner.
type Runner interface {
	Runs(pod *corev1.Pod) bool
	Run(ctx context.Context, pod *corev1.Pod) error
}

// LogWriter sets a container's pods/log; *cluster.Cluster.
type LogWriter interface {
	SetPodLogs(ctx context.Context, namespace, pod, container, text string) error
}

// Options configure a Driver.
type Options struct {
	// Runner runs the pods whose fate is Run; nil: such fates are errors.
	Runner Runner
	// Logs, when set, gives every simulated container a log (Fate.Log, or a line saying the
	// end was simulated) before the pod ends, so that `tkn` and the reporter show that.
	Logs LogWriter
	// ErrorLog receives a line per pod the driver could not play; nil discards them.
	ErrorLog io.Writer
	// Workers is how many pods are decided at once (runs go on beside them); 0: 4.
	Workers int
}

// Driver releases held task pods.
type Driver struct {
	kube   kubernetes.Interface
	tekton tektonclient.Interface
	o      Options
	queue  workqueue.TypedRateLimitingInterface[string]

	mu      sync.Mutex
	policy  Policy
	done    map[types.UID]bool               // released or handed to the runner
	running map[types.UID]context.CancelFunc // pods the runner is playing
	store   cache.Store
}

// New returns a driver; Run starts it.
func New(kube kubernetes.Interface, tekton tektonclient.Interface, policy Policy, o Options) *Driver {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.ErrorLog == nil {
		o.ErrorLog = io.Discard
	}
	return &Driver{
		kube: kube, tekton: tekton, o: o, policy: policy,
		done: map[types.UID]bool{}, running: map[types.UID]context.CancelFunc{},
		// A queue, not a channel: it never drops a pod, and a pod queued twice is decided once.
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
	}
}

// SetPolicy replaces the policy for pods not released yet.
func (d *Driver) SetPolicy(p Policy) {
	d.mu.Lock()
	d.policy = p
	d.mu.Unlock()
	d.Reconsider()
}

// Reconsider asks the policy again about every pod still held.
func (d *Driver) Reconsider() {
	d.mu.Lock()
	store := d.store
	d.mu.Unlock()
	if store == nil {
		return
	}
	for _, obj := range store.List() {
		if p, ok := obj.(*corev1.Pod); ok {
			d.enqueue(p)
		}
	}
}

func (d *Driver) enqueue(p *corev1.Pod) {
	if _, held := p.Annotations[cluster.AnnotationHold]; !held {
		return
	}
	if key, err := cache.MetaNamespaceKeyFunc(p); err == nil {
		d.queue.Add(key)
	}
}

// Run watches task pods until ctx ends.
func (d *Driver) Run(ctx context.Context) error {
	defer d.queue.ShutDown()
	factory := informers.NewSharedInformerFactoryWithOptions(d.kube, 30*time.Second,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "tekton.dev/taskRun" }))
	inf := factory.Core().V1().Pods().Informer()
	d.mu.Lock()
	d.store = inf.GetStore()
	d.mu.Unlock()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.enqueue(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { d.enqueue(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				d.forget(p.UID)
			}
		},
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	var wg sync.WaitGroup
	for range d.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
	d.queue.ShutDown()
	wg.Wait()
	factory.Shutdown()
	return nil
}

// forget stops the run of a deleted pod (a cancelled PipelineRun).
func (d *Driver) forget(uid types.UID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cancel := d.running[uid]; cancel != nil {
		cancel()
	}
	delete(d.running, uid)
	delete(d.done, uid)
}

func (d *Driver) next(ctx context.Context) bool {
	key, quit := d.queue.Get()
	if quit {
		return false
	}
	defer d.queue.Done(key)
	obj, exists, err := d.store.GetByKey(key)
	if err != nil || !exists {
		d.queue.Forget(key)
		return true
	}
	if err := d.decide(ctx, obj.(*corev1.Pod)); err != nil && ctx.Err() == nil {
		fmt.Fprintf(d.o.ErrorLog, "podfate: %s: %v (retrying)\n", key, err)
		d.queue.AddRateLimited(key)
		return true
	}
	d.queue.Forget(key)
	return true
}

func (d *Driver) decide(ctx context.Context, p *corev1.Pod) error {
	d.mu.Lock()
	if d.done[p.UID] {
		d.mu.Unlock()
		return nil
	}
	policy := d.policy
	d.mu.Unlock()
	if p.DeletionTimestamp != nil || (p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending) {
		return nil
	}
	// A build pod runs in the builds namespace (trigger/buildrun); its PipelineRun is in the PR
	// namespace the build controller labels it with.
	prNamespace := p.Namespace
	if ns := p.Labels[preview.LabelRunNamespace]; ns != "" {
		prNamespace = ns
	}
	t := Task{Namespace: prNamespace, Task: p.Labels["tekton.dev/pipelineTask"], Pod: p}
	if d.o.Runner != nil {
		t.StepImage = d.o.Runner.Runs(p)
	}
	if prName := p.Labels["tekton.dev/pipelineRun"]; prName != "" {
		pr, err := d.tekton.TektonV1().PipelineRuns(prNamespace).Get(ctx, prName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get pipelinerun %s/%s: %w", prNamespace, prName, err)
		}
		t.PipelineRun = pr
	}
	fate := policy(t)
	switch {
	case fate.Hold:
		return nil
	case fate.Run:
		return d.run(ctx, p, fate.Delay)
	}
	if err := d.writeLogs(ctx, p, fate); err != nil {
		return err
	}
	ann := map[string]any{cluster.AnnotationHold: nil}
	if fate.Delay > 0 {
		ann[cluster.AnnotationDelay] = fate.Delay.String()
	}
	if fate.ExitCode != 0 {
		ann[cluster.AnnotationFail] = strconv.Itoa(fate.ExitCode)
		if fate.Message != "" {
			ann[cluster.AnnotationFailReason] = fate.Message
		}
	}
	if len(fate.Results) > 0 {
		ann[cluster.AnnotationResults] = cluster.ResultsMessage(fate.Results)
	}
	if fate.Evict {
		ann[cluster.AnnotationEvict] = "true"
	}
	if fate.ImagePull {
		ann[cluster.AnnotationImagePullFailure] = "true"
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	_, err := d.kube.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	d.mu.Lock()
	d.done[p.UID] = true
	d.mu.Unlock()
	return nil
}

// run hands the pod to the runner, on a goroutine of its own (a step runs for seconds); the
// pod keeps its hold annotation so that KWOK leaves it to the runner.
func (d *Driver) run(ctx context.Context, p *corev1.Pod, delay time.Duration) error {
	if d.o.Runner == nil || !d.o.Runner.Runs(p) {
		return fmt.Errorf("fate Run for pod %s/%s, which has no step-image container to run", p.Namespace, p.Name)
	}
	runCtx, cancel := context.WithCancel(ctx)
	d.mu.Lock()
	d.done[p.UID] = true
	d.running[p.UID] = cancel
	d.mu.Unlock()
	go func() {
		defer cancel()
		select {
		case <-runCtx.Done():
			return
		case <-time.After(delay):
		}
		if err := d.o.Runner.Run(runCtx, p); err != nil && runCtx.Err() == nil {
			fmt.Fprintf(d.o.ErrorLog, "podfate: run pod %s/%s: %v\n", p.Namespace, p.Name, err)
		}
		d.mu.Lock()
		delete(d.running, p.UID)
		d.mu.Unlock()
	}()
	return nil
}

// writeLogs gives each container of a simulated pod its log and waits until pods/log serves it.
func (d *Driver) writeLogs(ctx context.Context, p *corev1.Pod, fate Fate) error {
	if d.o.Logs == nil || fate.ImagePull { // a container that never started has no log
		return nil
	}
	for _, c := range p.Spec.Containers {
		text := fate.Log
		if text == "" {
			text = simulatedLine(c, fate)
		}
		if err := d.o.Logs.SetPodLogs(ctx, p.Namespace, p.Name, c.Name, text); err != nil {
			return err
		}
	}
	first, _, _ := strings.Cut(fate.Log, "\n")
	if first == "" {
		first = simulatedLine(p.Spec.Containers[len(p.Spec.Containers)-1], fate)
		first = strings.TrimSuffix(first, "\n")
	}
	last := p.Spec.Containers[len(p.Spec.Containers)-1].Name
	deadline := time.Now().Add(30 * time.Second)
	for {
		raw, err := d.kube.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: last}).DoRaw(ctx)
		if err == nil && strings.Contains(string(raw), first) {
			return nil
		}
		if _, gone := d.kube.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{}); apierrors.IsNotFound(gone) {
			return nil // deleted meanwhile (a cancelled run): nobody will read its log
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("log of %s/%s not served after 30s (last error: %v)", p.Namespace, p.Name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func simulatedLine(c corev1.Container, f Fate) string {
	end := "exits 0"
	switch {
	case f.Evict:
		end = "is evicted"
	case f.ExitCode != 0:
		end = fmt.Sprintf("exits %d", f.ExitCode)
	}
	return fmt.Sprintf("e2e harness: %s (image %s) was simulated, not run (e2e/podfate): it %s\n", c.Name, c.Image, end)
}
