package reporter

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	pipelinev1beta1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
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
	Number                            int // the pull request
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
	CheckRunName                      string // CheckRunName, or with the PR number when another PR has the same commit
	Queued, Started, Finished         time.Time
	TaskStarted                       time.Time // running: when the current task started
	RemovedAt                         time.Time
	EventAt                           time.Time // the PR event this commit answers (time-to-preview start)
	At                                time.Time // when the report was built: the "Updated" time; running durations end here
	Tasks                             []TaskRow
	// Diagnostics are the failed task's precise findings (file, line, message), from its
	// diagnostics result; masked with the excerpt.
	Diagnostics []preview.Diagnostic
	Excerpt     *Excerpt
	LastVerdict *Verdict // removed: what the comment showed last

	failed failedStep // where the failed step's log lives
}

// failedStep locates the failed step's log: a pod of a TaskRun, or of the TaskRun a CustomRun
// mirrors in another namespace (the isolated build), resolved when the log is read.
type failedStep struct {
	namespace, pod, container, message string
	mirrored                           string // "namespace/name" of the mirrored TaskRun
}

// Verdict is the last verdict the comment showed, kept on the namespace for the removal comment.
type Verdict struct {
	Phase      Phase     `json:"phase"`
	SHA        string    `json:"sha"`
	Title      string    `json:"title"`
	PreviewURL string    `json:"url,omitempty"`
	At         time.Time `json:"at"`
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
	CommentRefused                                          string
	Number                                                  int
	Installation, CommentID                                 int64
	HeadSeenAt, CommentAt                                   time.Time
	Terminating                                             *time.Time
	HasFinalizer                                            bool
	OpenCheckRuns                                           map[string]int64 // sha -> check run not yet completed
	LastVerdict                                             *Verdict
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
	r.CommentAt, _ = time.Parse(time.RFC3339Nano, a[preview.AnnotationCommentAt])
	r.CommentRefused = a[preview.AnnotationCommentRefused]
	_ = json.Unmarshal([]byte(a[preview.AnnotationOpenCheckRuns]), &r.OpenCheckRuns) // unreadable: none known
	if raw := a[preview.AnnotationLastVerdict]; raw != "" {
		var v Verdict
		if json.Unmarshal([]byte(raw), &v) == nil {
			r.LastVerdict = &v
		}
	}
	if ns.DeletionTimestamp != nil {
		t := ns.DeletionTimestamp.UTC()
		r.Terminating = &t
	}
	return r, r.Repo != "" && r.Number > 0
}

// child is one pipeline task's run as a report needs it: a TaskRun, or a CustomRun (the
// isolated build, whose status mirrors a TaskRun in the builds namespace).
type child struct {
	task              string
	cond              *apis.Condition
	started, finished time.Time
	pod               string // TaskRun: its pod, in the run's namespace
	mirrored          string // CustomRun: "namespace/name" of the TaskRun it mirrors
	steps             []pipelinev1.StepState
	results           map[string]string
}

func childOfTaskRun(tr *pipelinev1.TaskRun) child {
	c := child{task: tr.Labels[labelPipelineTask], cond: tr.Status.GetCondition(apis.ConditionSucceeded),
		pod: tr.Status.PodName, steps: tr.Status.Steps, results: map[string]string{}}
	if t := tr.Status.StartTime; t != nil {
		c.started = t.UTC()
	}
	if t := tr.Status.CompletionTime; t != nil {
		c.finished = t.UTC()
	}
	for _, res := range tr.Status.Results {
		c.results[res.Name] = res.Value.StringVal
	}
	return c
}

func childOfCustomRun(cr *pipelinev1beta1.CustomRun) child {
	c := child{task: cr.Labels[labelPipelineTask], cond: cr.Status.GetCondition(apis.ConditionSucceeded),
		mirrored: cr.Annotations[preview.AnnotationBuildTaskRun], results: map[string]string{}}
	if t := cr.Status.StartTime; t != nil {
		c.started = t.UTC()
	}
	if t := cr.Status.CompletionTime; t != nil {
		c.finished = t.UTC()
	}
	for _, res := range cr.Status.Results {
		c.results[res.Name] = res.Value
	}
	return c
}

const labelPipelineTask, labelPipelineRun = "tekton.dev/pipelineTask", "tekton.dev/pipelineRun"

// buildReport describes run, the latest attempt at its commit, with its children (TaskRuns and
// CustomRuns).
func buildReport(rec prRecord, run *pipelinev1.PipelineRun, children []child, detailsURL string, now time.Time) Report {
	a := run.Annotations
	r := Report{Namespace: rec.Namespace, Repo: rec.Repo, Number: rec.Number, SHA: run.Labels[preview.LabelSHA], PipelineRun: run.Name, At: now,
		StopReason: a[preview.AnnotationStopReason], SupersededBy: a[preview.AnnotationSupersededBy], CheckRunName: CheckRunName,
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
	r.Tasks = taskRows(run, children, &r)
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

// phaseOf: a run is queued only while our queue holds it (PipelineRunPending); a run Tekton has
// not picked up yet is starting, which users see as deploying, so that a deployment that is not
// held costs no queued report.
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
	case run.IsPending():
		return PhaseQueued
	}
	return PhaseRunning
}

// taskRows lists the pipeline's tasks in order with the state of their children, and fills the
// report's current task, failure, diagnostics and start time on the way.
func taskRows(run *pipelinev1.PipelineRun, children []child, r *Report) []TaskRow {
	names := defaultTasks
	if spec := run.Status.PipelineSpec; spec != nil {
		names = nil
		for _, t := range append(slices.Clone(spec.Tasks), spec.Finally...) {
			names = append(names, t.Name)
		}
	}
	byTask := map[string]*child{}
	for i := range children {
		byTask[children[i].task] = &children[i]
	}
	skipped := map[string]bool{}
	for _, s := range run.Status.SkippedTasks {
		skipped[s.Name] = true
	}
	stopped := r.Phase == PhaseCancelled || r.Phase == PhaseSuperseded
	rows := make([]TaskRow, 0, len(names))
	for _, name := range names {
		row := TaskRow{Name: name, Status: taskPending}
		ch := byTask[name]
		switch {
		case ch != nil:
			row.Status = childStatus(ch)
			row.Started, row.Finished = ch.started, ch.finished
			if !row.Started.IsZero() && (r.Started.IsZero() || row.Started.Before(r.Started)) {
				r.Started = row.Started
			}
		case skipped[name]:
			row.Status = taskSkipped
		case stopped:
			row.Status = taskCancelled
		}
		if stopped && (row.Status == taskRunning || row.Status == taskPending) {
			// A stopped run has nothing running any more, whatever the child's last status
			// says: Tekton deletes the pods without updating every child first.
			row.Status = taskCancelled
			if row.Finished.IsZero() && !row.Started.IsZero() {
				row.Finished = r.Finished
			}
		}
		if row.Status == taskRunning && r.CurrentTask == "" {
			r.CurrentTask, r.TaskStarted = name, row.Started
		}
		if row.Status == taskFailed && r.FailedTask == "" && r.Phase == PhaseFailed {
			r.FailedTask = name
			if ch.cond != nil {
				r.FailureMessage = ch.cond.Message
			}
			r.failed = failedStep{namespace: r.Namespace, pod: ch.pod, mirrored: ch.mirrored}
			for _, st := range ch.steps {
				if t := st.Terminated; t != nil && t.ExitCode != 0 {
					r.FailedStep, r.failed.container, r.failed.message = st.Name, cmp.Or(st.Container, "step-"+st.Name), t.Message
					break
				}
			}
			if ds, err := preview.DecodeDiagnostics(ch.results[preview.ResultDiagnostics]); err == nil {
				r.Diagnostics = ds
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func childStatus(c *child) string {
	switch {
	case c.cond == nil:
		if c.pod != "" || !c.started.IsZero() {
			return taskRunning
		}
		return taskPending
	case c.cond.IsTrue():
		return taskSucceeded
	case c.cond.IsFalse() && (c.cond.Reason == string(pipelinev1.TaskRunReasonCancelled) || c.cond.Reason == string(pipelinev1beta1.CustomRunReasonCancelled)):
		return taskCancelled
	case c.cond.IsFalse():
		return taskFailed
	case c.cond.Reason == string(pipelinev1.TaskRunReasonRunning) || c.pod != "" || !c.started.IsZero():
		return taskRunning
	}
	return taskPending
}

// prReport describes the pull request rather than a run: its head commit is held by a gate
// (waiting), or its environment is being deleted (removed).
func prReport(rec prRecord, phase Phase, now time.Time) Report {
	r := Report{Namespace: rec.Namespace, Repo: rec.Repo, Number: rec.Number, SHA: rec.HeadSHA, Phase: phase, Gate: rec.Gate, At: now,
		LastVerdict: rec.LastVerdict}
	if rec.Terminating != nil {
		r.RemovedAt = *rec.Terminating
	}
	return r
}
