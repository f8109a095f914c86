package reporter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/catalyst-preview/catalyst/preview"
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
// failure message and the step's termination message. Secret values are masked.
type Excerpt struct {
	Step    string
	Text    string
	FromLog bool
	Missing string // why the log could not be read
}

// masked replaces secret values in logs.
const masked = "***"

// minSecretLen: shorter values would mask ordinary words; such secrets are not secret anyway.
const minSecretLen = 4

var errNoPod = errors.New("the TaskRun has no pod")

// attachExcerpt reads the failed step's log once per report, falling back to the failure
// message, and masks the repository's secret values in both the excerpt and the message.
func (c *Controller) attachExcerpt(ctx context.Context, r *Report) {
	if r.Phase != PhaseFailed || r.Excerpt != nil {
		return
	}
	ex := &Excerpt{Step: cmp.Or(r.FailedStep, r.FailedTask)}
	err := errNoPod
	var text string
	if r.failedPod != "" && r.failedContainer != "" {
		text, err = c.Logs.TailLog(ctx, r.Namespace, r.failedPod, r.failedContainer, c.LogLines)
	}
	if err == nil && strings.TrimSpace(text) != "" {
		ex.Text, ex.FromLog = text, true
	} else {
		if err == nil {
			err = errors.New("the log is empty")
		}
		c.Log.Info("failed step's log unavailable, using the failure message", zap.String("namespace", r.Namespace),
			zap.String("pipelinerun", r.PipelineRun), zap.String("pod", r.failedPod), zap.Error(err))
		ex.Missing = err.Error()
		ex.Text = strings.TrimSpace(r.FailureMessage + "\n" + r.failedStepMessage)
		if ex.Text == "" {
			ex.Text = "(no message)"
		}
	}
	secrets := c.secretValues(ctx, r.Namespace, r.Repo)
	ex.Text = mask(ex.Text, secrets)
	r.FailureMessage = mask(r.FailureMessage, secrets)
	r.Excerpt = ex
}

// secretValues are the values of the Secrets the repository's configuration lists, read from
// their copies in the PR namespace, and of the git token. Read on demand (failures only)
// rather than cached, so that the reporter holds no secrets in memory between failures.
func (c *Controller) secretValues(ctx context.Context, namespace, repo string) []string {
	names := []string{preview.GitTokenSecret}
	if rc, ok := c.Config.Repository(repo); ok {
		names = append(names, rc.Secrets...)
	}
	var values []string
	for _, name := range names {
		s, err := c.Kube.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue // not copied (yet): nothing of it can be in the log
		}
		if err != nil {
			c.Log.Warn("cannot read secret to mask", zap.String("namespace", namespace), zap.String("secret", name), zap.Error(err))
			continue
		}
		for _, v := range s.Data {
			values = append(values, secretForms(string(v))...)
		}
		for _, v := range s.StringData {
			values = append(values, secretForms(v)...)
		}
	}
	return values
}

// secretForms is a value as it may appear in a log: whole and, for multi-line values such as
// keys, line by line.
func secretForms(v string) []string {
	forms := []string{strings.TrimSpace(v)}
	if strings.Contains(forms[0], "\n") {
		for _, line := range strings.Split(forms[0], "\n") {
			forms = append(forms, strings.TrimSpace(line))
		}
	}
	return forms
}

// mask replaces every secret value (longest first, so that a value containing another is
// replaced whole) with ***.
func mask(text string, secrets []string) string {
	secrets = slices.DeleteFunc(slices.Clone(secrets), func(s string) bool { return len(s) < minSecretLen })
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, s := range secrets {
		text = strings.ReplaceAll(text, s, masked)
	}
	return text
}
