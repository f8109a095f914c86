// Package buildrun runs the preview pipeline's image builds where a pull request's chart cannot
// reach them. The pipeline's build task is a Tekton custom task (preview.BuildAPIVersion,
// preview.BuildKind): Tekton creates a CustomRun in the PR namespace, and this controller
// creates the build as a TaskRun of the catalyst-build Task in the builds namespace (Pod Security
// "privileged", a ServiceAccount with no RBAC and no token, its own network policies), hands
// it a per-build credentials Secret, mirrors its status and results onto the CustomRun, cancels
// it with the CustomRun, and removes builds whose CustomRun is gone. It runs in the trigger's
// process, the one Kubernetes writer. docs/security.md says why and what it guards.
package buildrun

import (
	"context"
	"fmt"
	"sync"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	tektoninformers "github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	listersv1 "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1"
	listersv1beta1 "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1beta1"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/tasks"
)

// FieldManager owns what this controller applies in the builds namespace.
const FieldManager = "catalyst-buildrun"

// Deps are what the controller is built from.
type Deps struct {
	Kube    kubernetes.Interface
	Tekton  tektonclient.Interface
	Dynamic dynamic.Interface
	Config  *config.Config
	Log     *zap.Logger
	Now     func() time.Time
	// CollectEvery is the period of the garbage collection of builds whose CustomRun is gone
	// (it also runs on every CustomRun deletion). Default one minute.
	CollectEvery time.Duration
	// ReprovisionEvery re-applies the builds namespace's objects even when unchanged. Default
	// ten minutes.
	ReprovisionEvery time.Duration
}

type keyKind int

const (
	keyRun       keyKind = iota // a CustomRun, namespace/name
	keyCollect                  // garbage-collect builds whose CustomRun is gone
	keyNamespace                // converge the builds namespace
)

type key struct {
	Kind            keyKind
	Namespace, Name string
}

// Controller converges CustomRuns of the build custom task and their builds.
type Controller struct {
	Deps
	queue workqueue.TypedRateLimitingInterface[key]

	runFactory    tektoninformers.SharedInformerFactory
	buildFactory  tektoninformers.SharedInformerFactory
	secretFactory informers.SharedInformerFactory
	taskFactory   tektoninformers.SharedInformerFactory

	customRuns listersv1beta1.CustomRunLister
	taskRuns   listersv1.TaskRunLister
	secrets    corelisters.SecretLister
	tasks      listersv1.TaskLister
	synced     []cache.InformerSynced

	mu          sync.Mutex
	provisioned string    // fingerprint of the builds namespace objects last applied
	provisionAt time.Time // when
}

const informerResync = 10 * time.Minute

// NewController wires informers and the queue; Run starts them.
func NewController(d Deps) *Controller {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.CollectEvery == 0 {
		d.CollectEvery = time.Minute
	}
	if d.ReprovisionEvery == 0 {
		d.ReprovisionEvery = 10 * time.Minute
	}
	c := &Controller{
		Deps: d,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[key](),
			workqueue.TypedRateLimitingQueueConfig[key]{Name: "catalyst-buildrun"}),
	}
	p := d.Config.Preview
	managed := labels.Set{preview.LabelManaged: preview.ManagedTrue}.String()
	builds := labels.Set{preview.LabelBuild: "true"}.String()
	c.runFactory = tektoninformers.NewSharedInformerFactoryWithOptions(d.Tekton, informerResync,
		tektoninformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = managed }))
	c.buildFactory = tektoninformers.NewSharedInformerFactoryWithOptions(d.Tekton, informerResync, tektoninformers.WithNamespace(p.BuildNamespace),
		tektoninformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = builds }))
	c.secretFactory = informers.NewSharedInformerFactoryWithOptions(d.Kube, informerResync, informers.WithNamespace(p.BuildNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = builds }))
	c.taskFactory = tektoninformers.NewSharedInformerFactoryWithOptions(d.Tekton, informerResync, tektoninformers.WithNamespace(p.PipelineNamespace))

	runInformer := c.runFactory.Tekton().V1beta1().CustomRuns()
	trInformer := c.buildFactory.Tekton().V1().TaskRuns()
	secretInformer := c.secretFactory.Core().V1().Secrets()
	taskInformer := c.taskFactory.Tekton().V1().Tasks()
	_ = preview.SlimInformers(runInformer.Informer(), trInformer.Informer(), secretInformer.Informer(), taskInformer.Informer())
	c.customRuns = runInformer.Lister()
	c.taskRuns = trInformer.Lister()
	c.secrets = secretInformer.Lister()
	c.tasks = taskInformer.Lister()
	c.synced = []cache.InformerSynced{runInformer.Informer().HasSynced, trInformer.Informer().HasSynced,
		secretInformer.Informer().HasSynced, taskInformer.Informer().HasSynced}

	_, _ = runInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueueRun(obj) },
		UpdateFunc: func(_, obj any) { c.enqueueRun(obj) },
		DeleteFunc: func(any) { c.queue.Add(key{Kind: keyCollect}) },
	})
	_, _ = trInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueueOwner(obj) },
		UpdateFunc: func(_, obj any) { c.enqueueOwner(obj) },
		DeleteFunc: func(obj any) { c.enqueueOwner(obj) },
	})
	_, _ = taskInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.queue.Add(key{Kind: keyNamespace}) },
		UpdateFunc: func(_, _ any) { c.queue.Add(key{Kind: keyNamespace}) },
		DeleteFunc: func(any) { c.queue.Add(key{Kind: keyNamespace}) },
	})
	return c
}

func (c *Controller) enqueueRun(obj any) {
	if cr, ok := obj.(*v1beta1.CustomRun); ok && Ours(cr) {
		c.queue.Add(key{Kind: keyRun, Namespace: cr.Namespace, Name: cr.Name})
	}
}

// enqueueOwner maps a build TaskRun to its CustomRun.
func (c *Controller) enqueueOwner(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	l := m.GetLabels()
	if ns, name := l[preview.LabelRunNamespace], l[preview.LabelCustomRun]; ns != "" && name != "" {
		c.queue.Add(key{Kind: keyRun, Namespace: ns, Name: name})
	}
}

// Run starts the informers and works the queue until ctx ends. Run it under the trigger's
// leader election.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	for _, f := range []interface{ Start(<-chan struct{}) }{c.runFactory, c.buildFactory, c.secretFactory, c.taskFactory} {
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("wait for build informer caches: %w", ctx.Err())
	}
	c.Log.Info("build controller started", zap.String("namespace", c.Config.Preview.BuildNamespace), zap.Int("workers", workers))
	for range workers {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	go wait.UntilWithContext(ctx, func(context.Context) {
		c.queue.Add(key{Kind: keyCollect})
		c.queue.Add(key{Kind: keyNamespace})
	}, c.CollectEvery)
	<-ctx.Done()
	return nil
}

func (c *Controller) worker(ctx context.Context) {
	for c.processNext(ctx) {
	}
}

const reconcileTimeout = time.Minute

func (c *Controller) processNext(ctx context.Context) bool {
	k, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(k)
	rctx, cancel := context.WithTimeout(ctx, reconcileTimeout)
	defer cancel()
	after, err := c.Reconcile(rctx, k)
	if err != nil {
		c.Log.Error("build reconcile failed", zap.String("namespace", k.Namespace), zap.String("customrun", k.Name), zap.Error(err))
		c.queue.AddRateLimited(k)
		return true
	}
	c.queue.Forget(k)
	if after > 0 {
		c.queue.AddAfter(k, after)
	}
	return true
}

// Reconcile converges one key and says when to look again (0: on the next event).
func (c *Controller) Reconcile(ctx context.Context, k key) (time.Duration, error) {
	switch k.Kind {
	case keyRun:
		return c.reconcileRun(ctx, k.Namespace, k.Name)
	case keyCollect:
		return 0, c.collect(ctx)
	case keyNamespace:
		return 0, c.provision(ctx, true)
	}
	return 0, fmt.Errorf("unknown key kind %d", k.Kind)
}

// buildTask is the catalyst-build Task of the pipeline namespace, or nil while it is missing.
func (c *Controller) buildTask() *pipelinev1.Task {
	t, err := c.tasks.Tasks(c.Config.Preview.PipelineNamespace).Get(tasks.Build)
	if err != nil {
		return nil
	}
	return t
}
