package reporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/config"
)

const (
	testSHA  = "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"
	nextSHA  = "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
	testNS   = "pr-shop-1"
	testRepo = "acme/shop"
)

// fixtureNow is when reports in golden files are built.
var fixtureNow = time.Date(2026, 11, 28, 12, 34, 0, 0, time.UTC)

func testConfig(t testing.TB) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(`
github:
  appID: 1
  privateKeyFile: /etc/catalyst/key.pem
  webhookSecretFiles: [/etc/catalyst/webhook-secret]
  detailsURL: https://tekton.example.com/#/namespaces/{namespace}/pipelineruns/{pipelinerun}
preview:
  domain: preview.example.com
  registry: registry.example.com/previews
repositories:
  - name: acme/shop
    chartPath: deploy/chart
    secrets: [shop-db]
`))
	assert.NilError(t, err)
	return c
}

// decode reads a YAML fixture strictly into a new object and merges the fragments into it:
// maps merge, lists and scalars replace.
func decode[T any](t testing.TB, base string, fragments ...string) *T {
	t.Helper()
	var obj T
	assert.NilError(t, yaml.UnmarshalStrict([]byte(base), &obj))
	for _, f := range fragments {
		assert.NilError(t, yaml.Unmarshal([]byte(f), &obj))
	}
	return &obj
}

const namespaceYAML = `
apiVersion: v1
kind: Namespace
metadata:
  name: pr-shop-1
  labels: {catalyst.dev/managed: "true", catalyst.dev/repo: acme.shop, catalyst.dev/pr: "1", catalyst.dev/sha: 4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d}
  annotations:
    catalyst.dev/repo-full: acme/shop
    catalyst.dev/head-sha: 4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d
    catalyst.dev/installation-id: "INSTALLATION"
    catalyst.dev/pr-url: https://github.com/acme/shop/pull/1
    catalyst.dev/preview-url: https://1-shop.preview.example.com
    catalyst.dev/preview-host: 1-shop.preview.example.com
    catalyst.dev/pr-state: open
    catalyst.dev/head-seen-at: "2026-11-28T12:29:50Z"
`

func namespace(t testing.TB, installation int64, fragments ...string) *corev1.Namespace {
	return decode[corev1.Namespace](t, strings.Replace(namespaceYAML, "INSTALLATION", fmt.Sprint(installation), 1), fragments...)
}

// runYAML is the first attempt at testSHA as the trigger creates it.
const runYAML = `
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: deploy-4f1c2d3e5a6b-1
  namespace: pr-shop-1
  creationTimestamp: "2026-11-28T12:30:00Z"
  labels: {catalyst.dev/managed: "true", catalyst.dev/kind: deploy, catalyst.dev/repo: acme.shop, catalyst.dev/pr: "1", catalyst.dev/sha: 4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d}
  annotations:
    catalyst.dev/repo-full: acme/shop
    catalyst.dev/attempt: "1"
    catalyst.dev/cause: event
    catalyst.dev/queued-at: "2026-11-28T12:30:00Z"
    catalyst.dev/event-at: "2026-11-28T12:29:50Z"
spec:
  pipelineRef: {name: catalyst-preview}
`

// Run states, as fragments over runYAML.
const (
	runPending = `
metadata: {annotations: {catalyst.dev/queue-position: "3"}}
spec: {status: PipelineRunPending}
status: {conditions: [{type: Succeeded, status: Unknown, reason: PipelineRunPending}]}`
	runRunning = `
spec: {status: ""}
status: {startTime: "2026-11-28T12:31:00Z", conditions: [{type: Succeeded, status: Unknown, reason: Running}]}`
	runSucceeded = `
status:
  startTime: "2026-11-28T12:31:00Z"
  completionTime: "2026-11-28T12:33:10Z"
  conditions: [{type: Succeeded, status: "True", reason: Succeeded}]
  results: [{name: url, value: https://1-shop.preview.example.com}]`
	runFailed = `
status:
  startTime: "2026-11-28T12:31:00Z"
  completionTime: "2026-11-28T12:32:30Z"
  conditions: [{type: Succeeded, status: "False", reason: Failed, message: "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1"}]
  skippedTasks: [{name: healthcheck, reason: Parent Tasks were skipped}]`
	runCancelled = `
spec: {status: Cancelled}
status:
  startTime: "2026-11-28T12:31:00Z"
  completionTime: "2026-11-28T12:31:40Z"
  conditions: [{type: Succeeded, status: "False", reason: Cancelled, message: PipelineRun was cancelled}]`
	classApplication = `metadata: {annotations: {catalyst.dev/failure-class: application}}`
	classInfra       = `metadata: {annotations: {catalyst.dev/failure-class: infrastructure, catalyst.dev/retry-after: "2026-11-28T12:33:30Z"}}`
	supersededBy     = `metadata: {annotations: {catalyst.dev/stop-reason: superseded, catalyst.dev/superseded-by: 9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b}}`
	closedStop       = `metadata: {annotations: {catalyst.dev/stop-reason: closed}}`
	userStop         = `metadata: {annotations: {catalyst.dev/stop-reason: cancelled-by-user}}`
)

func pipelineRun(t testing.TB, fragments ...string) *pipelinev1.PipelineRun {
	return decode[pipelinev1.PipelineRun](t, runYAML, fragments...)
}

// taskRun is the TaskRun of one pipeline task of deploy-4f1c2d3e5a6b-1 in a state.
func taskRun(t testing.TB, task, state string) *pipelinev1.TaskRun {
	return decode[pipelinev1.TaskRun](t, fmt.Sprintf(`
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: deploy-4f1c2d3e5a6b-1-%[1]s
  namespace: pr-shop-1
  labels: {catalyst.dev/managed: "true", tekton.dev/pipelineRun: deploy-4f1c2d3e5a6b-1, tekton.dev/pipelineTask: %[1]s}
spec:
  taskRef: {name: catalyst-%[1]s}
`, task), state)
}

// TaskRun states. Start and end times are minutes past 12:3x.
func trRunning(start string) string {
	return fmt.Sprintf(`status: {podName: pod-x, startTime: "2026-11-28T12:%s:00Z", conditions: [{type: Succeeded, status: Unknown, reason: Running}]}`, start)
}

func trSucceeded(start, end string) string {
	return fmt.Sprintf(`status: {podName: pod-x, startTime: "2026-11-28T12:%s:00Z", completionTime: "2026-11-28T12:%s:00Z", conditions: [{type: Succeeded, status: "True", reason: Succeeded}]}`, start, end)
}

func trFailed(pod, reason, message string) string {
	return fmt.Sprintf(`
status:
  podName: %s
  startTime: "2026-11-28T12:31:40Z"
  completionTime: "2026-11-28T12:32:30Z"
  conditions: [{type: Succeeded, status: "False", reason: %s, message: '%s'}]
  steps:
  - {name: fetch, container: step-fetch, terminated: {exitCode: 0, reason: Completed}}
  - {name: helm, container: step-helm, terminated: {exitCode: 3, reason: Error, message: 'helm: UPGRADE FAILED'}}`, pod, reason, message)
}

// fakeLogs serves pod logs from a map, or an error.
type fakeLogs struct {
	mu    sync.Mutex
	logs  map[string]string // "pod/container"
	reads int
}

func (f *fakeLogs) TailLog(_ context.Context, _, pod, container string, lines int64) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	text, ok := f.logs[pod+"/"+container]
	if !ok {
		return "", errors.New("pods \"" + pod + "\" not found")
	}
	all := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(all[max(0, len(all)-int(lines)):], "\n") + "\n", nil
}

func (f *fakeLogs) set(pod, container, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logs == nil {
		f.logs = map[string]string{}
	}
	f.logs[pod+"/"+container] = text
}

var _ LogReader = (*fakeLogs)(nil)

func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}
