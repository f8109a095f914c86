package preview

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// Actions are requests recorded on the PR namespace with the caller's identity: Kubernetes
// RBAC decides whether they may (patch on the namespace, which a RoleBinding in that namespace
// can grant), and the trigger, the only writer of workloads, does the work. Each request is
// written with the namespace's resourceVersion as a precondition and re-read on conflict, so a
// request never lands on a record it was not checked against.

// maxRequestAttempts bounds the re-reads when the record changes under a request.
const maxRequestAttempts = 5

// RetryResult says what was asked.
type RetryResult struct {
	Namespace string `json:"namespace"`
	SHA       string `json:"sha"`
	// Nonce identifies the request; the attempt that answers it carries it (annotation
	// AnnotationRetestNonceOf), so a caller can wait for that run.
	Nonce string `json:"nonce"`
}

// Retry asks for a new attempt at the head commit: the same request as a /retest comment. It
// is refused (Invalid) for a closed pull request and while a gate holds the head commit.
func (c *Client) Retry(ctx context.Context, ref Ref) (*RetryResult, error) {
	actor := c.actor(ctx)
	nonce := newNonce()
	var res *RetryResult
	err := c.request(ctx, ref, "retry", func(ns *corev1.Namespace) (AnnotationPatch, error) {
		a := ns.Annotations
		head := a[AnnotationHeadSHA]
		switch gate := a[AnnotationGate]; {
		case ns.DeletionTimestamp != nil:
			return nil, newError(KindConflict, nil, "%s is being deleted", ns.Name)
		case a[AnnotationPRState] != PRStateOpen:
			return nil, newError(KindInvalid, nil, "%s is %s: nothing to retry", refOf(ns), a[AnnotationPRState])
		case head == "":
			return nil, newError(KindInvalid, nil, "%s has no head commit recorded yet", refOf(ns))
		case gate == GateApproval || gate == GateDraft || gate == GateLabel || gate == GateUnconfigured:
			return nil, newError(KindInvalid, nil, "%s cannot run: %s (previewctl explain %s)", refOf(ns), gateReason(gate), refOf(ns))
		}
		res = &RetryResult{Namespace: ns.Name, SHA: head, Nonce: nonce}
		return RetestRequest(head, actor, nonce), nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// KeepResult says what the keep label is now.
type KeepResult struct {
	Namespace string `json:"namespace"`
	Kept      bool   `json:"kept"`
}

// Keep sets (keep) or removes the keep label, which exempts the environment from the idle TTL
// and from gc --idle.
func (c *Client) Keep(ctx context.Context, ref Ref, keep bool) (*KeepResult, error) {
	ns, err := c.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	var value any
	if keep {
		value = "true"
	}
	body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{LabelKeep: value}}})
	if _, err := c.kube.CoreV1().Namespaces().Patch(ctx, ns.Name, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		return nil, wrap(err, "label namespace %s", ns.Name)
	}
	return &KeepResult{Namespace: ns.Name, Kept: keep}, nil
}

// DeleteOptions tune Delete.
type DeleteOptions struct {
	// Wait returns only when the namespace is gone (or ctx ends: bound it with a timeout).
	Wait bool
	// Progress is told each stage of the removal once, in order; may be nil.
	Progress func(DeleteProgress)
	// Reason recorded with the request; RemoveReasonDelete when empty.
	Reason string
}

// DeleteStage is how far a removal went.
type DeleteStage string

// Stages of a removal, in order.
const (
	DeleteRequested DeleteStage = "requested" // recorded; the trigger has not acted yet
	DeleteStopping  DeleteStage = "stopping"  // runs are being stopped
	DeleteCleanup   DeleteStage = "cleanup"   // the cleanup run (helm uninstall) runs
	DeleteDeleting  DeleteStage = "deleting"  // the namespace is terminating
	DeleteGone      DeleteStage = "gone"      // the namespace no longer exists
)

// DeleteProgress is one stage of a removal.
type DeleteProgress struct {
	Stage   DeleteStage `json:"stage"`
	Message string      `json:"message"`
	At      time.Time   `json:"at"`
}

// DeleteResult says what was asked and, with Wait, how it ended.
type DeleteResult struct {
	Namespace string      `json:"namespace"`
	SHA       string      `json:"sha"`
	Stage     DeleteStage `json:"stage"`
}

// Delete asks the trigger to remove the environment the way it removes a closed pull request's:
// stop its runs, run the cleanup pipeline, delete the namespace. The pull request's record is
// kept, so resync does not bring the environment back; a later push or /retest does. With
// Wait, it follows the removal until the namespace is gone, telling Progress each stage; a push
// that supersedes the request ends the wait with a Conflict.
func (c *Client) Delete(ctx context.Context, ref Ref, o DeleteOptions) (*DeleteResult, error) {
	actor := c.actor(ctx)
	reason := o.Reason
	if reason == "" {
		reason = RemoveReasonDelete
	}
	var res *DeleteResult
	err := c.request(ctx, ref, "delete", func(ns *corev1.Namespace) (AnnotationPatch, error) {
		res = &DeleteResult{Namespace: ns.Name, SHA: ns.Annotations[AnnotationHeadSHA], Stage: DeleteRequested}
		if ns.DeletionTimestamp != nil || RemovalRequested(ns.Annotations) {
			return nil, nil // already on its way
		}
		return RemovalRequest(res.SHA, actor, reason, c.o.Now()), nil
	})
	if err != nil {
		return nil, err
	}
	if !o.Wait {
		return res, nil
	}
	res.Stage, err = c.waitRemoval(ctx, res.Namespace, o.Progress)
	return res, err
}

// request re-reads the namespace, lets decide build the patch (nil: nothing to write) and
// writes it with the namespace's resourceVersion as precondition, re-reading on conflict.
func (c *Client) request(ctx context.Context, ref Ref, op string, decide func(*corev1.Namespace) (AnnotationPatch, error)) error {
	for attempt := 1; ; attempt++ {
		ns, err := c.resolve(ctx, ref)
		if err != nil {
			return err
		}
		p, err := decide(ns)
		if err != nil || p == nil {
			return err
		}
		body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": p, "resourceVersion": ns.ResourceVersion}})
		if err != nil {
			return err
		}
		_, err = c.kube.CoreV1().Namespaces().Patch(ctx, ns.Name, types.MergePatchType, body, metav1.PatchOptions{})
		if apierrors.IsConflict(err) && attempt < maxRequestAttempts {
			continue
		}
		if err != nil {
			return wrap(err, "%s %s: record the request on namespace %s", op, ref, ns.Name)
		}
		return nil
	}
}

// waitRemoval follows a removal until the namespace is gone.
func (c *Client) waitRemoval(ctx context.Context, namespace string, progress func(DeleteProgress)) (DeleteStage, error) {
	last := DeleteStage("")
	var sha string
	report := func(stage DeleteStage, msg string) {
		if stage != last && progress != nil {
			progress(DeleteProgress{Stage: stage, Message: msg, At: c.o.Now()})
		}
		last = stage
	}
	err := c.waitFor(ctx, namespace, func(ctx context.Context) (bool, error) {
		ns, err := c.kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			report(DeleteGone, "namespace "+namespace+" is gone")
			return true, nil
		}
		if err != nil {
			return false, wrap(err, "get namespace %s", namespace)
		}
		if sha == "" {
			sha = ns.Annotations[AnnotationRemoveSHA]
		}
		if ns.DeletionTimestamp == nil && !RemovalRequested(ns.Annotations) {
			return false, newError(KindConflict, nil, "the removal of %s was superseded (head now %s): run delete again to remove it",
				namespace, abbrev(ns.Annotations[AnnotationHeadSHA]))
		}
		if ns.DeletionTimestamp != nil {
			report(DeleteDeleting, "namespace "+namespace+" terminating"+finalizersOf(ns))
			return false, nil
		}
		runs, err := c.runsOf(ctx, namespace)
		if err != nil {
			return false, err
		}
		stage, msg := DeleteRequested, "waiting for the trigger to act on the request"
		for _, r := range runs {
			run := RunOf(r, nil)
			switch {
			case run.Kind == KindCleanup && run.Finished == nil:
				stage, msg = DeleteCleanup, "cleanup run "+r.Name+" uninstalling the release"
			case run.Kind == KindCleanup:
				stage, msg = DeleteCleanup, "cleanup run "+r.Name+" "+string(run.State)
			case run.Finished == nil && stage == DeleteRequested:
				stage, msg = DeleteStopping, "stopping run "+r.Name
			}
		}
		report(stage, msg)
		return false, nil
	})
	return last, err
}

func finalizersOf(ns *corev1.Namespace) string {
	var f []string
	for _, s := range ns.Finalizers {
		if s == FinalizerReport {
			f = append(f, "the reporter's final comment")
		} else {
			f = append(f, s)
		}
	}
	if len(f) == 0 {
		return ""
	}
	return " (waiting for " + strings.Join(f, ", ") + ")"
}

// waitFor calls check until it is done, after every change of the namespace, its PipelineRuns
// or TaskRuns (watched), and at least every PollInterval, in case a watch cannot be opened (RBAC)
// or misses an event.
func (c *Client) waitFor(ctx context.Context, namespace string, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed := make(chan struct{}, 1)
	watches := []func() (watch.Interface, error){
		func() (watch.Interface, error) {
			return c.kube.CoreV1().Namespaces().Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", namespace).String()})
		},
		func() (watch.Interface, error) {
			return c.tekton.TektonV1().PipelineRuns(namespace).Watch(ctx, metav1.ListOptions{})
		},
		func() (watch.Interface, error) {
			return c.tekton.TektonV1().TaskRuns(namespace).Watch(ctx, metav1.ListOptions{})
		},
	}
	for _, open := range watches {
		if w, err := open(); err == nil {
			defer w.Stop()
			go forward(ctx, w.ResultChan(), changed)
		}
	}
	tick := time.NewTicker(c.o.PollInterval)
	defer tick.Stop()
	for {
		done, err := check(ctx)
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return newError(KindUnavailable, ctx.Err(), "stopped waiting for %s: %v", namespace, ctx.Err())
		case <-changed:
		case <-tick.C:
		}
	}
}

// forward signals changed (without blocking) for every event, until the watch or ctx ends.
func forward(ctx context.Context, events <-chan watch.Event, changed chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				return
			}
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
}

func refOf(ns *corev1.Namespace) string {
	if r := ns.Annotations[AnnotationRepo]; r != "" && ns.Labels[LabelPR] != "" {
		return r + "#" + ns.Labels[LabelPR]
	}
	return ns.Name
}

func newNonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "previewctl-" + hex.EncodeToString(b)
}
