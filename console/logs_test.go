package console

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// sseEvent is one Server-Sent Event as a browser's EventSource sees it.
type sseEvent struct{ id, name, data string }

func parseSSE(t *testing.T, body string) []sseEvent {
	t.Helper()
	var out []sseEvent
	for _, block := range strings.Split(body, "\n\n") {
		var e sseEvent
		for _, line := range strings.Split(block, "\n") {
			switch k, v, _ := strings.Cut(line, ": "); k {
			case "id":
				e.id = v
			case "event":
				e.name = v
			case "data":
				e.data = v
			}
		}
		if e.name != "" {
			out = append(out, e)
		}
	}
	return out
}

// When a task's pod is gone, the live view says so and shows what the TaskRun kept, labelled
// with the task, and then ends; the download says the same as plain text.
func TestLogStreamWhenThePodIsGone(t *testing.T) {
	f := newFixture(t)
	f.podGone(t, "run-deploy")
	resp := f.do(http.MethodGet, "/environments/pr-shop-42/logs/stream?task=deploy", nil, "text/event-stream")
	assert.Equal(t, resp.StatusCode, http.StatusOK)
	assert.Check(t, is.Equal(resp.Header.Get("Content-Type"), "text/event-stream"))
	events := parseSSE(t, readAll(t, resp))
	assert.Assert(t, len(events) >= 2, "events: %+v", events)
	var lines []map[string]any
	for _, e := range events[:len(events)-1] {
		assert.Check(t, is.Equal(e.name, "lines"))
		var batch []map[string]any
		assert.NilError(t, json.Unmarshal([]byte(e.data), &batch))
		lines = append(lines, batch...)
	}
	assert.Assert(t, len(lines) > 0)
	assert.Check(t, is.Equal(lines[0]["task"], "deploy"))
	assert.Check(t, is.Equal(lines[0]["note"], true))
	assert.Check(t, is.Contains(lines[0]["line"], "is gone"))
	assert.Check(t, is.Contains(lines[0]["line"], "what the TaskRun kept"))
	last := events[len(events)-1]
	assert.Check(t, is.Equal(last.name, "end"))
	assert.Check(t, is.Contains(last.data, `"end of log"`), "not following: the end of the log, not of the run")
	assert.Check(t, is.Equal(events[len(events)-2].id, strconv.Itoa(len(lines))), "the last batch's id counts every line sent")

	resp = f.do(http.MethodGet, "/environments/pr-shop-42/logs/download?task=deploy", nil, "*/*")
	assert.Equal(t, resp.StatusCode, http.StatusOK)
	assert.Check(t, is.Equal(resp.Header.Get("Content-Disposition"), `attachment; filename="pr-shop-42.log"`))
	assert.Check(t, is.Contains(readAll(t, resp), "[note] "))
}

// A reconnecting EventSource sends Last-Event-ID and gets only the lines it has not seen.
func TestLogStreamResumes(t *testing.T) {
	f := newFixture(t)
	f.podGone(t, "run-deploy")
	all := parseSSE(t, readAll(t, f.do(http.MethodGet, "/environments/pr-shop-42/logs/stream?task=deploy", nil, "text/event-stream")))
	var total int
	for _, e := range all {
		if e.name == "lines" {
			var batch []json.RawMessage
			assert.NilError(t, json.Unmarshal([]byte(e.data), &batch))
			total += len(batch)
		}
	}
	assert.Assert(t, total >= 2, "the fixture's task has a few kept lines")
	req := f.request(http.MethodGet, "/environments/pr-shop-42/logs/stream?task=deploy", "text/event-stream")
	req.Header.Set("Last-Event-ID", "1")
	rest := parseSSE(t, readAll(t, f.serve(req)))
	var got []map[string]any
	for _, e := range rest {
		if e.name == "lines" {
			var batch []map[string]any
			assert.NilError(t, json.Unmarshal([]byte(e.data), &batch))
			got = append(got, batch...)
		}
	}
	assert.Check(t, is.Len(got, total-1))
	assert.Check(t, !strings.Contains(got[0]["line"].(string), "what the TaskRun kept"), "the first line is not sent again")
}

// The log form works without JavaScript, and unticking follow turns following off.
func TestLogFormFollow(t *testing.T) {
	f := newFixture(t)
	page := readAll(t, f.do(http.MethodGet, "/environments/pr-shop-42/logs", nil, html))
	assert.Check(t, is.Contains(page, `data-stream="/environments/pr-shop-42/logs/stream?follow=1"`), "following by default")
	assert.Check(t, is.Contains(page, `<input type="checkbox" name="follow" value="1" checked> follow</label><input type="hidden" name="follow" value="0">`),
		"the form says follow=0 when the box is unticked (an unticked box sends nothing, which means follow)")
	// an unticked checkbox sends nothing; the hidden field after it sends follow=0
	page = readAll(t, f.do(http.MethodGet, "/environments/pr-shop-42/logs?follow=0", nil, html))
	assert.Check(t, is.Contains(page, `data-stream="/environments/pr-shop-42/logs/stream?"`))
	// ticked: the checkbox's 1 comes before the hidden 0
	page = readAll(t, f.do(http.MethodGet, "/environments/pr-shop-42/logs?follow=1&follow=0", nil, html))
	assert.Check(t, is.Contains(page, `data-stream="/environments/pr-shop-42/logs/stream?follow=1"`))
}

// podGone gives a TaskRun of the fixture a pod, which does not exist (any more), and the
// steps' exits.
func (f *fixture) podGone(t *testing.T, taskRun string) {
	t.Helper()
	tr, err := f.tekton.TektonV1().TaskRuns("pr-shop-42").Get(t.Context(), taskRun, metav1.GetOptions{})
	assert.NilError(t, err)
	tr.Status.PodName = taskRun + "-pod"
	tr.Status.Steps = []pipelinev1.StepState{
		{Name: "deploy", Container: "step-deploy", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}},
		{Name: "report", Container: "step-report", ContainerState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}},
	}
	_, err = f.tekton.TektonV1().TaskRuns("pr-shop-42").UpdateStatus(t.Context(), tr, metav1.UpdateOptions{})
	assert.NilError(t, err)
}
