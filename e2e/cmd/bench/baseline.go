package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektoninformers "github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/catalyst-preview/catalyst/e2e/system"
	"github.com/catalyst-preview/catalyst/preview"
)

// baselineLabel marks the baseline's PipelineRuns for the bench's informer. It is not the
// product's: nothing of Catalyst selects it.
const baselineLabel = "e2e-bench/baseline"

// applyConcurrency is the trigger's bound on concurrent writes of one namespace's children
// (trigger/apply.go).
const applyConcurrency = 8

// baseline writes, for n namespaces, the objects the trigger wrote into src (namespace, quota,
// limit range, network policies, service account, RBAC, secrets, pipelines, tasks, PipelineRun)
// with plain client-go creates, as the trigger does: triggerWorkers namespaces at once, each
// namespace first, then its children applyConcurrency at a time, then the PipelineRun. The
// copies carry none of the product's labels or annotations, so neither the trigger nor the
// reporter acts on them while they are measured. Each namespace's time runs from the start to
// its PipelineRun seen by the bench's informer, the same end point as the trigger's. The
// namespaces are deleted, and gone, before it returns.
func baseline(ctx context.Context, sys *system.System, w *watcher, src string, n int) ([]time.Duration, error) {
	objs, err := objectsOf(ctx, sys, src)
	if err != nil {
		return nil, err
	}
	stamp := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("raw-%s-%d", stamp, i)
	}
	defer deleteNamespaces(context.WithoutCancel(ctx), sys, names)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(triggerWorkers)
	for _, ns := range names {
		g.Go(func() error { return writeAll(gctx, sys, ns, stamp, objs) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]time.Duration, n)
	deadline := time.Now().Add(2 * time.Minute)
	for i, ns := range names {
		for {
			created, _, ok := w.times(ns)
			if ok {
				out[i] = created.Sub(start)
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("the informer never saw the PipelineRun in %s", ns)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-w.changed:
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return out, nil
}

// deleteNamespaces deletes the baseline's namespaces and waits until they are gone, so that the
// namespace controller's work does not overlap the next measurement.
func deleteNamespaces(ctx context.Context, sys *system.System, names []string) {
	for _, ns := range names {
		_ = sys.Kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	}
	deadline := time.Now().Add(3 * time.Minute)
	for _, ns := range names {
		for time.Now().Before(deadline) {
			_, err := sys.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}

// objects are what the trigger wrote into one namespace, read once, without the product's
// labels and annotations.
type objects struct {
	quotas    []corev1.ResourceQuota
	limits    []corev1.LimitRange
	policies  []networkingv1.NetworkPolicy
	accounts  []corev1.ServiceAccount
	roles     []rbacv1.Role
	bindings  []rbacv1.RoleBinding
	secrets   []corev1.Secret
	pipelines []pipelinev1.Pipeline
	tasks     []pipelinev1.Task
	run       *pipelinev1.PipelineRun
	ns        *corev1.Namespace
}

func (o *objects) count() int {
	return 2 + len(o.quotas) + len(o.limits) + len(o.policies) + len(o.accounts) + len(o.roles) +
		len(o.bindings) + len(o.secrets) + len(o.pipelines) + len(o.tasks)
}

func objectsOf(ctx context.Context, sys *system.System, ns string) (*objects, error) {
	o := &objects{}
	k, t := sys.Kube, sys.Tekton.TektonV1()
	var err error
	if o.ns, err = k.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		return nil, err
	}
	q, err := k.CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	o.quotas = q.Items
	l, err := k.CoreV1().LimitRanges(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	o.limits = l.Items
	nps, err := k.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	o.policies = nps.Items
	sas, err := k.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, sa := range sas.Items {
		if sa.Name != "default" { // the ServiceAccount controller makes that one
			o.accounts = append(o.accounts, sa)
		}
	}
	roles, err := k.RbacV1().Roles(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	o.roles = roles.Items
	bindings, err := k.RbacV1().RoleBindings(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	o.bindings = bindings.Items
	s, err := k.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: preview.LabelManaged + "=" + preview.ManagedTrue})
	if err != nil {
		return nil, err
	}
	o.secrets = s.Items
	p, err := t.Pipelines(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	o.pipelines = p.Items
	ts, err := t.Tasks(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	o.tasks = ts.Items
	runs, err := t.PipelineRuns(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(runs.Items) == 0 {
		return nil, fmt.Errorf("no PipelineRun in %s to copy: %v", ns, err)
	}
	o.run = &runs.Items[0]
	return o, nil
}

// copyMeta is m for a copy in ns: server-set fields dropped and, unless keepProduct, the
// product's labels and annotations too (catalyst.dev/...).
func copyMeta(m metav1.ObjectMeta, ns string, keepProduct bool) metav1.ObjectMeta {
	filter := func(in map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range in {
			if keepProduct || !strings.HasPrefix(k, preview.Prefix) {
				out[k] = v
			}
		}
		return out
	}
	return metav1.ObjectMeta{Name: m.Name, Namespace: ns, Labels: filter(m.Labels), Annotations: filter(m.Annotations)}
}

func writeAll(ctx context.Context, sys *system.System, ns, stamp string, o *objects) error {
	k, t := sys.Kube, sys.Tekton.TektonV1()
	opts := metav1.CreateOptions{}
	nsObj := &corev1.Namespace{ObjectMeta: copyMeta(o.ns.ObjectMeta, "", false)}
	nsObj.Name = ns
	if _, err := k.CoreV1().Namespaces().Create(ctx, nsObj, opts); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(applyConcurrency)
	children(g, gctx, sys, ns, o, false)
	if err := g.Wait(); err != nil {
		return err
	}
	run := o.run.DeepCopy()
	run.ObjectMeta = copyMeta(run.ObjectMeta, ns, false)
	run.Labels[baselineLabel] = stamp
	run.Status = pipelinev1.PipelineRunStatus{}
	run.Spec.Status = pipelinev1.PipelineRunSpecStatusPending // measured, not run
	_, err := t.PipelineRuns(ns).Create(ctx, run, opts)
	return err
}

// children queues the creation of a namespace's children on g.
func children(g *errgroup.Group, ctx context.Context, sys *system.System, ns string, o *objects, keepProduct bool) {
	k, t := sys.Kube, sys.Tekton.TektonV1()
	opts := metav1.CreateOptions{}
	for _, x := range o.quotas {
		x.ObjectMeta = copyMeta(x.ObjectMeta, ns, keepProduct)
		g.Go(func() error { _, err := k.CoreV1().ResourceQuotas(ns).Create(ctx, &x, opts); return err })
	}
	for _, x := range o.limits {
		x.ObjectMeta = copyMeta(x.ObjectMeta, ns, keepProduct)
		g.Go(func() error { _, err := k.CoreV1().LimitRanges(ns).Create(ctx, &x, opts); return err })
	}
	for _, x := range o.policies {
		x.ObjectMeta = copyMeta(x.ObjectMeta, ns, keepProduct)
		g.Go(func() error { _, err := k.NetworkingV1().NetworkPolicies(ns).Create(ctx, &x, opts); return err })
	}
	for _, x := range o.accounts {
		x.ObjectMeta = copyMeta(x.ObjectMeta, ns, keepProduct)
		x.Secrets = nil
		g.Go(func() error { _, err := k.CoreV1().ServiceAccounts(ns).Create(ctx, &x, opts); return err })
	}
	for _, x := range o.roles {
		x.ObjectMeta = copyMeta(x.ObjectMeta, ns, keepProduct)
		g.Go(func() error { _, err := k.RbacV1().Roles(ns).Create(ctx, &x, opts); return err })
	}
	for _, x := range o.bindings {
		x.ObjectMeta = copyMeta(x.ObjectMeta, ns, keepProduct)
		x.Subjects = append([]rbacv1.Subject(nil), x.Subjects...)
		for i := range x.Subjects {
			if x.Subjects[i].Namespace == o.ns.Name {
				x.Subjects[i].Namespace = ns
			}
		}
		g.Go(func() error { _, err := k.RbacV1().RoleBindings(ns).Create(ctx, &x, opts); return err })
	}
	for _, x := range o.secrets {
		x.ObjectMeta = copyMeta(x.ObjectMeta, ns, keepProduct)
		g.Go(func() error { _, err := k.CoreV1().Secrets(ns).Create(ctx, &x, opts); return err })
	}
	for _, x := range o.tasks {
		x.ObjectMeta = copyMeta(x.ObjectMeta, ns, keepProduct)
		g.Go(func() error { _, err := t.Tasks(ns).Create(ctx, &x, opts); return err })
	}
	for _, x := range o.pipelines {
		x.ObjectMeta = copyMeta(x.ObjectMeta, ns, keepProduct)
		g.Go(func() error { _, err := t.Pipelines(ns).Create(ctx, &x, opts); return err })
	}
}

// watcher notes when the bench's informers first see each namespace's PipelineRun (the
// product's deploy runs, and the baseline's) created and done.
type watcher struct {
	sys     *system.System
	changed chan struct{}

	mu      sync.Mutex
	created map[string]time.Time
	done    map[string]time.Time
}

func newWatcher(sys *system.System) *watcher {
	return &watcher{sys: sys, changed: make(chan struct{}, 1), created: map[string]time.Time{}, done: map[string]time.Time{}}
}

func (w *watcher) start(ctx context.Context) error {
	see := func(obj any) {
		pr, ok := obj.(*pipelinev1.PipelineRun)
		if !ok {
			return
		}
		now := time.Now()
		w.mu.Lock()
		if _, ok := w.created[pr.Namespace]; !ok {
			w.created[pr.Namespace] = now
		}
		if _, ok := w.done[pr.Namespace]; !ok && pr.IsDone() {
			w.done[pr.Namespace] = now
		}
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	var synced []cache.InformerSynced
	for _, selector := range []string{preview.LabelKind + "=" + preview.KindDeploy, baselineLabel} {
		f := tektoninformers.NewSharedInformerFactoryWithOptions(w.sys.Tekton, 0,
			tektoninformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
		inf := f.Tekton().V1().PipelineRuns().Informer()
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: see, UpdateFunc: func(_, o any) { see(o) }})
		synced = append(synced, inf.HasSynced)
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return ctx.Err()
	}
	return nil
}

func (w *watcher) times(ns string) (created, done time.Time, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	created, ok = w.created[ns]
	return created, w.done[ns], ok
}

// kubeRequests sums a process's catalyst_kube_requests_total.
func kubeRequests(p *system.Process) (float64, error) {
	return metric(p, "catalyst_kube_requests_total{")
}

// metric sums the samples of one metric (name with "{" for a labelled one, " " for a plain one)
// on a process's /metrics.
func metric(p *system.Process, prefix string) (float64, error) {
	resp, err := http.Get(p.URL + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", p.Name, err)
	}
	defer resp.Body.Close()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		total += v
	}
	return total, sc.Err()
}
