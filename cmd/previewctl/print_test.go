package main

import (
	"bytes"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/preview/previewtest"
)

var testNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func at(h, m int) time.Time { return time.Date(2026, 11, 30, h, m, 0, 0, time.UTC) }

func q(s string) resource.Quantity   { return resource.MustParse(s) }
func qp(s string) *resource.Quantity { v := resource.MustParse(s); return &v }

func sampleList() *preview.List {
	return &preview.List{Scope: preview.ScopeCluster, Items: []preview.Environment{
		{Namespace: "pr-shop-42", Repo: "acme/shop", PR: 42, PRURL: "https://github.com/acme/shop/pull/42", PRState: "open", Author: "octocat",
			HeadSHA: previewtest.Head, State: preview.StateReady, Reason: "deployed aaaaaaa", URL: "https://42-shop.preview.example.com",
			Created: at(9, 0), IdleSince: at(9, 0), LastActivity: at(9, 3), LatestRun: "deploy-aaaaaaaaaaaa-1",
			Usage: &preview.Usage{CPU: preview.Amount{Used: q("250m"), Hard: qp("4")}, Memory: preview.Amount{Used: q("256Mi"), Hard: qp("8Gi")}}},
		{Namespace: "pr-shop-43", Repo: "acme/shop", PR: 43, PRURL: "https://github.com/acme/shop/pull/43", PRState: "open", HeadSHA: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", State: preview.StateFailed,
			Reason: `task deploy failed: "step-deploy" exited with code 1`, Created: at(11, 0), IdleSince: at(11, 0), LastActivity: at(11, 55), Kept: true,
			Usage: &preview.Usage{CPU: preview.Amount{Used: q("4"), Hard: qp("4")}, Memory: preview.Amount{Used: q("1Gi"), Hard: qp("8Gi")},
				OverQuota: true, Exhausted: []string{"pods", "requests.cpu"}}},
		{Namespace: "pr-docs-7", Repo: "acme/docs", PR: 7, PRState: "open", State: preview.StateWaiting, Reason: "waiting for a collaborator's /ok-to-test",
			Gate: preview.GateApproval, Created: at(3, 0), IdleSince: at(3, 0), LastActivity: at(3, 0)},
	}}
}

func sampleDetail() *preview.Detail {
	e := sampleList().Items[1]
	exit := int32(1)
	started, buildDone, failed := at(11, 50), at(11, 52), at(11, 55)
	return &preview.Detail{Environment: e, Commands: []string{
		"tkn pipelinerun list -n pr-shop-43", "tkn pipelinerun describe deploy-bbbbbbbbbbbb-2 -n pr-shop-43", "tkn pipelinerun logs deploy-bbbbbbbbbbbb-2 -n pr-shop-43"},
		Runs: []preview.Run{
			{Name: "deploy-bbbbbbbbbbbb-2", Kind: preview.KindDeploy, SHA: e.HeadSHA, Attempt: 2, Cause: preview.CauseRetest, State: preview.RunFailed,
				Message: `task deploy failed: "step-deploy" exited with code 1`, Created: started, Started: &started, Finished: &failed,
				Tasks: []preview.Task{
					{Name: "build", State: preview.TaskSucceeded, Started: &started, Finished: &buildDone},
					{Name: "deploy", State: preview.TaskFailed, Message: `"step-deploy" exited with code 1`, Started: &buildDone, Finished: &failed,
						Steps:       []preview.Step{{Name: "deploy", Container: "step-deploy", State: "terminated", ExitCode: &exit, Reason: "Error"}},
						Diagnostics: []preview.Diagnostic{{Kind: preview.DiagnosticTemplate, Path: "chart/templates/deployment.yaml", Line: 12, Message: "nil pointer evaluating .Values.image.tag"}}},
					{Name: "healthcheck", State: preview.TaskSkipped, Reason: "PipelineRun was stopping"},
				}},
			{Name: "deploy-bbbbbbbbbbbb-1", Kind: preview.KindDeploy, SHA: e.HeadSHA, Attempt: 1, Cause: preview.CauseEvent, State: preview.RunCancelled,
				StopReason: preview.StopSuperseded, Created: at(11, 1), Started: ptr(at(11, 1)), Finished: ptr(at(11, 2))},
		}}
}

func ptr[T any](v T) *T { return &v }

func sampleGC() *preview.GCResult {
	l := sampleList()
	return &preview.GCResult{DryRun: true,
		Items:   []preview.GCItem{{Environment: l.Items[2], Reason: preview.GCIdle, Detail: "no push for 9h0m0s", Action: preview.GCWouldRemove}},
		Skipped: []preview.GCItem{{Environment: l.Items[1], Reason: preview.GCIdle, Detail: "no push for 9h0m0s", Action: preview.GCKept}}}
}

// TestOutputGolden renders every result type in every format: what users and scripts read.
func TestOutputGolden(t *testing.T) {
	values := map[string]any{
		"list":   sampleList(),
		"get":    sampleDetail(),
		"gc":     sampleGC(),
		"retry":  &preview.RetryResult{Namespace: "pr-shop-42", SHA: previewtest.Head, Nonce: "previewctl-0123456789abcdef"},
		"delete": &preview.DeleteResult{Namespace: "pr-shop-42", SHA: previewtest.Head, Stage: preview.DeleteGone},
		"keep":   &preview.KeepResult{Namespace: "pr-shop-42", Kept: true},
	}
	for name, v := range values {
		for _, format := range []string{"table", "json", "yaml"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				var out bytes.Buffer
				assert.NilError(t, printer{format: format, out: &out, now: testNow}.print(v))
				golden.Assert(t, out.String(), "output/"+name+"."+format)
			})
		}
	}
}
