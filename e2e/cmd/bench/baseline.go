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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/catalyst-preview/catalyst/e2e/system"
	"github.com/catalyst-preview/catalyst/preview"
)

// baseline writes, for n namespaces at once, the same objects the trigger wrote into src
// (namespace, quota, limit range, network policies, service account, RBAC, secrets, pipelines,
// tasks, PipelineRun) with plain client-go creates, and returns each namespace's time from start
// to PipelineRun created: what the objects cost without the system around them.
func baseline(ctx context.Context, sys *system.System, src string, n int) ([]time.Duration, error) {
	objs, err := objectsOf(ctx, sys, src)
	if err != nil {
		return nil, err
	}
	stamp := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	out := make([]time.Duration, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns := fmt.Sprintf("raw-%s-%d", stamp, i)
			start := time.Now()
			if err := writeAll(ctx, sys, ns, objs); err != nil {
				errs <- err
				return
			}
			out[i] = time.Since(start)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return nil, err
	}
	for i := range n {
		_ = sys.Kube.CoreV1().Namespaces().Delete(ctx, fmt.Sprintf("raw-%s-%d", stamp, i), metav1.DeleteOptions{})
	}
	return out, nil
}

type objects struct {
	quotas    []corev1.ResourceQuota
	limits    []corev1.LimitRange
	policies  []runtime.Object
	accounts  []corev1.ServiceAccount
	secrets   []corev1.Secret
	pipelines []pipelinev1.Pipeline
	tasks     []pipelinev1.Task
	run       *pipelinev1.PipelineRun
	copies    int
}

func objectsOf(ctx context.Context, sys *system.System, ns string) (*objects, error) {
	o := &objects{}
	k, t := sys.Kube, sys.Tekton.TektonV1()
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
	sa, err := k.CoreV1().ServiceAccounts(ns).Get(ctx, "catalyst-pipeline", metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	o.accounts = []corev1.ServiceAccount{*sa}
	s, err := k.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: preview.LabelManaged + "=true"})
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

func clean(m *metav1.ObjectMeta, ns string) {
	*m = metav1.ObjectMeta{Name: m.Name, Namespace: ns, Labels: m.Labels, Annotations: m.Annotations}
}

func writeAll(ctx context.Context, sys *system.System, ns string, o *objects) error {
	k, t := sys.Kube, sys.Tekton.TektonV1()
	opts := metav1.CreateOptions{}
	if _, err := k.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, opts); err != nil {
		return err
	}
	src := o.quotas[0].Namespace
	for _, x := range o.quotas {
		clean(&x.ObjectMeta, ns)
		if _, err := k.CoreV1().ResourceQuotas(ns).Create(ctx, &x, opts); err != nil {
			return err
		}
	}
	for _, x := range o.limits {
		clean(&x.ObjectMeta, ns)
		if _, err := k.CoreV1().LimitRanges(ns).Create(ctx, &x, opts); err != nil {
			return err
		}
	}
	nps, err := k.NetworkingV1().NetworkPolicies(src).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return err
	}
	for _, x := range nps.Items {
		clean(&x.ObjectMeta, ns)
		if _, err := k.NetworkingV1().NetworkPolicies(ns).Create(ctx, &x, opts); err != nil {
			return err
		}
	}
	for _, x := range o.accounts {
		clean(&x.ObjectMeta, ns)
		if _, err := k.CoreV1().ServiceAccounts(ns).Create(ctx, &x, opts); err != nil {
			return err
		}
	}
	roles, err := k.RbacV1().Roles(src).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return err
	}
	for _, x := range roles.Items {
		clean(&x.ObjectMeta, ns)
		if _, err := k.RbacV1().Roles(ns).Create(ctx, &x, opts); err != nil {
			return err
		}
	}
	bindings, err := k.RbacV1().RoleBindings(src).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return err
	}
	for _, x := range bindings.Items {
		clean(&x.ObjectMeta, ns)
		for i := range x.Subjects {
			x.Subjects[i].Namespace = ns
		}
		if _, err := k.RbacV1().RoleBindings(ns).Create(ctx, &x, opts); err != nil {
			return err
		}
	}
	for _, x := range o.secrets {
		clean(&x.ObjectMeta, ns)
		if _, err := k.CoreV1().Secrets(ns).Create(ctx, &x, opts); err != nil {
			return err
		}
	}
	for _, x := range o.tasks {
		clean(&x.ObjectMeta, ns)
		if _, err := t.Tasks(ns).Create(ctx, &x, opts); err != nil {
			return err
		}
	}
	for _, x := range o.pipelines {
		clean(&x.ObjectMeta, ns)
		if _, err := t.Pipelines(ns).Create(ctx, &x, opts); err != nil {
			return err
		}
	}
	run := o.run.DeepCopy()
	clean(&run.ObjectMeta, ns)
	run.Status = pipelinev1.PipelineRunStatus{}
	run.Spec.Status = pipelinev1.PipelineRunSpecStatusPending // measured, not run
	_, err = t.PipelineRuns(ns).Create(ctx, run, opts)
	return err
}

// kubeRequests sums a process's catalyst_kube_requests_total.
func kubeRequests(p *system.Process) (float64, error) {
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
		if !strings.HasPrefix(line, "catalyst_kube_requests_total{") {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		total += v
	}
	return total, sc.Err()
}
