package preview_test

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/preview/previewtest"
)

func TestEnvironmentState(t *testing.T) {
	running := func(children string) string {
		return "startTime: \"2026-11-30T10:00:02Z\"\nconditions:\n- {type: Succeeded, status: Unknown, reason: Running}\n" + children
	}
	tests := map[string]struct {
		fixture string
		state   preview.State
		reason  string
	}{
		"a gate holds the head": {
			fixture: previewtest.NamespaceYAML("catalyst.dev/gate: approval"),
			state:   preview.StateWaiting, reason: "/ok-to-test",
		},
		"no run yet": {
			fixture: previewtest.NamespaceYAML(),
			state:   preview.StateQueued, reason: "has not created a run",
		},
		"queued behind others": {
			fixture: previewtest.Docs(previewtest.NamespaceYAML(), previewtest.RunYAML("deploy-1", 1, "catalyst.dev/queue-position: \"3\"", "conditions:\n- {type: Succeeded, status: Unknown, reason: PipelineRunPending}")),
			state:   preview.StateQueued, reason: "position 3",
		},
		"building": {
			fixture: previewtest.Docs(previewtest.NamespaceYAML(), previewtest.RunYAML("deploy-1", 1, "", running("childReferences:\n- {apiVersion: tekton.dev/v1, kind: TaskRun, name: run-build, pipelineTaskName: build}"))),
			state:   preview.StateBuilding, reason: "task build running",
		},
		"deploying": {
			fixture: previewtest.Docs(previewtest.NamespaceYAML(), previewtest.RunYAML("deploy-1", 1, "", running(previewtest.ChildrenAll))),
			state:   preview.StateDeploying, reason: "task healthcheck running",
		},
		"ready": {
			fixture: previewtest.Docs(previewtest.NamespaceYAML(), previewtest.RunYAML("deploy-1", 1, "", "conditions:\n- {type: Succeeded, status: \"True\", reason: Succeeded}\nresults:\n- {name: url, value: \"https://42-shop.preview.example.com\"}")),
			state:   preview.StateReady, reason: "deployed aaaaaaa",
		},
		"failed, latest attempt counts": {
			fixture: previewtest.Docs(previewtest.NamespaceYAML(),
				previewtest.RunYAML("deploy-1", 1, "", "conditions:\n- {type: Succeeded, status: \"True\", reason: Succeeded}"),
				previewtest.RunYAML("deploy-2", 2, "catalyst.dev/failure-class: application", "conditions:\n- {type: Succeeded, status: \"False\", reason: Failed, message: \"Tasks Completed: 2 (Failed: 1)\"}")),
			state: preview.StateFailed, reason: "Tasks Completed: 2 (Failed: 1)",
		},
		"stopped by /cancel": {
			fixture: previewtest.Docs(previewtest.NamespaceYAML(), previewtest.RunYAML("deploy-1", 1, "catalyst.dev/stop-reason: cancelled-by-user", "conditions:\n- {type: Succeeded, status: \"False\", reason: Cancelled}")),
			state:   preview.StateStopped, reason: "cancelled-by-user",
		},
		"closed": {
			fixture: previewtest.NamespaceYAML("catalyst.dev/pr-state: merged"),
			state:   preview.StateCleaning, reason: "pull request merged",
		},
		"removal requested": {
			fixture: previewtest.NamespaceYAML("catalyst.dev/remove-sha: "+previewtest.Head, "catalyst.dev/remove-by: alice", "catalyst.dev/remove-reason: delete"),
			state:   preview.StateCleaning, reason: "removal requested by alice (delete)",
		},
		"removal superseded by a push": {
			fixture: previewtest.NamespaceYAML("catalyst.dev/remove-sha: bbbb", "catalyst.dev/remove-by: alice", "catalyst.dev/remove-reason: delete"),
			state:   preview.StateQueued,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := previewtest.Parse(t, tc.fixture)
			e := preview.EnvironmentOf(o.Namespace(), o.PipelineRuns)
			assert.Equal(t, e.State, tc.state)
			if tc.reason != "" {
				assert.Check(t, is.Contains(e.Reason, tc.reason))
			}
			assert.Equal(t, e.Repo, "acme/shop")
			assert.Equal(t, e.PR, 42)
		})
	}
}

func TestRunTasks(t *testing.T) {
	o := previewtest.Parse(t, previewtest.Docs(previewtest.NamespaceYAML(),
		previewtest.RunYAML("deploy-1", 1, "", "conditions:\n- {type: Succeeded, status: \"False\", reason: Failed}\n"+previewtest.ChildrenAll),
		previewtest.TaskRunYAML("run-build", "build", "conditions:\n- {type: Succeeded, status: \"True\", reason: Succeeded}\nstartTime: \"2026-11-30T10:00:02Z\"\ncompletionTime: \"2026-11-30T10:01:02Z\""),
		previewtest.TaskRunYAML("run-deploy", "deploy", `conditions:
- {type: Succeeded, status: "False", reason: StepFailed, message: "\"step-deploy\" exited with code 1"}
podName: run-deploy-pod
steps:
- {name: deploy, container: step-deploy, terminated: {exitCode: 1, reason: Error}}
results:
- name: diagnostics
  type: string
  value: '[{"kind":"template","path":"chart/templates/deployment.yaml","line":12,"message":"nil pointer"}]'`),
	))
	r := preview.RunOf(o.PipelineRuns[0], o.Children())
	assert.Equal(t, r.State, preview.RunFailed)
	assert.Equal(t, r.Message, `task deploy failed: "step-deploy" exited with code 1`)
	var states []string
	for _, tk := range r.Tasks {
		states = append(states, tk.Name+"="+tk.State)
	}
	assert.DeepEqual(t, states, []string{"build=succeeded", "deploy=failed", "healthcheck=pending"})
	assert.Equal(t, len(r.Tasks[1].Diagnostics), 1)
	assert.Equal(t, *r.Tasks[1].Steps[0].ExitCode, int32(1))
}
