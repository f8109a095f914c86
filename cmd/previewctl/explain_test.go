package main

import (
	"bytes"
	"testing"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"

	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/preview/previewtest"
)

// pendingYAML is a pending record of acme/shop#42 with extra annotations.
func pendingYAML(extra ...string) string {
	lines := ""
	for _, e := range extra {
		lines += "    " + e + "\n"
	}
	return `apiVersion: v1
kind: ConfigMap
metadata:
  name: pr-shop-42
  namespace: catalyst-system
  labels:
    catalyst.dev/pending-record: "true"
    catalyst.dev/pr: "42"
  annotations:
    catalyst.dev/repo-full: acme/shop
    catalyst.dev/head-sha: ` + previewtest.Head + `
    catalyst.dev/pr-state: open
    catalyst.dev/author: mallory
    catalyst.dev/author-association: CONTRIBUTOR
    catalyst.dev/last-event: "2026-11-30T10:00:00Z"
` + lines
}

const (
	failed    = "conditions:\n- {type: Succeeded, status: \"False\", reason: Failed, message: \"Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1\"}\n"
	succeeded = "conditions:\n- {type: Succeeded, status: \"True\", reason: Succeeded}\nresults:\n- {name: url, value: \"https://42-shop.preview.example.com\"}\n"
	buildOnly = "childReferences:\n- {apiVersion: tekton.dev/v1, kind: TaskRun, name: run-build, pipelineTaskName: build}\n"
	running   = "startTime: \"2026-11-30T10:00:02Z\"\nconditions:\n- {type: Succeeded, status: Unknown, reason: Running}\n"
)

func deployFailed(name string) string {
	return previewtest.TaskRunYAML(name, name[len("run-"):], `conditions:
- {type: Succeeded, status: "False", reason: StepFailed, message: "\"step-`+name[len("run-"):]+`\" exited with code 1"}
podName: `+name+`-pod
steps:
- {name: `+name[len("run-"):]+`, container: step-`+name[len("run-"):]+`, terminated: {exitCode: 1, reason: Error}}
results:
- name: diagnostics
  type: string
  value: '[{"kind":"template","path":"chart/templates/deployment.yaml","line":12,"message":"nil pointer evaluating .Values.image.tag"}]'`)
}

// TestExplainGolden renders explain for each link of the chain that can break (and the
// unbroken chain), from the objects Kubernetes would hold.
func TestExplainGolden(t *testing.T) {
	ns := previewtest.NamespaceYAML
	run := previewtest.RunYAML
	tests := map[string]struct {
		fixture    string
		unreadable string
		stop       string
	}{
		"no-record":          {stop: preview.LinkDelivery},
		"unreadable":         {unreadable: "you may not read its namespace or pending records in catalyst-system", stop: preview.LinkDelivery},
		"unconfigured":       {fixture: pendingYAML("catalyst.dev/gate: unconfigured"), stop: preview.LinkConfigured},
		"closed":             {fixture: ns("catalyst.dev/pr-state: closed", "catalyst.dev/closed-at: \"2026-11-30T11:00:00Z\""), stop: preview.LinkOpen},
		"removed":            {fixture: pendingYAML("catalyst.dev/gate: removed", "catalyst.dev/remove-sha: "+previewtest.Head, "catalyst.dev/remove-by: alice", "catalyst.dev/remove-reason: delete", "catalyst.dev/remove-at: \"2026-11-30T11:00:00Z\""), stop: preview.LinkNotRemoved},
		"approval":           {fixture: pendingYAML("catalyst.dev/gate: approval"), stop: preview.LinkTrusted},
		"approval-checking":  {fixture: pendingYAML("catalyst.dev/gate: approval", "catalyst.dev/approval-request-by: bob"), stop: preview.LinkTrusted},
		"draft":              {fixture: ns("catalyst.dev/gate: draft"), stop: preview.LinkRules},
		"label":              {fixture: ns("catalyst.dev/gate: label"), stop: preview.LinkRules},
		"cancelled":          {fixture: ns("catalyst.dev/cancel-sha: " + previewtest.Head), stop: preview.LinkNotStopped},
		"no-run":             {fixture: ns(), stop: preview.LinkRun},
		"queued":             {fixture: previewtest.Docs(ns(), run("deploy-aaaaaaaaaaaa-1", 1, "catalyst.dev/queue-position: \"4\"", "conditions:\n- {type: Succeeded, status: Unknown, reason: PipelineRunPending}")), stop: preview.LinkQueue},
		"running":            {fixture: previewtest.Docs(ns(), run("deploy-aaaaaaaaaaaa-1", 1, "", running+buildOnly)), stop: preview.LinkPipeline},
		"failed-application": {fixture: previewtest.Docs(ns(), run("deploy-aaaaaaaaaaaa-1", 1, "catalyst.dev/failure-class: application", failed+previewtest.ChildrenAll), deployFailed("run-deploy")), stop: preview.LinkPipeline},
		"failed-infrastructure": {fixture: previewtest.Docs(ns(), run("deploy-aaaaaaaaaaaa-2", 2, "catalyst.dev/failure-class: infrastructure\ncatalyst.dev/retry-after: \"2026-11-30T12:01:00Z\"",
			"conditions:\n- {type: Succeeded, status: \"False\", reason: Failed, message: \"TaskRun run-build: pod evicted\"}\n"+previewtest.ChildrenAll)), stop: preview.LinkPipeline},
		"health-failed": {fixture: previewtest.Docs(ns(), run("deploy-aaaaaaaaaaaa-1", 1, "catalyst.dev/failure-class: application", failed+previewtest.ChildrenAll), deployFailed("run-healthcheck")), stop: preview.LinkHealth},
		"stopped":       {fixture: previewtest.Docs(ns(), run("deploy-aaaaaaaaaaaa-1", 1, "catalyst.dev/stop-reason: superseded", "conditions:\n- {type: Succeeded, status: \"False\", reason: Cancelled}")), stop: preview.LinkPipeline},
		"ready":         {fixture: previewtest.Docs(ns(), run("deploy-aaaaaaaaaaaa-1", 1, "", succeeded+previewtest.ChildrenAll))},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := previewtest.Parse(t, tc.fixture)
			in := preview.ExplainInput{Ref: preview.Ref{Repo: "acme/shop", Number: 42}, Namespace: o.Namespace(), Pending: o.ConfigMap(),
				Runs: o.PipelineRuns, Children: o.Children(), Unreadable: tc.unreadable, Now: testNow}
			e := preview.Explain(in)
			assert.Equal(t, e.Stop, tc.stop)
			if tc.stop != "" {
				last := e.Links[len(e.Links)-1]
				assert.Equal(t, last.Name, tc.stop)
				assert.Assert(t, last.Status != preview.LinkOK)
				assert.Assert(t, e.Fix != "")
			}
			var out bytes.Buffer
			assert.NilError(t, printer{format: "table", out: &out, now: testNow}.print(&e))
			golden.Assert(t, out.String(), "explain/"+name+".golden")
		})
	}
}
