package reporter

import (
	"slices"
	"strconv"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"

	"github.com/catalyst-preview/catalyst/preview"
)

// Phase is where one attempt at one commit stands, as users are told.
type Phase string

// Phases. Waiting and Removed describe the pull request rather than a run.
const (
	PhaseWaiting    Phase = "waiting"    // the head commit has no run: a gate holds it
	PhaseQueued     Phase = "queued"     // PipelineRunPending, or not picked up by Tekton yet
	PhaseRunning    Phase = "running"    // a task is running
	PhaseSucceeded  Phase = "succeeded"  // the preview answers its health check
	PhaseFailed     Phase = "failed"     // a task failed (or the run timed out)
	PhaseSuperseded Phase = "superseded" // stopped because a newer commit (or attempt) replaced it
	PhaseCancelled  Phase = "cancelled"  // stopped: PR closed, /cancel, or cancelled by hand
	PhaseRemoved    Phase = "removed"    // the environment is being deleted
)

func (p Phase) terminal() bool {
	return p == PhaseSucceeded || p == PhaseFailed || p == PhaseSuperseded || p == PhaseCancelled
}

// defaultTasks are the catalyst-preview pipeline's tasks, shown before Tekton resolves the spec.
var defaultTasks = []string{"build", "deploy", "healthcheck"}

// Task statuses shown in the task table.
const taskPending, taskRunning, taskSucceeded, taskFailed, taskSkipped, taskCancelled = "pending", "running", "succeeded", "failed", "skipped", "cancelled"

// Report is everything the check run and the comment say about one attempt at one commit. It
// is built from Kubernetes objects only (buildReport is pure); the log excerpt is attached
// later, and only when the report is about to be sent.
type Report struct {
	Namespace, Repo, SHA, PipelineRun string
	Attempt                           int
	Phase                             Phase
	QueuePosition                     int    // queued: 1-based position in the global queue, 0 unknown
	CurrentTask                       string // running: the first running task
	FailedTask, FailedStep            string
	FailureClass                      string // infrastructure | application | "" (not classified yet)
	FailureMessage                    string
	RetryAt                           time.Time // failed: an automatic retry is scheduled
	StopReason, SupersededBy, Gate    string
	PreviewURL, DetailsURL            string
	Queued, Started, Finished         time.Time
	RemovedAt                         time.Time
	EventAt                           time.Time // the PR event this commit answers (time-to-preview start)
	At                                time.Time // when the report was built; running durations end here
	Tasks                             []TaskRow
	Excerpt                           *Excerpt

	failedPod, failedContainer, failedStepMessage string // where the failed step's log lives
}

// TaskRow is one pipeline task in the table.
type TaskRow struct {
	Name, Status      string
	Started, Finished time.Time
}

// Duration is how long the task ran, up to now while it runs.
func (t TaskRow) Duration(now time.Time) time.Duration {
	end := t.Finished
	if end.IsZero() {
		end = now
	}
	return end.Sub(t.Started).Round(time.Second)
}

// prRecord is what the reporter reads from a PR namespace.
type prRecord struct {
	Namespace, Repo, HeadSHA, PreviewURL, Gate, CommentHash string
	Number                                                  int
	Installation, CommentID                                 int64
	HeadSeenAt                                              time.Time
	Terminating                                             *time.Time
	HasFinalizer                                            bool
}

func recordOf(ns *corev1.Namespace) (prRecord, bool) {
	a := ns.Annotations
	r := prRecord{Namespace: ns.Name, Repo: a[preview.AnnotationRepo], HeadSHA: a[preview.AnnotationHeadSHA],
		PreviewURL: a[preview.AnnotationPreviewURL], Gate: a[preview.AnnotationGate], CommentHash: a[preview.AnnotationCommentHash],
		HasFinalizer: slices.Contains(ns.Finalizers, preview.FinalizerReport)}
	r.Number, _ = strconv.Atoi(ns.Labels[preview.LabelPR])
	r.Installation, _ = strconv.ParseInt(a[preview.AnnotationInstallationID], 10, 64)
	r.CommentID, _ = strconv.ParseInt(a[preview.AnnotationCommentID], 10, 64)
	r.HeadSeenAt, _ = time.Parse(time.RFC3339Nano, a[preview.AnnotationHeadSeenAt])
	if ns.DeletionTimestamp != nil {
		t := ns.DeletionTimestamp.UTC()
		r.Terminating = &t
	}
	return r, r.Repo != "" && r.Number > 0
}

// buildReport describes run, the latest attempt at its commit, with its TaskRuns.
func buildReport(rec prRecord, run *pipelinev1.PipelineRun, taskRuns []*pipelinev1.TaskRun, detailsURL string, now time.Time) Report {
	a := run.Annotations
	r := Report{Namespace: rec.Namespace, Repo: rec.Repo, SHA: run.Labels[preview.LabelSHA], PipelineRun: run.Name, At: now,
		StopReason: a[preview.AnnotationStopReason], SupersededBy: a[preview.AnnotationSupersededBy],
		FailureClass: a[preview.AnnotationFailureClass], PreviewURL: rec.PreviewURL, Queued: run.CreationTimestamp.UTC()}
	r.Attempt, _ = strconv.Atoi(a[preview.AnnotationAttempt])
	r.Attempt = max(r.Attempt, 1)
	r.QueuePosition, _ = strconv.Atoi(a[preview.AnnotationQueuePosition])
	if t, err := time.Parse(time.RFC3339Nano, a[preview.AnnotationQueuedAt]); err == nil {
		r.Queued = t.UTC()
	}
	r.RetryAt, _ = time.Parse(time.RFC3339, a[preview.AnnotationRetryAfter])
	r.EventAt, _ = time.Parse(time.RFC3339Nano, a[preview.AnnotationEventAt])
	if r.EventAt.IsZero() && rec.HeadSHA == r.SHA {
		r.EventAt = rec.HeadSeenAt
	}
	if detailsURL != "" {
		r.DetailsURL = strings.NewReplacer("{namespace}", rec.Namespace, "{pipelinerun}", run.Name).Replace(detailsURL)
	}
	cond := run.Status.GetCondition(apis.ConditionSucceeded)
	r.Phase = phaseOf(run, cond, r.StopReason)
	if run.Status.CompletionTime != nil && r.Phase.terminal() {
		r.Finished = run.Status.CompletionTime.UTC()
	}
	r.Tasks = taskRows(run, taskRuns, &r)
	if r.Started.IsZero() && r.Phase != PhaseQueued && run.Status.StartTime != nil {
		r.Started = run.Status.StartTime.UTC()
	}
	switch r.Phase {
	case PhaseSucceeded:
		for _, res := range run.Status.Results {
			if res.Name == "url" && res.Value.StringVal != "" {
				r.PreviewURL = res.Value.StringVal
			}
		}
	case PhaseFailed:
		if r.FailedTask == "" && cond != nil {
			r.FailureMessage = cond.Message
		}
	}
	return r
}

func phaseOf(run *pipelinev1.PipelineRun, cond *apis.Condition, stopReason string) Phase {
	switch {
	case cond.IsTrue():
		return PhaseSucceeded
	case stopReason == preview.StopSuperseded:
		return PhaseSuperseded
	case stopReason != "":
		return PhaseCancelled
	case run.Spec.Status != "" && !run.IsPending():
		return PhaseCancelled // stopped by hand (tkn pipelinerun cancel)
	case cond.IsFalse() && strings.HasPrefix(cond.Reason, "Cancelled"):
		return PhaseCancelled
	case cond.IsFalse():
		return PhaseFailed
	case cond == nil || run.IsPending():
		return PhaseQueued
	}
	return PhaseRunning
}

// taskRows lists the pipeline's tasks in order with the state of their TaskRuns, and fills the
// report's current task, failure and start time on the way.
func taskRows(run *pipelinev1.PipelineRun, taskRuns []*pipelinev1.TaskRun, r *Report) []TaskRow {
	names := defaultTasks
	if spec := run.Status.PipelineSpec; spec != nil {
		names = nil
		for _, t := range append(slices.Clone(spec.Tasks), spec.Finally...) {
			names = append(names, t.Name)
		}
	}
	byTask := map[string]*pipelinev1.TaskRun{}
	for _, tr := range taskRuns {
		byTask[tr.Labels["tekton.dev/pipelineTask"]] = tr
	}
	skipped := map[string]bool{}
	for _, s := range run.Status.SkippedTasks {
		skipped[s.Name] = true
	}
	rows := make([]TaskRow, 0, len(names))
	for _, name := range names {
		row := TaskRow{Name: name, Status: taskPending}
		tr := byTask[name]
		switch {
		case tr != nil:
			row.Status = taskStatus(tr)
			if tr.Status.StartTime != nil {
				row.Started = tr.Status.StartTime.UTC()
				if r.Started.IsZero() || row.Started.Before(r.Started) {
					r.Started = row.Started
				}
			}
			if tr.Status.CompletionTime != nil {
				row.Finished = tr.Status.CompletionTime.UTC()
			}
		case skipped[name]:
			row.Status = taskSkipped
		case r.Phase == PhaseCancelled || r.Phase == PhaseSuperseded:
			row.Status = taskCancelled
		}
		if row.Status == taskRunning && r.CurrentTask == "" {
			r.CurrentTask = name
		}
		if row.Status == taskFailed && r.FailedTask == "" && r.Phase == PhaseFailed {
			r.FailedTask = name
			r.FailureMessage = tr.Status.GetCondition(apis.ConditionSucceeded).Message
			r.failedPod = tr.Status.PodName
			for _, st := range tr.Status.Steps {
				if t := st.Terminated; t != nil && t.ExitCode != 0 {
					r.FailedStep, r.failedContainer, r.failedStepMessage = st.Name, st.Container, t.Message
					if r.failedContainer == "" {
						r.failedContainer = "step-" + st.Name
					}
					break
				}
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func taskStatus(tr *pipelinev1.TaskRun) string {
	c := tr.Status.GetCondition(apis.ConditionSucceeded)
	switch {
	case c == nil:
		return taskPending
	case c.IsTrue():
		return taskSucceeded
	case c.IsFalse() && c.Reason == string(pipelinev1.TaskRunReasonCancelled):
		return taskCancelled
	case c.IsFalse():
		return taskFailed
	case c.Reason == string(pipelinev1.TaskRunReasonRunning) || tr.Status.PodName != "":
		return taskRunning
	}
	return taskPending
}

// prReport describes the pull request rather than a run: its head commit is held by a gate
// (waiting), or its environment is being deleted (removed).
func prReport(rec prRecord, phase Phase, now time.Time) Report {
	r := Report{Namespace: rec.Namespace, Repo: rec.Repo, SHA: rec.HeadSHA, Phase: phase, Gate: rec.Gate, At: now}
	if rec.Terminating != nil {
		r.RemovedAt = *rec.Terminating
	}
	return r
}
