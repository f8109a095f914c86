// Package podfate decides, test by test, how each simulated Tekton task pod ends. The system
// under test runs as real processes that cannot be told anything, so every PipelineRun carries
// the harness's hold annotation (through the trigger's preview.pipelineRunAnnotations); the
// Driver watches held pods and releases each with the fate its Policy picks, by patching the
// pod's annotations that the KWOK stages of e2e/cluster read.
package podfate

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
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

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

// Fate is how one task pod ends. The zero value: every step succeeds at once.
type Fate struct {
	// Hold keeps the pod running; the policy is asked again on the pod's next change or when
	// Reconsider is called.
	Hold      bool
	Delay     time.Duration     // before the end below
	ExitCode  int               // non-zero: the steps fail with it
	Message   string            // the failure reason Tekton shows
	Results   map[string]string // task results the steps write
	Evict     bool              // the node evicts the pod (infrastructure failure)
	ImagePull bool              // the image cannot be pulled (infrastructure failure)
}

// Task says which task pod is asking.
type Task struct {
	Namespace   string
	PipelineRun *pipelinev1.PipelineRun
	Task        string // pipeline task name: build, deploy, healthcheck, cleanup
	Pod         *corev1.Pod
}

// Param returns a PipelineRun parameter.
func (t Task) Param(name string) string {
	for _, p := range t.PipelineRun.Spec.Params {
		if p.Name == name {
			return p.Value.StringVal
		}
	}
	return ""
}

// Policy picks a fate.
type Policy func(Task) Fate

// Succeed is the policy of a healthy pipeline: every task succeeds and writes the results the
// real steps write (an image digest; the preview URL and helm revision), after delay.
func Succeed(delay time.Duration) Policy {
	return func(t Task) Fate { return Fate{Delay: delay, Results: Results(t)} }
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

// Driver releases held task pods.
type Driver struct {
	kube   kubernetes.Interface
	tekton tektonclient.Interface
	mu     sync.Mutex
	policy Policy
	done   map[types.UID]bool
	queue  chan *corev1.Pod
	store  cache.Store
}

// New returns a driver; Run starts it.
func New(kube kubernetes.Interface, tekton tektonclient.Interface, policy Policy) *Driver {
	return &Driver{kube: kube, tekton: tekton, policy: policy, done: map[types.UID]bool{}, queue: make(chan *corev1.Pod, 1024)}
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
	if d.store == nil {
		return
	}
	for _, obj := range d.store.List() {
		if p, ok := obj.(*corev1.Pod); ok {
			d.enqueue(p)
		}
	}
}

func (d *Driver) enqueue(p *corev1.Pod) {
	if _, held := p.Annotations[cluster.AnnotationHold]; !held || p.Labels["tekton.dev/pipelineTask"] == "" {
		return
	}
	select {
	case d.queue <- p:
	default: // full: the informer's resync offers the pod again
	}
}

// Run watches task pods until ctx ends.
func (d *Driver) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(d.kube, 30*time.Second,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "tekton.dev/pipelineTask" }))
	inf := factory.Core().V1().Pods().Informer()
	d.store = inf.GetStore()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.enqueue(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { d.enqueue(obj.(*corev1.Pod)) },
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-d.queue:
			if err := d.decide(ctx, p); err != nil && ctx.Err() == nil {
				// The pod may be gone (cancelled run); anything else is retried on resync.
				continue
			}
		}
	}
}

func (d *Driver) decide(ctx context.Context, p *corev1.Pod) error {
	d.mu.Lock()
	if d.done[p.UID] {
		d.mu.Unlock()
		return nil
	}
	policy := d.policy
	d.mu.Unlock()
	if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
		return nil
	}
	prName := p.Labels["tekton.dev/pipelineRun"]
	pr, err := d.tekton.TektonV1().PipelineRuns(p.Namespace).Get(ctx, prName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get pipelinerun %s/%s: %w", p.Namespace, prName, err)
	}
	fate := policy(Task{Namespace: p.Namespace, PipelineRun: pr, Task: p.Labels["tekton.dev/pipelineTask"], Pod: p})
	if fate.Hold {
		return nil
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
	_, err = d.kube.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	d.mu.Lock()
	d.done[p.UID] = true
	d.mu.Unlock()
	return nil
}
