package reporter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// LogReader reads the end of one container's log.
type LogReader interface {
	TailLog(ctx context.Context, namespace, pod, container string, lines int64) (string, error)
}

// PodLogs reads logs through the apiserver's pods/log subresource.
type PodLogs struct{ Kube kubernetes.Interface }

// maxLogBytes bounds what one excerpt read may hold in memory.
const maxLogBytes = 1 << 20

// TailLog returns the last lines of a container's log.
func (p PodLogs) TailLog(ctx context.Context, namespace, pod, container string, lines int64) (string, error) {
	limit := int64(maxLogBytes)
	raw, err := p.Kube.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, TailLines: &lines, LimitBytes: &limit,
	}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("log of %s/%s container %s: %w", namespace, pod, container, err)
	}
	return string(raw), nil
}

// Excerpt is the end of the failed step's log or, when the log cannot be read, the TaskRun's
// failure message and the step's termination message. Secret values are masked; when they
// cannot all be read, nothing is shown (Withheld says why).
type Excerpt struct {
	Step     string
	Text     string
	FromLog  bool
	Missing  string // why the log could not be read
	Withheld string // why nothing is shown: a secret that may be in the log could not be read
}

var errNoPod = errors.New("the task has no pod")

// secretReadTimeout bounds reading the secrets to mask: past it, nothing is shown.
const secretReadTimeout = 10 * time.Second

// withheldMessage replaces what a step wrote when the secrets to mask it could not be read.
const withheldMessage = "(withheld with the log: its secrets could not be read to mask them)"

// attachExcerpt reads the failed step's log once per report, falling back to the failure
// messages, and masks every secret the run's pods could see in the excerpt, the messages and
// the diagnostics. It fails closed: when any of those secrets cannot be read, the excerpt is
// withheld and so is everything the step wrote.
func (c *Controller) attachExcerpt(ctx context.Context, r *Report) {
	if r.Phase != PhaseFailed || r.Excerpt != nil {
		return
	}
	ex := &Excerpt{Step: cmp.Or(r.FailedStep, r.FailedTask)}
	r.Excerpt = ex
	loc, err := c.resolveFailedStep(ctx, r)
	var m *masker
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, secretReadTimeout)
		m, err = c.secretsToMask(sctx, r.Repo, r.Namespace, loc)
		cancel()
	}
	if err != nil {
		c.Log.Warn("log excerpt withheld: secrets to mask cannot be read", zap.String("namespace", r.Namespace),
			zap.String("pipelinerun", r.PipelineRun), zap.Error(err))
		ex.Withheld = err.Error()
		r.FailureMessage = ""
		for i := range r.Diagnostics {
			r.Diagnostics[i].Message = withheldMessage
		}
		return
	}
	var text string
	err = errNoPod
	if loc.pod != "" && loc.container != "" {
		text, err = c.Logs.TailLog(ctx, loc.namespace, loc.pod, loc.container, c.LogLines)
	}
	if err == nil && strings.TrimSpace(text) != "" {
		ex.Text, ex.FromLog = m.mask(text), true
	} else {
		if err == nil {
			err = errors.New("the log is empty")
		}
		c.Log.Info("failed step's log unavailable, using the failure message", zap.String("namespace", r.Namespace),
			zap.String("pipelinerun", r.PipelineRun), zap.String("pod", loc.pod), zap.Error(err))
		ex.Missing = m.mask(err.Error())
		ex.Text = m.mask(strings.TrimSpace(r.FailureMessage + "\n" + loc.message))
		if ex.Text == "" {
			ex.Text = "(no message)"
		}
	}
	r.FailureMessage = m.mask(r.FailureMessage)
	for i := range r.Diagnostics {
		d := &r.Diagnostics[i]
		d.Message, d.Path = m.mask(d.Message), m.mask(d.Path)
	}
}

// resolveFailedStep finds the pod of the failed step: the TaskRun's own, or for a CustomRun the
// pod of the TaskRun it mirrors in the builds namespace.
func (c *Controller) resolveFailedStep(ctx context.Context, r *Report) (failedStep, error) {
	loc := r.failed
	if loc.mirrored == "" {
		return loc, nil
	}
	ns, name, ok := strings.Cut(loc.mirrored, "/")
	if !ok {
		return loc, nil
	}
	tr, err := c.Tekton.TektonV1().TaskRuns(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return loc, nil // gone with its pod: the messages are all there is
	}
	if err != nil {
		return loc, fmt.Errorf("read build taskrun %s: %w", loc.mirrored, err)
	}
	loc.namespace, loc.pod = ns, tr.Status.PodName
	for _, st := range tr.Status.Steps {
		if t := st.Terminated; t != nil && t.ExitCode != 0 {
			r.FailedStep, loc.container, loc.message = st.Name, cmp.Or(st.Container, "step-"+st.Name), t.Message
			break
		}
	}
	return loc, nil
}
