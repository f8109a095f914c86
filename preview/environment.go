package preview

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"
)

// State is where an environment stands, as people are told.
type State string

// States of an environment, from the record (namespace) and the head commit's latest run.
const (
	StateWaiting   State = "waiting"   // a gate holds the head commit: approval, draft, label, unconfigured repository
	StateQueued    State = "queued"    // the run waits for a concurrency slot, or the trigger has not created it yet
	StateBuilding  State = "building"  // the run is in the tasks before deploy (fetch, build)
	StateDeploying State = "deploying" // the run is in deploy or healthcheck
	StateReady     State = "ready"     // the head commit is deployed and answers its health check
	StateFailed    State = "failed"    // the head commit's latest run failed
	StateStopped   State = "stopped"   // the head commit's run was stopped (/cancel, or by hand)
	StateCleaning  State = "cleaning"  // closed, removal requested, or the namespace is being deleted
	StateUnknown   State = "unknown"   // the runs could not be read (RBAC): see the list's warnings
)

// States lists every state, in the order of a pull request's life.
var States = []State{StateWaiting, StateQueued, StateBuilding, StateDeploying, StateReady, StateFailed, StateStopped, StateCleaning, StateUnknown}

// Environment is one pull request's preview environment: its record (the namespace) and the
// state of its head commit's latest run.
type Environment struct {
	Namespace string `json:"namespace"`
	Repo      string `json:"repo"`
	PR        int    `json:"pr"`
	PRURL     string `json:"prURL,omitempty"`
	PRState   string `json:"prState,omitempty"` // open | closed | merged
	Author    string `json:"author,omitempty"`
	HeadSHA   string `json:"headSHA,omitempty"`
	State     State  `json:"state"`
	// Reason says in one line why the environment is in its state.
	Reason string `json:"reason,omitempty"`
	// Gate is why the head commit may not deploy (GateApproval, GateDraft, ...); empty when none.
	Gate          string    `json:"gate,omitempty"`
	URL           string    `json:"url,omitempty"`
	Created       time.Time `json:"created"`
	IdleSince     time.Time `json:"idleSince"`    // the last push: what the TTL and gc --idle count from
	LastActivity  time.Time `json:"lastActivity"` // the last event, run start or run end
	Kept          bool      `json:"kept"`         // the keep label exempts it from the TTL and gc --idle
	LatestRun     string    `json:"latestRun,omitempty"`
	QueuePosition int       `json:"queuePosition,omitempty"`
	// Removal is a pending removal request (previewctl delete, gc, the TTL).
	Removal *Removal `json:"removal,omitempty"`
	// ExpiresAt is the removal the TTL announced in its warning comment.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	Usage     *Usage     `json:"usage,omitempty"`
	// Terminating: the namespace is being deleted.
	Terminating bool `json:"terminating,omitempty"`
}

// Ref is the environment's pull request reference.
func (e Environment) Ref() Ref { return Ref{Repo: e.Repo, Number: e.PR} }

// Removal is a removal request recorded on the namespace.
type Removal struct {
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// RunState is where one PipelineRun stands.
type RunState string

// Run states.
const (
	RunQueued     RunState = "queued"
	RunRunning    RunState = "running"
	RunSucceeded  RunState = "succeeded"
	RunFailed     RunState = "failed"
	RunCancelled  RunState = "cancelled"
	RunSuperseded RunState = "superseded"
)

// Run is one PipelineRun of an environment: a deploy attempt or the cleanup.
type Run struct {
	Name          string     `json:"name"`
	Kind          string     `json:"kind"` // KindDeploy | KindCleanup
	SHA           string     `json:"sha"`
	Attempt       int        `json:"attempt"`
	Cause         string     `json:"cause,omitempty"` // CauseEvent | CauseRetest | CauseRetry
	State         RunState   `json:"state"`
	Reason        string     `json:"reason,omitempty"`  // Tekton's condition reason
	Message       string     `json:"message,omitempty"` // Tekton's condition message
	CurrentTask   string     `json:"currentTask,omitempty"`
	QueuePosition int        `json:"queuePosition,omitempty"`
	FailureClass  string     `json:"failureClass,omitempty"` // infrastructure | application
	RetryAt       *time.Time `json:"retryAt,omitempty"`
	StopReason    string     `json:"stopReason,omitempty"`
	URL           string     `json:"url,omitempty"` // the deploy task's url result
	Created       time.Time  `json:"created"`
	Started       *time.Time `json:"started,omitempty"`
	Finished      *time.Time `json:"finished,omitempty"`
	Tasks         []Task     `json:"tasks,omitempty"`
}

// Task is one pipeline task of a run, with the child that ran it.
type Task struct {
	Name     string     `json:"name"`
	State    string     `json:"state"` // pending | running | succeeded | failed | cancelled | skipped
	Child    string     `json:"child,omitempty"`
	Kind     string     `json:"kind,omitempty"` // TaskRun | CustomRun
	Pod      string     `json:"pod,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	Message  string     `json:"message,omitempty"`
	Started  *time.Time `json:"started,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
	Steps    []Step     `json:"steps,omitempty"`
	// Diagnostics the step wrote (deploy, healthcheck): what the failure was, precisely.
	Diagnostics []Diagnostic `json:"diagnostics,omitempty"`
}

// Step is one step of a task.
type Step struct {
	Name      string `json:"name"`
	Container string `json:"container"`
	State     string `json:"state"` // waiting | running | terminated
	ExitCode  *int32 `json:"exitCode,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// Task states.
const (
	TaskPending   = "pending"
	TaskRunning   = "running"
	TaskSucceeded = "succeeded"
	TaskFailed    = "failed"
	TaskCancelled = "cancelled"
	TaskSkipped   = "skipped"
)

// deployTasks: a run in them is deploying; in any task before them, building.
var deployTasks = []string{"deploy", "healthcheck"}

// EnvironmentOf reads a PR namespace and its PipelineRuns (any order) into an Environment; the
// console may call it on objects from its informer caches.
func EnvironmentOf(ns *corev1.Namespace, runs []*pipelinev1.PipelineRun) Environment {
	a := ns.Annotations
	e := Environment{
		Namespace: ns.Name, Repo: a[AnnotationRepo], PRURL: a[AnnotationPRURL], PRState: a[AnnotationPRState],
		Author: a[AnnotationAuthor], HeadSHA: a[AnnotationHeadSHA], Gate: a[AnnotationGate], URL: a[AnnotationPreviewURL],
		Created: ns.CreationTimestamp.UTC(), Kept: Kept(ns.Labels), Terminating: ns.DeletionTimestamp != nil,
	}
	e.PR, _ = strconv.Atoi(ns.Labels[LabelPR])
	e.IdleSince = IdleSince(a, e.Created).UTC()
	e.LastActivity = e.IdleSince
	if t, err := time.Parse(time.RFC3339, a[AnnotationLastEvent]); err == nil && t.After(e.LastActivity) {
		e.LastActivity = t.UTC()
	}
	if RemovalRequested(a) {
		e.Removal = &Removal{By: a[AnnotationRemoveBy], Reason: a[AnnotationRemoveReason]}
		e.Removal.At, _ = time.Parse(time.RFC3339, a[AnnotationRemoveAt])
	}
	if t, err := time.Parse(time.RFC3339, a[AnnotationTTLRemoveAt]); err == nil && a[AnnotationTTLWarnedSHA] == e.HeadSHA && !e.Kept {
		t = t.UTC()
		e.ExpiresAt = &t
	}
	for _, r := range runs {
		for _, t := range []*time.Time{ptr(r.CreationTimestamp.Time), startOf(r), finishOf(r)} {
			if t != nil && t.After(e.LastActivity) {
				e.LastActivity = t.UTC()
			}
		}
	}
	var latest *pipelinev1.PipelineRun
	var cleanup *pipelinev1.PipelineRun
	for _, r := range runs {
		switch {
		case r.Labels[LabelKind] == KindCleanup:
			cleanup = r
		case r.Labels[LabelSHA] == e.HeadSHA && (latest == nil || attemptOf(r) > attemptOf(latest)):
			latest = r
		}
	}
	if latest != nil {
		e.LatestRun = latest.Name
		if u := resultOf(latest, "url"); u != "" {
			e.URL = u // what the deploy reported beats the host the trigger planned
		}
	}
	e.State, e.Reason = stateOf(e, latest, cleanup)
	if e.State == StateQueued && latest != nil {
		e.QueuePosition, _ = strconv.Atoi(latest.Annotations[AnnotationQueuePosition])
	}
	return e
}

// stateOf decides the environment's state and says why in one line.
func stateOf(e Environment, latest, cleanup *pipelinev1.PipelineRun) (State, string) {
	switch {
	case e.Terminating:
		return StateCleaning, "namespace is being deleted"
	case e.Removal != nil:
		return StateCleaning, "removal requested by " + cmp.Or(e.Removal.By, "someone") + " (" + e.Removal.Reason + ")"
	case e.PRState != "" && e.PRState != PRStateOpen:
		return StateCleaning, "pull request " + e.PRState
	case e.Gate == GateLabel:
		return StateCleaning, "the required label was removed"
	case cleanup != nil:
		return StateCleaning, "cleanup run " + cleanup.Name
	}
	if latest == nil {
		if e.Gate != "" {
			return StateWaiting, gateReason(e.Gate)
		}
		if e.HeadSHA == "" {
			return StateWaiting, "no commit recorded yet"
		}
		return StateQueued, "the trigger has not created a run for " + abbrev(e.HeadSHA) + " yet"
	}
	r := RunOf(latest, nil)
	switch r.State {
	case RunQueued:
		if r.QueuePosition > 0 {
			return StateQueued, "position " + strconv.Itoa(r.QueuePosition) + " in the queue"
		}
		return StateQueued, "waiting for Tekton to start " + r.Name
	case RunRunning:
		if slices.Contains(deployTasks, r.CurrentTask) {
			return StateDeploying, "task " + r.CurrentTask + " running"
		}
		return StateBuilding, cmp.Or("task "+r.CurrentTask+" running", "starting")
	case RunSucceeded:
		return StateReady, "deployed " + abbrev(r.SHA)
	case RunFailed:
		why := cmp.Or(r.Message, r.Reason)
		if r.FailureClass == "infrastructure" && r.RetryAt != nil {
			why += " (infrastructure; retry at " + r.RetryAt.Format(time.RFC3339) + ")"
		}
		return StateFailed, firstLine(why)
	default:
		return StateStopped, "stopped: " + cmp.Or(r.StopReason, "cancelled")
	}
}

func gateReason(gate string) string {
	switch gate {
	case GateApproval:
		return "waiting for a collaborator's /ok-to-test"
	case GateDraft:
		return "draft pull request"
	case GateUnconfigured:
		return "repository not configured"
	case GateRemoved:
		return "removed; a push or /retest deploys again"
	}
	return "gate " + gate
}

// RunOf reads a PipelineRun. With children (its TaskRuns and CustomRuns read as Tasks, by
// name; see TaskOf) it fills the per-task table; without, the task states are left empty.
func RunOf(pr *pipelinev1.PipelineRun, children map[string]Task) Run {
	a := pr.Annotations
	r := Run{
		Name: pr.Name, Kind: cmp.Or(pr.Labels[LabelKind], KindDeploy), SHA: pr.Labels[LabelSHA], Attempt: attemptOf(pr),
		Cause: a[AnnotationCause], FailureClass: a[AnnotationFailureClass], StopReason: a[AnnotationStopReason],
		Created: pr.CreationTimestamp.UTC(), Started: startOf(pr), Finished: finishOf(pr), URL: resultOf(pr, "url"),
	}
	r.QueuePosition, _ = strconv.Atoi(a[AnnotationQueuePosition])
	if t, err := time.Parse(time.RFC3339, a[AnnotationRetryAfter]); err == nil {
		t = t.UTC()
		r.RetryAt = &t
	}
	cond := pr.Status.GetCondition(apis.ConditionSucceeded)
	if cond != nil {
		r.Reason, r.Message = cond.Reason, cond.Message
	}
	switch {
	case cond.IsTrue():
		r.State = RunSucceeded
	case r.StopReason == StopSuperseded:
		r.State = RunSuperseded
	case r.StopReason != "":
		r.State = RunCancelled
	case pr.Spec.Status != "" && !pr.IsPending():
		r.State = RunCancelled
	case cond.IsFalse() && strings.HasPrefix(cond.Reason, "Cancelled"):
		r.State = RunCancelled
	case cond.IsFalse():
		r.State = RunFailed
	case cond == nil || pr.IsPending() || cond.Reason == string(pipelinev1.PipelineRunReasonPending):
		r.State = RunQueued
	default:
		r.State = RunRunning
	}
	if r.State == RunQueued {
		r.Started = nil
	}
	r.Tasks = tasksOf(pr, children, r.State)
	if r.State == RunRunning {
		r.CurrentTask = currentTask(pr, r.Tasks)
	}
	if r.State == RunFailed {
		for _, t := range r.Tasks {
			if t.State == TaskFailed {
				r.Message = cmp.Or(firstLine(t.Message), r.Message)
				r.Message = "task " + t.Name + " failed: " + r.Message
				break
			}
		}
	}
	return r
}

// pipelineTaskNames are the run's tasks in the pipeline's order (finally last); before Tekton
// resolves the spec, the children it created so far.
func pipelineTaskNames(pr *pipelinev1.PipelineRun) []string {
	var names []string
	if spec := pr.Status.PipelineSpec; spec != nil {
		for _, t := range append(slices.Clone(spec.Tasks), spec.Finally...) {
			names = append(names, t.Name)
		}
		return names
	}
	for _, c := range pr.Status.ChildReferences {
		if !slices.Contains(names, c.PipelineTaskName) {
			names = append(names, c.PipelineTaskName)
		}
	}
	return names
}

// childOf is the run's child (TaskRun or CustomRun) for a pipeline task, if Tekton created one.
func childOf(pr *pipelinev1.PipelineRun, task string) *pipelinev1.ChildStatusReference {
	for i := range pr.Status.ChildReferences {
		if pr.Status.ChildReferences[i].PipelineTaskName == task {
			return &pr.Status.ChildReferences[i]
		}
	}
	return nil
}

func tasksOf(pr *pipelinev1.PipelineRun, children map[string]Task, state RunState) []Task {
	skipped := map[string]string{}
	for _, s := range pr.Status.SkippedTasks {
		skipped[s.Name] = string(s.Reason)
	}
	var out []Task
	for _, name := range pipelineTaskNames(pr) {
		t := Task{Name: name, State: TaskPending}
		if c := childOf(pr, name); c != nil {
			t.Child, t.Kind = c.Name, c.Kind
			if known, ok := children[c.Name]; ok {
				known.Name = name
				t = known
			} else if children == nil {
				t.State = "" // unknown without reading the child
			}
		} else if why, ok := skipped[name]; ok {
			t.State, t.Reason = TaskSkipped, why
		} else if state == RunCancelled || state == RunSuperseded {
			t.State = TaskCancelled
		}
		out = append(out, t)
	}
	return out
}

// currentTask is the first running task, or, when children were not read, the task of the
// child created last (tasks of the preview pipeline run one after another).
func currentTask(pr *pipelinev1.PipelineRun, tasks []Task) string {
	for _, t := range tasks {
		if t.State == TaskRunning {
			return t.Name
		}
	}
	if n := len(pr.Status.ChildReferences); n > 0 {
		return pr.Status.ChildReferences[n-1].PipelineTaskName
	}
	return ""
}

// TaskOf reads a TaskRun into a Task named for its pipeline task.
func TaskOf(tr *pipelinev1.TaskRun) Task {
	t := Task{Name: tr.Labels["tekton.dev/pipelineTask"], Child: tr.Name, Kind: "TaskRun", Pod: tr.Status.PodName}
	cond := tr.Status.GetCondition(apis.ConditionSucceeded)
	t.State = childState(cond, tr.Status.PodName != "")
	if cond != nil {
		t.Reason, t.Message = cond.Reason, cond.Message
	}
	if tr.Status.StartTime != nil {
		t.Started = ptr(tr.Status.StartTime.UTC())
	}
	if tr.Status.CompletionTime != nil {
		t.Finished = ptr(tr.Status.CompletionTime.UTC())
	}
	for _, s := range tr.Status.Steps {
		st := Step{Name: s.Name, Container: cmp.Or(s.Container, "step-"+s.Name), State: "waiting"}
		switch {
		case s.Terminated != nil:
			st.State, st.ExitCode, st.Reason = "terminated", ptr(s.Terminated.ExitCode), s.Terminated.Reason
		case s.Running != nil:
			st.State = "running"
		case s.Waiting != nil:
			st.Reason = s.Waiting.Reason
		}
		t.Steps = append(t.Steps, st)
	}
	for _, res := range tr.Status.Results {
		if res.Name == ResultDiagnostics {
			t.Diagnostics, _ = DecodeDiagnostics(res.Value.StringVal)
		}
	}
	return t
}

func childState(cond *apis.Condition, started bool) string {
	switch {
	case cond.IsTrue():
		return TaskSucceeded
	case cond.IsFalse() && (cond.Reason == string(pipelinev1.TaskRunReasonCancelled) || strings.HasPrefix(cond.Reason, "Cancelled")):
		return TaskCancelled
	case cond.IsFalse():
		return TaskFailed
	case cond != nil && (cond.Reason == string(pipelinev1.TaskRunReasonRunning) || started):
		return TaskRunning
	}
	return TaskPending
}

func attemptOf(pr *pipelinev1.PipelineRun) int {
	n, _ := strconv.Atoi(pr.Annotations[AnnotationAttempt])
	return max(n, 1)
}

func startOf(pr *pipelinev1.PipelineRun) *time.Time {
	if pr.Status.StartTime == nil {
		return nil
	}
	return ptr(pr.Status.StartTime.UTC())
}

func finishOf(pr *pipelinev1.PipelineRun) *time.Time {
	if pr.Status.CompletionTime == nil {
		return nil
	}
	return ptr(pr.Status.CompletionTime.UTC())
}

func resultOf(pr *pipelinev1.PipelineRun, name string) string {
	for _, res := range pr.Status.Results {
		if res.Name == name {
			return res.Value.StringVal
		}
	}
	return ""
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func ptr[T any](v T) *T { return &v }
