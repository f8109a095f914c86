package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/e2e/system"
	"github.com/catalyst-preview/catalyst/preview"
)

// Environments is the memory of both components with many environments in place.
type Environments struct {
	Count int `json:"count"`
	// Objects is how many Kubernetes objects the environments hold (pods included).
	Objects int `json:"objects"`
	// CreateSeconds is how long writing them took; CaughtUp says the reporter went quiet
	// (had reported every environment) within 15 minutes of that.
	CreateSeconds float64 `json:"create_seconds"`
	CaughtUp      bool    `json:"caught_up"`
	// QuietAfterRestart says GitHub was quiet for 10 s within 10 minutes of the restart, before
	// the memory was read.
	QuietAfterRestart bool `json:"quiet_after_restart"`
	// Trigger and Reporter are measured after both restarted with every environment in place
	// and went quiet; CatchUpPeak is their peak RSS before that restart, while the reporter
	// reported every environment as it appeared.
	Trigger  Memory `json:"trigger"`
	Reporter Memory `json:"reporter"`
	// LoadAverage is /proc/loadavg when the memory was read.
	LoadAverage [3]float64 `json:"load_average"`
}

// Memory of one process, in MiB.
type Memory struct {
	RSSMiB         float64 `json:"rss_mib"`
	AnonMiB        float64 `json:"rss_anon_mib"`
	FileMiB        float64 `json:"rss_file_mib"`
	HeapMiB        float64 `json:"go_heap_inuse_mib"`
	PeakMiB        float64 `json:"peak_rss_mib"`
	CatchUpPeakMiB float64 `json:"catch_up_peak_rss_mib"`
}

// envOwners spreads the environments over installations as an organisation's repositories
// would be, which also keeps the reporter's catch-up within GitHub's per-installation pacing.
const envOwners = 20

// environments creates count finished preview environments as the product leaves them: a
// namespace with the copies the trigger makes (quota, limit range, network policies, service
// account, role and binding, copied secrets, pipelines and tasks, read from a namespace the
// trigger made), and 1–3 PipelineRuns each (earlier attempts failed, the last one succeeded) with
// one TaskRun per pipeline task and its completed pod. The repositories are not configured (the
// trigger only watches them: no webhook reaches it); the reporter reports every environment as
// it appears. Then both restart and, once quiet, their memory is read.
//
// Tekton must not run these TaskRuns (the bench writes their finished status): they are created
// cancelled, which Tekton settles without a pod, and their status is then written as succeeded;
// their pods are created on the KWOK node, which completes them.
func environments(ctx context.Context, sys *system.System, count int) (*Environments, error) {
	fmt.Printf("\n== %d existing environments ==\n", count)
	src, err := sys.Tekton.TektonV1().PipelineRuns("").List(ctx, metav1.ListOptions{LabelSelector: preview.LabelKind + "=" + preview.KindDeploy, Limit: 1})
	if err != nil || len(src.Items) == 0 {
		return nil, fmt.Errorf("no deploy PipelineRun to copy an environment from: %v", err)
	}
	objs, err := objectsOf(ctx, sys, src.Items[0].Namespace)
	if err != nil {
		return nil, err
	}
	var tasks []pipelinev1.PipelineTask
	for _, p := range objs.pipelines {
		if objs.run.Spec.PipelineRef != nil && p.Name == objs.run.Spec.PipelineRef.Name {
			tasks = p.Spec.Tasks
		}
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("pipeline of %s/%s not found among the copies", objs.run.Namespace, objs.run.Name)
	}
	sys.Sim.HoldWebhooks(true) // the trigger is not asked: the environments are already there
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64) // each environment is ~50 requests one after another: latency-bound
	objects := make([]int, count)
	for i := range count {
		g.Go(func() error {
			// one repository per installation, named apart: namespaces are named for the
			// repository's name only
			repo := fmt.Sprintf("env%02d/app%02d", i%envOwners, i%envOwners)
			if _, err := sys.Sim.AddRepo(repo); err != nil {
				return err
			}
			d, err := sys.Sim.OpenPR(gctx, repo, ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
			if err != nil {
				return err
			}
			n, err := createEnvironment(gctx, sys, objs, tasks, repo, sys.Sim.InstallationID(fmt.Sprintf("env%02d", i%envOwners)), d, 1+i%3)
			objects[i] = n
			return err
		})
		if (i+1)%100 == 0 {
			fmt.Printf("  %d queued (%s)\n", i+1, time.Since(start).Round(time.Second))
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	e := &Environments{Count: count, CreateSeconds: time.Since(start).Seconds()}
	for _, n := range objects {
		e.Objects += n
	}
	fmt.Printf("  %d objects created in %s; waiting for the reporter to catch up...\n", e.Objects, time.Since(start).Round(time.Second))
	e.CaughtUp = waitQuietFor(ctx, sys, 10*time.Second, 15*time.Minute) == nil
	e.Trigger.CatchUpPeakMiB, e.Reporter.CatchUpPeakMiB = peakRSS(sys.Trigger.Pid()), peakRSS(sys.Reporter.Pid())
	// Restart both so that their memory is that of starting with every environment in place.
	for _, p := range []*system.Process{sys.Trigger, sys.Reporter} {
		p.Stop()
		if err := p.Start(ctx); err != nil {
			return nil, err
		}
	}
	e.QuietAfterRestart = waitQuietFor(ctx, sys, 10*time.Second, 10*time.Minute) == nil
	for _, m := range []struct {
		p   *system.Process
		out *Memory
	}{{sys.Trigger, &e.Trigger}, {sys.Reporter, &e.Reporter}} {
		pid := m.p.Pid()
		m.out.RSSMiB, m.out.AnonMiB, m.out.FileMiB = procStatus(pid, "VmRSS:"), procStatus(pid, "RssAnon:"), procStatus(pid, "RssFile:")
		m.out.PeakMiB = peakRSS(pid)
		heap, err := metric(m.p, "go_memstats_heap_inuse_bytes ")
		if err != nil {
			return nil, err
		}
		m.out.HeapMiB = heap / (1 << 20)
	}
	e.LoadAverage = loadAverage()
	fmt.Printf("  trigger RSS %.1f MiB (anonymous %.1f, Go heap %.1f), reporter RSS %.1f MiB (anonymous %.1f, Go heap %.1f)\n",
		e.Trigger.RSSMiB, e.Trigger.AnonMiB, e.Trigger.HeapMiB, e.Reporter.RSSMiB, e.Reporter.AnonMiB, e.Reporter.HeapMiB)
	return e, nil
}

// createEnvironment writes one environment and returns how many objects it holds.
func createEnvironment(ctx context.Context, sys *system.System, objs *objects, tasks []pipelinev1.PipelineTask, repo string, inst int64, d ghsim.Delivery, runs int) (int, error) {
	ns := preview.NamespaceName(repo, d.Number)
	url := "http://" + preview.PreviewHost(repo, d.Number, "preview.localtest.me")
	now := time.Now().UTC().Format(time.RFC3339)
	labels := map[string]string{
		preview.LabelManaged: preview.ManagedTrue, preview.LabelRepo: preview.RepoLabelValue(repo),
		preview.LabelPR: strconv.Itoa(d.Number), preview.LabelSHA: d.HeadSHA, preview.LabelEnvironment: preview.EnvironmentPreview,
	}
	nsMeta := copyMeta(objs.ns.ObjectMeta, "", false) // the source's other labels (Pod Security)
	nsMeta.Name = ns
	for k, v := range labels {
		nsMeta.Labels[k] = v
	}
	for k, v := range map[string]string{
		preview.AnnotationRepo: repo, preview.AnnotationHeadSHA: d.HeadSHA, preview.AnnotationPRState: preview.PRStateOpen,
		preview.AnnotationInstallationID: strconv.FormatInt(inst, 10), preview.AnnotationAuthor: "alice",
		preview.AnnotationAuthorAssociation: "MEMBER", preview.AnnotationHeadUpdatedAt: now, preview.AnnotationPreviewURL: url,
	} {
		nsMeta.Annotations[k] = v
	}
	if _, err := sys.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: nsMeta}, metav1.CreateOptions{}); err != nil {
		return 0, fmt.Errorf("create namespace %s: %w", ns, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(applyConcurrency)
	children(g, gctx, sys, ns, objs, true)
	if err := g.Wait(); err != nil {
		return 0, fmt.Errorf("copies in %s: %w", ns, err)
	}
	n := objs.count() - 1 // count() includes one PipelineRun
	for attempt := 1; attempt <= runs; attempt++ {
		k, err := createRun(ctx, sys, objs, tasks, repo, ns, labels, url, d.HeadSHA, attempt, attempt == runs)
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}

// createRun writes one finished PipelineRun with its TaskRuns and their pods; the last attempt
// succeeded, earlier ones failed in their last task. It returns how many objects it wrote.
func createRun(ctx context.Context, sys *system.System, objs *objects, tasks []pipelinev1.PipelineTask, repo, ns string, labels map[string]string, url, sha string, attempt int, succeeded bool) (int, error) {
	tk := sys.Tekton.TektonV1()
	name := preview.PipelineRunName(preview.KindDeploy, sha, attempt)
	t0 := time.Now().Add(-time.Duration(4-attempt) * 10 * time.Minute)
	runLabels := map[string]string{preview.LabelKind: preview.KindDeploy, "tekton.dev/pipeline": objs.run.Spec.PipelineRef.Name}
	for k, v := range labels {
		runLabels[k] = v
	}
	pr := objs.run.DeepCopy()
	// What the trigger writes; none of the reporter's ledger (that is the source run's).
	pr.ObjectMeta = copyMeta(pr.ObjectMeta, ns, false)
	pr.Name, pr.Labels = name, runLabels
	for k, v := range map[string]string{preview.AnnotationRepo: repo, preview.AnnotationAttempt: strconv.Itoa(attempt),
		preview.AnnotationCause: preview.CauseEvent, preview.AnnotationQueuedAt: t0.UTC().Format(time.RFC3339Nano)} {
		pr.Annotations[k] = v
	}
	pr.Status = pipelinev1.PipelineRunStatus{}
	pr.Spec.Status = pipelinev1.PipelineRunSpecStatusPending // Tekton starts nothing; the status is written below
	created, err := tk.PipelineRuns(ns).Create(ctx, pr, metav1.CreateOptions{})
	if err != nil {
		return 0, fmt.Errorf("create pipelinerun %s/%s: %w", ns, name, err)
	}
	var refs []pipelinev1.ChildStatusReference
	objects := 1
	for i, task := range tasks {
		if task.TaskRef != nil && task.TaskRef.APIVersion != "" {
			continue // a custom task: its record is a CustomRun, which this does not write
		}
		trName := fmt.Sprintf("%s-%s", name, task.Name)
		failed := !succeeded && i == len(tasks)-1
		trLabels := map[string]string{"tekton.dev/pipelineRun": name, "tekton.dev/pipelineTask": task.Name,
			"tekton.dev/pipeline": objs.run.Spec.PipelineRef.Name, "tekton.dev/memberOf": "tasks", "app.kubernetes.io/managed-by": "tekton-pipelines"}
		for k, v := range runLabels {
			trLabels[k] = v
		}
		ctrl := true
		tr := &pipelinev1.TaskRun{
			ObjectMeta: metav1.ObjectMeta{Name: trName, Namespace: ns, Labels: trLabels, Annotations: copyMeta(created.ObjectMeta, ns, true).Annotations,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "tekton.dev/v1", Kind: "PipelineRun", Name: name, UID: created.UID, Controller: &ctrl, BlockOwnerDeletion: &ctrl}}},
			Spec: pipelinev1.TaskRunSpec{TaskRef: task.TaskRef, Params: task.Params, ServiceAccountName: "catalyst-pipeline",
				Status: pipelinev1.TaskRunSpecStatusCancelled}, // see environments
		}
		if tr.Spec.TaskRef == nil {
			tr.Spec.TaskRef = &pipelinev1.TaskRef{Name: task.Name}
		}
		trCreated, err := tk.TaskRuns(ns).Create(ctx, tr, metav1.CreateOptions{})
		if err != nil {
			return 0, fmt.Errorf("create taskrun %s/%s: %w", ns, trName, err)
		}
		podLabels := map[string]string{"tekton.dev/taskRun": trName, "tekton.dev/taskRunUID": string(trCreated.UID)}
		for k, v := range trLabels {
			podLabels[k] = v
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: trName + "-pod", Namespace: ns, Labels: podLabels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "tekton.dev/v1", Kind: "TaskRun", Name: trName, UID: trCreated.UID, Controller: &ctrl, BlockOwnerDeletion: &ctrl}}},
			Spec: corev1.PodSpec{NodeName: "kwok-node-0", RestartPolicy: corev1.RestartPolicyNever, ServiceAccountName: "catalyst-pipeline",
				// what Pod Security "restricted" asks, should the namespace enforce it
				SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &ctrl, RunAsUser: &nonRoot, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
				Containers: []corev1.Container{{Name: "step-" + task.Name, Image: "registry.example/step:bench", Command: []string{"/ko-app/preview-step"},
					SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}},
		}
		if _, err := sys.Kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return 0, fmt.Errorf("create pod %s/%s: %w", ns, pod.Name, err)
		}
		start, end := metav1.NewTime(t0.Add(time.Duration(i)*20*time.Second)), metav1.NewTime(t0.Add(time.Duration(i+1)*20*time.Second))
		cond := apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue, Reason: "Succeeded", Message: "All Steps have completed executing"}
		exit := int32(0)
		if failed {
			cond = apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionFalse, Reason: "Failed", Message: fmt.Sprintf(`"step-%s" exited with code 1`, task.Name)}
			exit = 1
		}
		status := pipelinev1.TaskRunStatus{
			Status: duckv1.Status{Conditions: duckv1.Conditions{cond}},
			TaskRunStatusFields: pipelinev1.TaskRunStatusFields{PodName: pod.Name, StartTime: &start, CompletionTime: &end,
				Steps: []pipelinev1.StepState{{Name: task.Name, Container: "step-" + task.Name,
					ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, StartedAt: start, FinishedAt: end}}}}},
		}
		if err := writeStatus(ctx, func() error {
			latest, err := tk.TaskRuns(ns).Get(ctx, trName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			latest.Status = status
			_, err = tk.TaskRuns(ns).UpdateStatus(ctx, latest, metav1.UpdateOptions{})
			return err
		}); err != nil {
			return 0, fmt.Errorf("finish taskrun %s/%s: %w", ns, trName, err)
		}
		refs = append(refs, pipelinev1.ChildStatusReference{TypeMeta: runtimeTaskRun, Name: trName, PipelineTaskName: task.Name})
		objects += 2
		if failed {
			break
		}
	}
	start, end := metav1.NewTime(t0), metav1.NewTime(t0.Add(time.Duration(len(refs))*20*time.Second))
	cond := apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue, Reason: "Succeeded",
		Message: fmt.Sprintf("Tasks Completed: %d (Failed: 0, Cancelled 0), Skipped: 0", len(refs))}
	var results []pipelinev1.PipelineRunResult
	if succeeded {
		results = []pipelinev1.PipelineRunResult{{Name: "url", Value: *pipelinev1.NewStructuredValues(url)}}
	} else {
		cond = apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionFalse, Reason: "Failed",
			Message: fmt.Sprintf("Tasks Completed: %d (Failed: 1, Cancelled 0), Skipped: 0", len(refs))}
	}
	status := pipelinev1.PipelineRunStatus{
		Status:                  duckv1.Status{Conditions: duckv1.Conditions{cond}},
		PipelineRunStatusFields: pipelinev1.PipelineRunStatusFields{StartTime: &start, CompletionTime: &end, Results: results, ChildReferences: refs},
	}
	// Tekton marks the new run Pending meanwhile: write the status on the latest version.
	if err := writeStatus(ctx, func() error {
		latest, err := tk.PipelineRuns(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		latest.Status = status
		_, err = tk.PipelineRuns(ns).UpdateStatus(ctx, latest, metav1.UpdateOptions{})
		return err
	}); err != nil {
		return 0, fmt.Errorf("finish pipelinerun %s/%s: %w", ns, name, err)
	}
	return objects, nil
}

var (
	nonRoot = int64(65532)
	no      = false
)

var runtimeTaskRun = runtime.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "TaskRun"}

// writeStatus retries a status write that met Tekton's own (a conflict).
func writeStatus(ctx context.Context, f func() error) error {
	return retry.RetryOnConflict(retry.DefaultRetry, f)
}

// waitQuiet waits until the simulator has seen no GitHub call for quiet: the reporter is done.
func waitQuiet(ctx context.Context, sys *system.System, quiet time.Duration) error {
	return waitQuietFor(ctx, sys, quiet, 10*time.Minute)
}

// waitQuietFor is waitQuiet that gives up after limit.
func waitQuietFor(ctx context.Context, sys *system.System, quiet, limit time.Duration) error {
	last, since, deadline := -1, time.Now(), time.Now().Add(limit)
	for time.Since(since) < quiet {
		if time.Now().After(deadline) {
			return fmt.Errorf("GitHub calls did not stop for %s within %s", quiet, limit)
		}
		if n := sys.Sim.CountCalls("", ""); n != last {
			last, since = n, time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(quiet / 10):
		}
	}
	return nil
}
