package trigger

import (
	"context"
	"fmt"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	tektoninformers "github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	tektonlisters "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1"
	tektonlistersv1beta1 "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1beta1"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
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
	"github.com/catalyst-preview/catalyst/trigger/record"
)

// prRecord is a pull request's record as the controller reads it from its cache.
type prRecord = record.PR

// keyKind says which reconcile a queue key is for.
type keyKind string

const (
	keyNamespace keyKind = "namespace" // a PR namespace
	keyPending   keyKind = "pending"   // a pending record ConfigMap
	keyQueue     keyKind = "queue"     // the global concurrency queue
	keySources   keyKind = "sources"   // pipelines, tasks or secrets to copy changed
)

type key struct {
	Kind keyKind
	Name string
}

// Deps are what the controller is built from; tests pass real clients of the e2e apiserver or
// fakes, production passes the in-cluster clients.
type Deps struct {
	Kube            kubernetes.Interface
	Tekton          tektonclient.Interface
	Dynamic         dynamic.Interface
	GitHub          GitHubClients
	Config          *config.Config
	SystemNamespace string
	Log             *zap.Logger
	Metrics         *Metrics
	Now             func() time.Time
	// RetryAfter tells from a GitHub error when to try again (rate limit, open breaker).
	RetryAfter func(error) (time.Duration, bool)
	// ResyncEvery overrides the configured resync interval (tests shorten it).
	ResyncEvery time.Duration
	// ReprovisionEvery re-applies namespace contents even when unchanged, repairing drift.
	ReprovisionEvery time.Duration
	// DecorateRun, when set, adjusts every PipelineRun before it is created. The demo and the
	// end-to-end tests use it to tell the simulated node how each task pod ends.
	DecorateRun func(*pipelinev1.PipelineRun)
}

// Controller converges PR namespaces, their PipelineRuns and the global queue.
type Controller struct {
	Deps
	store  *record.Store
	slots  *slots
	tokens tokenCache
	queue  workqueue.TypedRateLimitingInterface[key]

	kubeInformers   informers.SharedInformerFactory
	systemInformers informers.SharedInformerFactory
	sourceInformers informers.SharedInformerFactory
	tektonInformers tektoninformers.SharedInformerFactory
	tektonSources   tektoninformers.SharedInformerFactory

	namespaces corelisters.NamespaceLister
	pendings   corelisters.ConfigMapLister
	secrets    corelisters.SecretLister
	apiServer  apiServerListers
	runs       tektonlisters.PipelineRunLister
	taskRuns   tektonlisters.TaskRunLister
	customRuns tektonlistersv1beta1.CustomRunLister // the builds (trigger/buildrun)
	pipelines  tektonlisters.PipelineLister
	tasks      tektonlisters.TaskLister
	synced     []cache.InformerSynced

	apiServerInformers []cache.SharedIndexInformer
}

// informerResync re-delivers every cached object periodically so that a missed event or a
// failed write is retried even when nothing changes.
const informerResync = 10 * time.Minute

// NewController wires informers and the work queue; Run starts them.
func NewController(d Deps) *Controller {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.RetryAfter == nil {
		d.RetryAfter = func(error) (time.Duration, bool) { return 0, false }
	}
	if d.ResyncEvery == 0 {
		d.ResyncEvery = d.Config.Preview.ResyncInterval.Duration
	}
	if d.ReprovisionEvery == 0 {
		d.ReprovisionEvery = time.Hour
	}
	c := &Controller{
		Deps:  d,
		store: record.NewStore(d.Kube, d.Config, d.SystemNamespace, d.Now),
		slots: newSlots(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[key](),
			workqueue.TypedRateLimitingQueueConfig[key]{Name: "catalyst-trigger"}),
	}
	managed := func(o *metav1.ListOptions) {
		o.LabelSelector = labels.Set{preview.LabelManaged: preview.ManagedTrue}.String()
	}
	c.kubeInformers = informers.NewSharedInformerFactoryWithOptions(d.Kube, informerResync, informers.WithTweakListOptions(managed))
	c.systemInformers = informers.NewSharedInformerFactoryWithOptions(d.Kube, informerResync,
		informers.WithNamespace(d.SystemNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = preview.LabelPendingRecord + "=true"
		}))
	c.sourceInformers = informers.NewSharedInformerFactoryWithOptions(d.Kube, informerResync, informers.WithNamespace(d.Config.Preview.SecretsNamespace))
	c.tektonInformers = tektoninformers.NewSharedInformerFactoryWithOptions(d.Tekton, informerResync, tektoninformers.WithTweakListOptions(managed))
	c.tektonSources = tektoninformers.NewSharedInformerFactoryWithOptions(d.Tekton, informerResync, tektoninformers.WithNamespace(d.Config.Preview.PipelineNamespace))
	apiInformers := newAPIServerInformers(d.Kube)
	c.apiServer = apiInformers.listers
	c.apiServerInformers = apiInformers.informers

	nsInformer := c.kubeInformers.Core().V1().Namespaces()
	cmInformer := c.systemInformers.Core().V1().ConfigMaps()
	secretInformer := c.sourceInformers.Core().V1().Secrets()
	prInformer := c.tektonInformers.Tekton().V1().PipelineRuns()
	trInformer := c.tektonInformers.Tekton().V1().TaskRuns()
	crInformer := c.tektonInformers.Tekton().V1beta1().CustomRuns()
	plInformer := c.tektonSources.Tekton().V1().Pipelines()
	taskInformer := c.tektonSources.Tekton().V1().Tasks()

	// Not started yet, so SetTransform cannot fail.
	_ = preview.SlimInformers(nsInformer.Informer(), cmInformer.Informer(), secretInformer.Informer(),
		prInformer.Informer(), trInformer.Informer(), crInformer.Informer(), plInformer.Informer(), taskInformer.Informer())
	c.namespaces = nsInformer.Lister()
	c.pendings = cmInformer.Lister()
	c.secrets = secretInformer.Lister()
	c.runs = prInformer.Lister()
	c.taskRuns = trInformer.Lister()
	c.customRuns = crInformer.Lister()
	c.pipelines = plInformer.Lister()
	c.tasks = taskInformer.Lister()
	c.synced = []cache.InformerSynced{
		nsInformer.Informer().HasSynced, cmInformer.Informer().HasSynced, secretInformer.Informer().HasSynced,
		prInformer.Informer().HasSynced, trInformer.Informer().HasSynced, crInformer.Informer().HasSynced,
		plInformer.Informer().HasSynced, taskInformer.Informer().HasSynced,
	}

	_, _ = nsInformer.Informer().AddEventHandler(handler(func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok {
			c.queue.Add(key{keyNamespace, ns.Name})
		}
	}))
	_, _ = cmInformer.Informer().AddEventHandler(handler(func(obj any) {
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			c.queue.Add(key{keyPending, cm.Name})
		}
	}))
	_, _ = prInformer.Informer().AddEventHandler(handler(func(obj any) {
		if pr, ok := obj.(*pipelinev1.PipelineRun); ok {
			c.queue.Add(key{keyNamespace, pr.Namespace})
			c.queue.Add(key{Kind: keyQueue})
		}
	}))
	_, _ = trInformer.Informer().AddEventHandler(handler(func(obj any) {
		if tr, ok := obj.(*pipelinev1.TaskRun); ok {
			c.queue.Add(key{keyNamespace, tr.Namespace})
		}
	}))
	sourceChanged := handler(func(any) { c.queue.Add(key{Kind: keySources}) })
	for _, inf := range c.apiServerInformers {
		_, _ = inf.AddEventHandler(sourceChanged)
		c.synced = append(c.synced, inf.HasSynced)
	}
	_, _ = secretInformer.Informer().AddEventHandler(sourceChanged)
	_, _ = plInformer.Informer().AddEventHandler(sourceChanged)
	_, _ = taskInformer.Informer().AddEventHandler(sourceChanged)
	return c
}

// handler enqueues on add, update and delete; deletes arrive possibly as tombstones.
func handler(enqueue func(any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			enqueue(obj)
		},
	}
}

// Run starts informers, waits for their caches, and works the queue with the given number of
// workers until ctx ends. Run it under leader election: one controller per cluster acts.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	for _, f := range []interface{ Start(<-chan struct{}) }{c.kubeInformers, c.systemInformers, c.sourceInformers, c.tektonInformers, c.tektonSources} {
		f.Start(ctx.Done())
	}
	for _, inf := range c.apiServerInformers {
		go inf.Run(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("wait for informer caches: %w", ctx.Err())
	}
	c.Log.Info("trigger controller started", zap.Int("workers", workers))
	for range workers {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) { c.Resync(ctx) }, c.ResyncEvery)
	<-ctx.Done()
	return nil
}

func (c *Controller) worker(ctx context.Context) {
	for c.processNext(ctx) {
	}
}

// reconcileTimeout bounds one reconcile, GitHub calls included.
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
	switch {
	case err != nil:
		if d, ok := c.RetryAfter(err); ok {
			c.Metrics.reconciled(string(k.Kind), "requeue")
			c.Log.Warn("github unavailable, requeued", zap.String("kind", string(k.Kind)), zap.String("name", k.Name), zap.Duration("after", d), zap.Error(err))
			c.queue.Forget(k)
			c.queue.AddAfter(k, d)
			return true
		}
		c.Metrics.reconciled(string(k.Kind), "error")
		c.Log.Error("reconcile failed", zap.String("kind", string(k.Kind)), zap.String("name", k.Name), zap.Error(err))
		c.queue.AddRateLimited(k)
	default:
		c.Metrics.reconciled(string(k.Kind), "success")
		c.queue.Forget(k)
		if after > 0 {
			c.queue.AddAfter(k, after)
		}
	}
	return true
}

// Reconcile converges one key and says when to look again (0: on the next event).
func (c *Controller) Reconcile(ctx context.Context, k key) (time.Duration, error) {
	switch k.Kind {
	case keyNamespace:
		return c.reconcileNamespace(ctx, k.Name)
	case keyPending:
		return c.reconcilePending(ctx, k.Name)
	case keyQueue:
		return 0, c.reconcileQueue(ctx)
	case keySources:
		all, err := c.namespaces.List(labels.Everything())
		if err != nil {
			return 0, err
		}
		for _, ns := range all {
			c.queue.Add(key{keyNamespace, ns.Name})
		}
		return 0, nil
	}
	return 0, fmt.Errorf("unknown key kind %q", k.Kind)
}
