package step

import (
	"context"
	"io"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// Runner runs the step subcommands against one namespace.
type Runner struct {
	Kube *Clients
	Log  *zap.Logger
	// Out receives the report a developer reads in the step's log: Helm's notes, diagnostics.
	Out   io.Writer
	Clock clock.Clock
	// PodLogs reads a container's log; nil reads it through the API server. A test seam: the
	// fake clientset cannot fail a log read.
	PodLogs func(ctx context.Context, namespace, pod string, o *corev1.PodLogOptions) ([]byte, error)
}

// New returns a Runner using the real clock.
func New(kube *Clients, log *zap.Logger, out io.Writer) *Runner {
	return &Runner{Kube: kube, Log: log, Out: out, Clock: clock.RealClock{}}
}
