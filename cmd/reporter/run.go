package main

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/catalyst-preview/catalyst/cmd/internal/setup"
	"github.com/catalyst-preview/catalyst/reporter"
)

func run(ctx context.Context, o options) error {
	b, err := setup.NewBase(o.ControllerOptions, "catalyst-reporter")
	if err != nil {
		return err
	}
	defer b.Close()
	events := record.NewBroadcaster(record.WithContext(ctx))
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: b.Kube.CoreV1().Events("")})
	defer events.Shutdown()
	controller := reporter.NewController(reporter.Deps{
		Kube: b.Kube, Tekton: b.Tekton, GitHub: reporter.ClientsFrom(b.GitHub), Config: b.Config, Log: b.Log,
		Recorder: events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "catalyst-reporter"}),
		Metrics:  reporter.NewMetrics(b.Registry), LogLines: o.LogLines, ClassifyWait: o.ClassifyWait, StuckAfter: o.StuckAfter,
		ProgressInterval: progress(o.ProgressInterval), CommentOnly: b.GitHub.TokenMode(),
		Usage: &reporter.UsagePoller{Kube: b.Kube, Interval: o.UsageInterval, Log: b.Log.Named("usage")},
	})
	return setup.RunController(ctx, o.ControllerOptions, b.Kube, setup.NewMux(b.Kube, b.Registry), b.Log,
		func(ctx context.Context) error { return controller.Run(ctx, o.Workers) })
}

// progress maps the flag's 0 (off) to the controller's negative.
func progress(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
