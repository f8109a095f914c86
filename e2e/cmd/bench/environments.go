package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/e2e/system"
	"github.com/catalyst-preview/catalyst/preview"
)

// environments creates count finished preview environments directly (namespace record and a
// succeeded PipelineRun each, pull requests open in the simulator), lets the trigger and the
// reporter catch up with them, and measures their memory.
func environments(ctx context.Context, sys *system.System, count int, report *Report) error {
	const envRepo = "acme/bench-environments" // not configured: the trigger only watches them
	fmt.Printf("\n== %d existing environments ==\n", count)
	sys.Sim.AddRepo(envRepo)
	sys.Sim.HoldWebhooks(true)
	inst := sys.Sim.InstallationID("acme")
	start := time.Now()
	sem := make(chan struct{}, 16)
	errs := make(chan error, count)
	var wg sync.WaitGroup
	for range count {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			d, err := sys.Sim.OpenPR(ctx, envRepo, ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
			if err != nil {
				errs <- err
				return
			}
			errs <- createEnvironment(ctx, sys, envRepo, inst, d)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	fmt.Printf("  created in %s; waiting for the reporter to catch up...\n", time.Since(start).Round(time.Second))
	// Restart both so that their memory is that of starting with every environment in place.
	for _, p := range []*system.Process{sys.Trigger, sys.Reporter} {
		p.Stop()
		if err := p.Start(ctx); err != nil {
			return err
		}
	}
	if err := waitQuiet(ctx, sys, 10*time.Second); err != nil {
		return err
	}
	report.TriggerRSSMiBAtEnvironments = procStatus(sys.Trigger.Pid(), "VmRSS:")
	report.ReporterRSSMiBAtEnvironments = procStatus(sys.Reporter.Pid(), "VmRSS:")
	report.TriggerPeakMiBAtEnvironments = peakRSS(sys.Trigger.Pid())
	report.ReporterPeakMiBAtEnvironments = peakRSS(sys.Reporter.Pid())
	report.TriggerAnonMiBAtEnvironments = procStatus(sys.Trigger.Pid(), "RssAnon:")
	report.ReporterAnonMiBAtEnvironments = procStatus(sys.Reporter.Pid(), "RssAnon:")
	report.TriggerFileMiBAtEnvironments = procStatus(sys.Trigger.Pid(), "RssFile:")
	report.ReporterFileMiBAtEnvironments = procStatus(sys.Reporter.Pid(), "RssFile:")
	fmt.Printf("  trigger RSS %.1f MiB (peak %.1f), reporter RSS %.1f MiB (peak %.1f)\n",
		report.TriggerRSSMiBAtEnvironments, report.TriggerPeakMiBAtEnvironments, report.ReporterRSSMiBAtEnvironments, report.ReporterPeakMiBAtEnvironments)
	return nil
}

func createEnvironment(ctx context.Context, sys *system.System, repo string, inst int64, d ghsim.Delivery) error {
	ns := preview.NamespaceName(repo, d.Number)
	now := time.Now().UTC().Format(time.RFC3339)
	labels := map[string]string{
		preview.LabelManaged: preview.ManagedTrue, preview.LabelRepo: preview.RepoLabelValue(repo),
		preview.LabelPR: strconv.Itoa(d.Number), preview.LabelSHA: d.HeadSHA, preview.LabelEnvironment: preview.EnvironmentPreview,
	}
	_, err := sys.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: labels,
		Annotations: map[string]string{
			preview.AnnotationRepo: repo, preview.AnnotationHeadSHA: d.HeadSHA, preview.AnnotationPRState: preview.PRStateOpen,
			preview.AnnotationInstallationID: strconv.FormatInt(inst, 10), preview.AnnotationAuthor: "alice",
			preview.AnnotationAuthorAssociation: "MEMBER", preview.AnnotationHeadUpdatedAt: now,
			preview.AnnotationPreviewURL: "http://" + preview.PreviewHost(repo, d.Number, "preview.localtest.me"),
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	runLabels := map[string]string{preview.LabelKind: preview.KindDeploy}
	for k, v := range labels {
		runLabels[k] = v
	}
	pr := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{
			Name: preview.PipelineRunName(preview.KindDeploy, d.HeadSHA, 1), Namespace: ns, Labels: runLabels,
			Annotations: map[string]string{preview.AnnotationRepo: repo, preview.AnnotationAttempt: "1", preview.AnnotationCause: preview.CauseEvent},
		},
		Spec: pipelinev1.PipelineRunSpec{
			PipelineRef: &pipelinev1.PipelineRef{Name: "catalyst-preview"},
			Status:      pipelinev1.PipelineRunSpecStatusPending,
		},
	}
	if _, err := sys.Tekton.TektonV1().PipelineRuns(ns).Create(ctx, pr, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create pipelinerun in %s: %w", ns, err)
	}
	t0 := metav1.NewTime(time.Now().Add(-2 * time.Minute))
	t1 := metav1.Now()
	status := pipelinev1.PipelineRunStatus{
		Status: duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue, Reason: "Succeeded", Message: "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0"}}},
		PipelineRunStatusFields: pipelinev1.PipelineRunStatusFields{
			StartTime: &t0, CompletionTime: &t1,
			Results: []pipelinev1.PipelineRunResult{{Name: "url", Value: *pipelinev1.NewStructuredValues("http://" + preview.PreviewHost(repo, d.Number, "preview.localtest.me"))}},
		},
	}
	// Tekton marks the new run Pending meanwhile: write the status on the latest version.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		latest, err := sys.Tekton.TektonV1().PipelineRuns(ns).Get(ctx, pr.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		latest.Status = status
		_, err = sys.Tekton.TektonV1().PipelineRuns(ns).UpdateStatus(ctx, latest, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("mark pipelinerun in %s succeeded: %w", ns, err)
	}
	return nil
}

// waitQuiet waits until the simulator has seen no GitHub call for quiet: the reporter is done.
func waitQuiet(ctx context.Context, sys *system.System, quiet time.Duration) error {
	last, since := -1, time.Now()
	for time.Since(since) < quiet {
		if n := len(sys.Sim.Calls()); n != last {
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
