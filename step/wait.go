package step

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/preview"
)

// readiness is what one object of a release says about the rollout.
type readiness struct {
	Ready bool
	// Status is what the rollout waits on, for a person: "0/1 available, 1 updated; waiting for
	// replicas to become available", "Service web has no load balancer address".
	Status string
	// Blocked is a condition that does not clear by itself while nothing changes: a ReplicaSet
	// that cannot create pods (admission refused them: Pod Security, quota).
	Blocked string
	// Failed is a rollout that will not succeed: progress deadline exceeded, a failed Job.
	Failed string
}

// waitable reports whether the wait checks kind (the kinds `helm --wait` waits for, and Jobs
// as with --wait-for-jobs).
func waitable(o objectRef) bool {
	switch o.APIVersion + "/" + o.Kind {
	case "apps/v1/Deployment", "apps/v1/StatefulSet", "apps/v1/DaemonSet", "batch/v1/Job",
		"v1/Service", "v1/PersistentVolumeClaim", "v1/Pod":
		return true
	}
	return false
}

func (r *Runner) readiness(ctx context.Context, o objectRef) (readiness, error) {
	ns := o.Namespace
	if ns == "" {
		ns = r.Kube.Namespace
	}
	kube := r.Kube.Kube
	get := metav1.GetOptions{}
	var rd readiness
	var err error
	switch o.Kind {
	case "Deployment":
		var d *appsv1.Deployment
		if d, err = kube.AppsV1().Deployments(ns).Get(ctx, o.Name, get); err == nil {
			var failed error
			rd.Ready, rd.Status, failed = deploymentStatus(d)
			if failed != nil {
				rd.Failed = failed.Error()
			}
			for _, c := range d.Status.Conditions {
				if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
					rd.Blocked = fmt.Sprintf("%s cannot create pods: %s", o, c.Message)
				}
			}
		}
	case "StatefulSet":
		var s *appsv1.StatefulSet
		if s, err = kube.AppsV1().StatefulSets(ns).Get(ctx, o.Name, get); err == nil {
			rd.Ready, rd.Status = statefulSetStatus(s)
		}
	case "DaemonSet":
		var d *appsv1.DaemonSet
		if d, err = kube.AppsV1().DaemonSets(ns).Get(ctx, o.Name, get); err == nil {
			rd.Ready, rd.Status = daemonSetStatus(d)
		}
	case "Job":
		var j *batchv1.Job
		if j, err = kube.BatchV1().Jobs(ns).Get(ctx, o.Name, get); err == nil {
			rd = jobStatus(j)
		}
	case "Service":
		var s *corev1.Service
		if s, err = kube.CoreV1().Services(ns).Get(ctx, o.Name, get); err == nil {
			rd.Ready, rd.Status = true, "type "+string(s.Spec.Type)
			if s.Spec.Type == corev1.ServiceTypeLoadBalancer && len(s.Status.LoadBalancer.Ingress) == 0 {
				rd.Ready, rd.Status = false, fmt.Sprintf("Service %s has no load balancer address (type LoadBalancer: no load balancer controller has assigned one)", o.Name)
			}
		}
	case "PersistentVolumeClaim":
		var p *corev1.PersistentVolumeClaim
		if p, err = kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, o.Name, get); err == nil {
			rd.Ready, rd.Status = p.Status.Phase == corev1.ClaimBound, fmt.Sprintf("PersistentVolumeClaim %s is %s", o.Name, p.Status.Phase)
		}
	case "Pod":
		var p *corev1.Pod
		if p, err = kube.CoreV1().Pods(ns).Get(ctx, o.Name, get); err == nil {
			rd.Ready = podReady(p) || p.Status.Phase == corev1.PodSucceeded
			rd.Status = "phase " + string(p.Status.Phase)
			if p.Status.Phase == corev1.PodFailed {
				rd.Failed = fmt.Sprintf("Pod %s failed: %s", o.Name, reasonMessage(p.Status.Reason, p.Status.Message))
			}
		}
	default:
		return readiness{Ready: true, Status: "not checked"}, nil
	}
	if apierrors.IsNotFound(err) {
		return readiness{Status: o.String() + " not found"}, nil
	}
	if err != nil {
		return rd, fmt.Errorf("read %s: %w", o, err)
	}
	if rd.Status != "" && !strings.Contains(rd.Status, o.Name) {
		rd.Status = o.String() + ": " + rd.Status
	}
	return rd, nil
}

func daemonSetStatus(d *appsv1.DaemonSet) (bool, string) {
	s := d.Status
	counts := fmt.Sprintf("%d/%d available, %d updated", s.NumberAvailable, s.DesiredNumberScheduled, s.UpdatedNumberScheduled)
	switch {
	case d.Generation > s.ObservedGeneration:
		return false, "waiting for the daemonset controller to observe the new spec; " + counts
	case s.UpdatedNumberScheduled < s.DesiredNumberScheduled || s.NumberAvailable < s.DesiredNumberScheduled:
		return false, counts + "; waiting for pods to become available"
	}
	return true, counts
}

func jobStatus(j *batchv1.Job) readiness {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return readiness{Ready: true, Status: "complete"}
		case batchv1.JobFailed:
			return readiness{Status: "failed", Failed: fmt.Sprintf("Job %s failed: %s", j.Name, reasonMessage(c.Reason, c.Message))}
		}
	}
	return readiness{Status: fmt.Sprintf("%d active, %d succeeded, %d failed; waiting for completion", j.Status.Active, j.Status.Succeeded, j.Status.Failed)}
}

// waitOptions pace a wait.
type waitOptions struct {
	Interval time.Duration
	// BlockedGrace is how long an object may stay Blocked before the wait gives up early.
	BlockedGrace time.Duration
}

// errRolloutFailed marks a rollout that will not become available without a change.
var errRolloutFailed = errors.New("rollout failed")

// errNotReady marks a rollout that did not become ready.
var errNotReady = errors.New("rollout not ready")

// waitReady polls the release's objects until all are ready. It fails at once when one fails
// for good, when one stays blocked for BlockedGrace, or when ctx ends, with a FailureError
// that names what it was waiting on (logged at error level, the message the pull request
// shows).
func (r *Runner) waitReady(ctx context.Context, log *zap.Logger, objs []objectRef, src chartSources, o waitOptions) error {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.BlockedGrace <= 0 {
		o.BlockedGrace = 30 * time.Second
	}
	start := r.Clock.Now()
	last := map[string]string{}
	blockedSince := map[string]time.Time{}
	fail := func(obj objectRef, msg string, cause error) error {
		if pod := r.podProblem(ctx, obj); pod != "" {
			msg += "; " + pod
		}
		log.Error("rollout not ready", zap.String("object", obj.String()), zap.String("waitingOn", msg),
			zap.Duration("waited", r.Clock.Since(start).Round(time.Second)))
		fe := &FailureError{Kind: preview.DiagnosticRollout, Msg: msg, Err: errors.Join(errNotReady, cause)}
		if obj.Source != "" && src != nil {
			if file, line, _ := src.file(obj.Source, 0); file != "" && file != obj.Source {
				fe.Path, fe.Line = file, line
			}
		}
		return fe
	}
	var waitingOn *objectRef // from the last complete sweep
	waitingMsg := ""
	for {
		var pending *objectRef
		pendingMsg := ""
		complete := true
		for i := range objs {
			obj := objs[i]
			if !waitable(obj) {
				continue
			}
			rd, err := r.readiness(ctx, obj)
			if err != nil {
				if ctx.Err() != nil {
					complete = false
					break
				}
				return err
			}
			if rd.Failed != "" {
				return fail(obj, rd.Failed, nil)
			}
			if last[obj.String()] != rd.Status {
				log.Info("rollout status", zap.String("object", obj.String()), zap.Bool("ready", rd.Ready), zap.String("status", rd.Status))
				last[obj.String()] = rd.Status
			}
			if rd.Blocked != "" {
				since, seen := blockedSince[obj.String()]
				if !seen {
					blockedSince[obj.String()] = r.Clock.Now()
					log.Error("rollout blocked", zap.String("object", obj.String()), zap.String("condition", rd.Blocked))
				} else if r.Clock.Since(since) >= o.BlockedGrace {
					return fail(obj, rd.Blocked, nil)
				}
			} else {
				delete(blockedSince, obj.String())
			}
			if !rd.Ready && pending == nil {
				pending, pendingMsg = &obj, rd.Status
				if rd.Blocked != "" {
					pendingMsg = rd.Blocked
				}
			}
		}
		if complete {
			if pending == nil {
				return nil
			}
			waitingOn, waitingMsg = pending, pendingMsg
		}
		select {
		case <-ctx.Done():
			if waitingOn == nil {
				return ctx.Err()
			}
			return fail(*waitingOn, fmt.Sprintf("%s (waited %s)", waitingMsg, r.Clock.Since(start).Round(time.Second)), ctx.Err())
		case <-r.Clock.After(o.Interval):
		}
	}
}

// podProblem describes the first pod of a workload that is not ready, by its container states:
// what a developer needs next to "0/1 available" (ImagePullBackOff, CrashLoopBackOff, ...).
func (r *Runner) podProblem(ctx context.Context, obj objectRef) string {
	if obj.Kind != "Deployment" && obj.Kind != "StatefulSet" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, sel, err := r.describeWorkload(ctx, obj)
	if err != nil || sel == nil {
		return ""
	}
	pods, err := r.Kube.Kube.CoreV1().Pods(r.Kube.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return ""
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if podReady(p) {
			continue
		}
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if !cs.Ready && cs.State.Running == nil {
				return fmt.Sprintf("pod %s: container %s %s", p.Name, cs.Name, containerState(cs.State))
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
				return fmt.Sprintf("pod %s is not scheduled:%s", p.Name, reasonMessage(c.Reason, c.Message))
			}
		}
		return fmt.Sprintf("pod %s is %s and not ready", p.Name, p.Status.Phase)
	}
	return ""
}
