package step

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// DiagnoseOptions bound what a failure report prints.
type DiagnoseOptions struct {
	LogLines int           // last lines of each failing container's log
	Events   int           // most recent events of the namespace
	Timeout  time.Duration // for all the reads of one report
}

// DefaultDiagnoseOptions are the flag defaults.
var DefaultDiagnoseOptions = DiagnoseOptions{LogLines: 30, Events: 20, Timeout: 30 * time.Second}

// diagnose prints what a developer needs to see why the release is not healthy: the
// workloads' status, the pods that are not ready with their reasons and the last lines of
// their failing containers' logs, the ingresses, and the namespace's recent events. It reads
// with its own deadline, so it still works when the caller's context has expired, and never
// fails: whatever cannot be read is reported as such.
//
// With allLogs, the logs of ready containers are printed too (up to three pods): when the pods
// are ready but the health endpoint fails, the application's log is where the answer is.
// diagReport is what a diagnosis found that a diagnostic can carry.
type diagReport struct {
	log string // the last lines of the first container log printed, headed by pod and container
}

// maxReportLogLines bounds the log lines a diagnostic carries (the step log has more).
const maxReportLogLines = 8

func (r *Runner) diagnose(ctx context.Context, workloads []objectRef, o DiagnoseOptions, allLogs bool) diagReport {
	if o.Timeout <= 0 {
		o = DefaultDiagnoseOptions
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.Timeout)
	defer cancel()
	ns := r.Kube.Namespace
	w := r.Out
	fmt.Fprintf(w, "\n==== diagnostics: namespace %s ====\n", ns)

	var selectors []labels.Selector
	if len(workloads) > 0 {
		fmt.Fprintf(w, "\nworkloads:\n")
	}
	for _, wl := range workloads {
		line, sel, err := r.describeWorkload(ctx, wl)
		if err != nil {
			fmt.Fprintf(w, "  %s: cannot read: %v\n", wl, err)
			continue
		}
		fmt.Fprintf(w, "  %s\n", line)
		if sel != nil {
			selectors = append(selectors, sel)
		}
	}
	rep := r.diagnosePods(ctx, w, selectors, o, allLogs)
	r.diagnoseIngresses(ctx, w)
	r.diagnoseEvents(ctx, w, o.Events)
	fmt.Fprintf(w, "==== end of diagnostics ====\n\n")
	return rep
}

func (r *Runner) describeWorkload(ctx context.Context, wl objectRef) (string, labels.Selector, error) {
	apps := r.Kube.Kube.AppsV1()
	switch wl.Kind {
	case "Deployment":
		d, err := apps.Deployments(r.Kube.Namespace).Get(ctx, wl.Name, metav1.GetOptions{})
		if err != nil {
			return "", nil, err
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return "", nil, err
		}
		_, msg, _ := deploymentStatus(d)
		return fmt.Sprintf("%s: %s%s", wl, msg, conditionSummary(deploymentConditions(d))), sel, nil
	case "StatefulSet":
		s, err := apps.StatefulSets(r.Kube.Namespace).Get(ctx, wl.Name, metav1.GetOptions{})
		if err != nil {
			return "", nil, err
		}
		sel, err := metav1.LabelSelectorAsSelector(s.Spec.Selector)
		if err != nil {
			return "", nil, err
		}
		_, msg := statefulSetStatus(s)
		return fmt.Sprintf("%s: %s", wl, msg), sel, nil
	}
	return "", nil, fmt.Errorf("unsupported kind %s", wl.Kind)
}

func deploymentConditions(d *appsv1.Deployment) []string {
	var out []string
	for _, c := range d.Status.Conditions {
		if c.Status != corev1.ConditionTrue || c.Type == appsv1.DeploymentReplicaFailure {
			out = append(out, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
		}
	}
	return out
}

func conditionSummary(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " (" + strings.Join(conds, "; ") + ")"
}

func (r *Runner) diagnosePods(ctx context.Context, w io.Writer, selectors []labels.Selector, o DiagnoseOptions, allLogs bool) diagReport {
	var rep diagReport
	list, err := r.Kube.Kube.CoreV1().Pods(r.Kube.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(w, "\npods: cannot list: %v\n", err)
		return rep
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if matchesAny(selectors, p.Labels) {
			pods = append(pods, p)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	ready := 0
	for _, p := range pods {
		if podReady(&p) && !podRestarted(&p) {
			ready++
		}
	}
	fmt.Fprintf(w, "\npods: %d of %d ready\n", ready, len(pods))
	shown := 0
	for i := range pods {
		p := &pods[i]
		healthy := podReady(p) && !podRestarted(p)
		if healthy && (!allLogs || shown >= 3) {
			continue
		}
		shown++
		describePod(w, p)
		containers := failingContainers(p)
		if healthy {
			containers = p.Status.ContainerStatuses
		}
		for _, cs := range containers {
			text := r.printLogs(ctx, w, p, cs, o.LogLines)
			if rep.log == "" && text != "" {
				lines := strings.Split(text, "\n")
				if len(lines) > maxReportLogLines {
					lines = lines[len(lines)-maxReportLogLines:]
				}
				rep.log = fmt.Sprintf("last log lines of pod %s, container %s:\n%s", p.Name, cs.Name, strings.Join(lines, "\n"))
			}
		}
	}
	return rep
}

// matchesAny: with no selectors (no workloads known), every pod of the namespace matches.
func matchesAny(selectors []labels.Selector, l map[string]string) bool {
	if len(selectors) == 0 {
		return true
	}
	for _, s := range selectors {
		if s.Matches(labels.Set(l)) {
			return true
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podRestarted(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.RestartCount > 0 && !cs.Ready {
			return true
		}
	}
	return false
}

// describePod prints why a pod is not ready: phase, false conditions, container states.
func describePod(w io.Writer, p *corev1.Pod) {
	node := p.Spec.NodeName
	if node == "" {
		node = "<none>"
	}
	fmt.Fprintf(w, "  pod %s: phase %s, node %s", p.Name, p.Status.Phase, node)
	if p.DeletionTimestamp != nil {
		fmt.Fprintf(w, ", terminating")
	}
	if p.Status.Reason != "" {
		fmt.Fprintf(w, ", %s: %s", p.Status.Reason, p.Status.Message)
	}
	fmt.Fprintln(w)
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			fmt.Fprintf(w, "    condition %s=%s%s\n", c.Type, c.Status, reasonMessage(c.Reason, c.Message))
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		fmt.Fprintf(w, "    container %s: %s, ready %t, restarts %d\n", cs.Name, containerState(cs.State), cs.Ready, cs.RestartCount)
		if t := cs.LastTerminationState.Terminated; t != nil {
			fmt.Fprintf(w, "      last terminated: %s\n", containerState(cs.LastTerminationState))
		}
	}
	if len(p.Status.ContainerStatuses) == 0 && p.Status.Phase == corev1.PodPending {
		fmt.Fprintf(w, "    no container has started yet\n")
	}
}

func reasonMessage(reason, msg string) string {
	switch {
	case reason != "" && msg != "":
		return " " + reason + ": " + msg
	case reason != "" || msg != "":
		return " " + reason + msg
	}
	return ""
}

func containerState(s corev1.ContainerState) string {
	switch {
	case s.Waiting != nil:
		return "waiting:" + reasonMessage(s.Waiting.Reason, s.Waiting.Message)
	case s.Terminated != nil:
		t := s.Terminated
		msg := fmt.Sprintf("terminated: %s (exit code %d)", t.Reason, t.ExitCode)
		if t.Message != "" {
			msg += ": " + t.Message
		}
		return msg
	case s.Running != nil:
		return "running since " + s.Running.StartedAt.UTC().Format(time.RFC3339)
	}
	return "unknown state"
}

// failingContainers are the containers worth reading logs from: not ready, or restarted.
func failingContainers(p *corev1.Pod) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if !cs.Ready || cs.RestartCount > 0 {
			if cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 && cs.RestartCount == 0 {
				continue // a finished init container
			}
			out = append(out, cs)
		}
	}
	return out
}

// printLogs prints the last lines of a container's log and returns them.
func (r *Runner) printLogs(ctx context.Context, w io.Writer, p *corev1.Pod, cs corev1.ContainerStatus, lines int) string {
	if lines <= 0 {
		return ""
	}
	// A container that crashed and restarted: its previous run's log says why.
	previous := cs.LastTerminationState.Terminated != nil && cs.State.Running == nil
	if cs.State.Waiting != nil && !previous {
		fmt.Fprintf(w, "    no log of %s: it has not started (%s)\n", cs.Name, cs.State.Waiting.Reason)
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tail := int64(lines)
	limit := int64(64 << 10)
	logs := r.PodLogs
	if logs == nil {
		logs = r.podLogs
	}
	raw, err := logs(ctx, p.Namespace, p.Name, &corev1.PodLogOptions{
		Container: cs.Name, TailLines: &tail, LimitBytes: &limit, Previous: previous,
	})
	which := ""
	if previous {
		which = " (previous run)"
	}
	if err != nil {
		r.Log.Debug("cannot read container log", zap.String("pod", p.Name), zap.String("container", cs.Name), zap.Error(err))
		fmt.Fprintf(w, "    logs of %s%s: unavailable: %v\n", cs.Name, which, err)
		return ""
	}
	text := strings.TrimRight(string(raw), "\n")
	if text == "" {
		fmt.Fprintf(w, "    logs of %s%s: empty\n", cs.Name, which)
		return ""
	}
	fmt.Fprintf(w, "    log of %s%s (last %d lines at most):\n", cs.Name, which, lines)
	for _, l := range strings.Split(text, "\n") {
		fmt.Fprintf(w, "      | %s\n", l)
	}
	return text
}

func (r *Runner) podLogs(ctx context.Context, namespace, pod string, o *corev1.PodLogOptions) ([]byte, error) {
	return r.Kube.Kube.CoreV1().Pods(namespace).GetLogs(pod, o).DoRaw(ctx)
}

func (r *Runner) diagnoseIngresses(ctx context.Context, w io.Writer) {
	list, err := r.Kube.Kube.NetworkingV1().Ingresses(r.Kube.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(w, "\ningresses: cannot list: %v\n", err)
		return
	}
	if len(list.Items) == 0 {
		fmt.Fprintf(w, "\ningresses: none\n")
		return
	}
	fmt.Fprintf(w, "\ningresses:\n")
	for _, ing := range list.Items {
		class := "<default>"
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		}
		var hosts []string
		for _, rule := range ing.Spec.Rules {
			hosts = append(hosts, rule.Host)
		}
		var addrs []string
		for _, lb := range ing.Status.LoadBalancer.Ingress {
			addrs = append(addrs, lb.IP+lb.Hostname)
		}
		if len(addrs) == 0 {
			addrs = []string{"<none yet>"}
		}
		fmt.Fprintf(w, "  Ingress/%s: class %s, hosts %s, address %s\n", ing.Name, class, strings.Join(hosts, ","), strings.Join(addrs, ","))
	}
}

func (r *Runner) diagnoseEvents(ctx context.Context, w io.Writer, n int) {
	if n <= 0 {
		return
	}
	list, err := r.Kube.Kube.CoreV1().Events(r.Kube.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(w, "\nevents: cannot list: %v\n", err)
		return
	}
	events := list.Items
	sort.SliceStable(events, func(i, j int) bool { return eventTime(&events[i]).Before(eventTime(&events[j])) })
	if len(events) > n {
		events = events[len(events)-n:]
	}
	fmt.Fprintf(w, "\nrecent events (%d of %d):\n", len(events), len(list.Items))
	for i := range events {
		e := &events[i]
		count := ""
		if e.Count > 1 {
			count = fmt.Sprintf(" (x%d)", e.Count)
		}
		fmt.Fprintf(w, "  %s %-7s %s/%s %s: %s%s\n", eventTime(e).UTC().Format(time.RFC3339), e.Type,
			e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, strings.TrimSpace(e.Message), count)
	}
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}
