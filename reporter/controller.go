// Package reporter is the only writer of GitHub status: one Check Run per commit and one
// upserted comment per pull request, kept in step with the PipelineRuns and TaskRuns of each PR
// namespace. It watches managed Namespaces, PipelineRuns and TaskRuns; every event enqueues
// the PR namespace, and Reconcile renders the reports from the current objects, compares their
// fingerprints with the ledger annotations (report-hash on the PipelineRun, comment-hash on
// the namespace) and calls GitHub only when they differ. A finalizer on the namespace keeps
// it until the comment says the environment was removed.
package reporter

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	tektoninformers "github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	tektonlisters "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1"
	tektonv1beta1listers "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1beta1"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/preview"
)

// Deps are what the controller is built from.
type Deps struct {
	Kube     kubernetes.Interface
	Tekton   tektonclient.Interface
	GitHub   GitHubClients
	Config   *config.Config
	Logs     LogReader            // nil: PodLogs through Kube
	Recorder record.EventRecorder // Events on namespaces; nil: dropped
	Log      *zap.Logger
	Metrics  *Metrics
	// Usage polls resource usage per PR namespace for the metrics (the leader only); nil: none.
	Usage *UsagePoller
	Now   func() time.Time
	// LogLines is how many lines of the failed step's log the excerpt shows (default 40).
	LogLines int64
	// ClassifyWait is how long a failure waits for the trigger's classification before it is
	// reported unclassified (default 5s); see classifyWait. Nothing else is held back.
	ClassifyWait time.Duration
	// ProgressInterval paces live progress: a report shows its current task and elapsed time
	// and is edited for that at most once per interval per surface (default 30s); state
	// changes are always sent at once. Negative: no progress edits.
	ProgressInterval time.Duration
	// CommentOnly reports on the PR comment only: with a token instead of a GitHub App, check
	// runs cannot be written.
	CommentOnly bool
	// StuckAfter is how long a namespace may take to delete before operators are told
	// (default 10m).
	StuckAfter time.Duration
}

// Controller reports PR namespaces to GitHub.
type Controller struct {
	Deps
	queue workqueue.TypedRateLimitingInterface[string]

	kubeInformers   informers.SharedInformerFactory
	tektonInformers tektoninformers.SharedInformerFactory
	namespaces      corelisters.NamespaceLister
	runs            tektonlisters.PipelineRunLister
	taskRuns        tektonlisters.TaskRunLister
	customRuns      tektonv1beta1listers.CustomRunLister
	quotas          corelisters.ResourceQuotaLister
	synced          []cache.InformerSynced
}

// informerResync re-delivers every object periodically; an unchanged report costs nothing.
const informerResync = 10 * time.Minute

// NewController wires informers on managed objects and the work queue; Run starts them.
func NewController(d Deps) *Controller {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logs == nil {
		d.Logs = PodLogs{Kube: d.Kube}
	}
	if d.Recorder == nil {
		d.Recorder = &record.FakeRecorder{} // without a channel it drops events
	}
	d.Log = cmp.Or(d.Log, zap.NewNop())
	d.LogLines = cmp.Or(d.LogLines, 40)
	d.ClassifyWait = cmp.Or(d.ClassifyWait, 5*time.Second)
	d.ProgressInterval = cmp.Or(d.ProgressInterval, 30*time.Second)
	if d.ProgressInterval < 0 {
		d.ProgressInterval = 0
	}
	d.StuckAfter = cmp.Or(d.StuckAfter, 10*time.Minute)
	c := &Controller{
		Deps: d,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "catalyst-reporter"}),
	}
	managed := func(o *metav1.ListOptions) {
		o.LabelSelector = labels.Set{preview.LabelManaged: preview.ManagedTrue}.String()
	}
	c.kubeInformers = informers.NewSharedInformerFactoryWithOptions(d.Kube, informerResync, informers.WithTweakListOptions(managed))
	c.tektonInformers = tektoninformers.NewSharedInformerFactoryWithOptions(d.Tekton, informerResync, tektoninformers.WithTweakListOptions(managed))
	nsInformer := c.kubeInformers.Core().V1().Namespaces()
	quotaInformer := c.kubeInformers.Core().V1().ResourceQuotas()
	prInformer := c.tektonInformers.Tekton().V1().PipelineRuns()
	trInformer := c.tektonInformers.Tekton().V1().TaskRuns()
	crInformer := c.tektonInformers.Tekton().V1beta1().CustomRuns()
	c.namespaces, c.runs, c.taskRuns, c.customRuns = nsInformer.Lister(), prInformer.Lister(), trInformer.Lister(), crInformer.Lister()
	c.quotas = quotaInformer.Lister()
	// Not started yet, so SetTransform cannot fail.
	_ = preview.SlimInformers(nsInformer.Informer(), quotaInformer.Informer(), prInformer.Informer(), trInformer.Informer(), crInformer.Informer())
	c.synced = []cache.InformerSynced{nsInformer.Informer().HasSynced, quotaInformer.Informer().HasSynced,
		prInformer.Informer().HasSynced, trInformer.Informer().HasSynced, crInformer.Informer().HasSynced}

	// Every event enqueues the PR namespace: a TaskRun's PipelineRun lives there too.
	enqueue := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if o, ok := obj.(metav1.Object); ok {
			name := o.GetNamespace()
			if name == "" {
				name = o.GetName() // the Namespace itself
			}
			c.queue.Add(name)
		}
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue}
	for _, inf := range []cache.SharedIndexInformer{nsInformer.Informer(), prInformer.Informer(), trInformer.Informer(), crInformer.Informer()} {
		_, _ = inf.AddEventHandler(h)
	}
	return c
}

// Run starts the informers, waits for their caches and works the queue until ctx ends; it
// returns once every worker has stopped. Run it under leader election: two replicas must never
// both post.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrash()
	c.kubeInformers.Start(ctx.Done())
	c.tektonInformers.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		c.queue.ShutDown()
		return fmt.Errorf("wait for informer caches: %w", ctx.Err())
	}
	// Gauges are exported by the leader only, from synced caches: a follower exports none
	// rather than zeros that would halve or zero a dashboard's sums.
	c.Metrics.watch(&stateSource{namespaces: c.namespaces, quotas: c.quotas, stuckAfter: c.StuckAfter, now: c.Now})
	defer c.Metrics.watch(nil)
	if c.Usage != nil {
		go c.Usage.Run(ctx, c.Metrics)
	}
	if c.CommentOnly {
		c.Log.Warn("reporting on PR comments only: check runs need a GitHub App, and GitHub is reached with a token")
	}
	c.Log.Info("reporter controller started", zap.Int("workers", workers))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	c.kubeInformers.Shutdown()
	c.tektonInformers.Shutdown()
	return nil
}

// reconcileTimeout bounds one reconcile, GitHub calls included.
const reconcileTimeout = time.Minute

func (c *Controller) processNext(ctx context.Context) bool {
	name, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(name)
	rctx, cancel := context.WithTimeout(ctx, reconcileTimeout)
	defer cancel()
	after, err := c.Reconcile(rctx, name)
	if d, ok := githubapp.RetryAfter(err); ok {
		// Rate-limited or breaker open: nothing is lost, the ledger still holds the last
		// report sent, and the next attempt renders whatever is current then.
		c.Metrics.reconciled("requeue")
		c.Log.Warn("github unavailable, requeued", zap.String("namespace", name), zap.Duration("after", d), zap.Error(err))
		c.queue.Forget(name)
		c.queue.AddAfter(name, d)
		return true
	}
	if err != nil {
		c.Metrics.reconciled("error")
		c.Log.Error("reconcile failed", zap.String("namespace", name), zap.Bool("retryable", githubapp.IsRetryable(err)), zap.Error(err))
		c.queue.AddRateLimited(name)
		return true
	}
	c.Metrics.reconciled("success")
	c.queue.Forget(name)
	if after > 0 {
		c.queue.AddAfter(name, after)
	}
	return true
}

// runsOf lists the deploy PipelineRuns of a namespace grouped by commit, attempts oldest first,
// and the children (TaskRuns, CustomRuns) of each run.
func (c *Controller) runsOf(namespace string) (map[string][]*pipelinev1.PipelineRun, map[string][]child, error) {
	runs, err := c.runs.PipelineRuns(namespace).List(labels.SelectorFromSet(labels.Set{preview.LabelKind: preview.KindDeploy}))
	if err != nil {
		return nil, nil, fmt.Errorf("list pipelineruns of %s: %w", namespace, err)
	}
	trs, err := c.taskRuns.TaskRuns(namespace).List(labels.Everything())
	if err != nil {
		return nil, nil, fmt.Errorf("list taskruns of %s: %w", namespace, err)
	}
	crs, err := c.customRuns.CustomRuns(namespace).List(labels.Everything())
	if err != nil {
		return nil, nil, fmt.Errorf("list customruns of %s: %w", namespace, err)
	}
	bySHA := map[string][]*pipelinev1.PipelineRun{}
	for _, r := range runs {
		if sha := r.Labels[preview.LabelSHA]; sha != "" {
			bySHA[sha] = append(bySHA[sha], r)
		}
	}
	for _, attempts := range bySHA {
		sortAttempts(attempts)
	}
	byRun := map[string][]child{}
	for _, tr := range trs {
		byRun[tr.Labels[labelPipelineRun]] = append(byRun[tr.Labels[labelPipelineRun]], childOfTaskRun(tr))
	}
	for _, cr := range crs {
		byRun[cr.Labels[labelPipelineRun]] = append(byRun[cr.Labels[labelPipelineRun]], childOfCustomRun(cr))
	}
	return bySHA, byRun, nil
}
