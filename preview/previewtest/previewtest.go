// Package previewtest builds the Kubernetes objects of preview environments from inline YAML,
// for the tests of the query layer and of the surfaces over it (previewctl, console, MCP).
package previewtest

import (
	"fmt"
	"strings"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	pipelinev1beta1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/preview"
)

// Objects are the objects of a fixture, by kind.
type Objects struct {
	Namespaces   []*corev1.Namespace
	ConfigMaps   []*corev1.ConfigMap
	PipelineRuns []*pipelinev1.PipelineRun
	TaskRuns     []*pipelinev1.TaskRun
	CustomRuns   []*pipelinev1beta1.CustomRun
}

// Namespace is the first namespace, nil when there is none.
func (o Objects) Namespace() *corev1.Namespace {
	if len(o.Namespaces) == 0 {
		return nil
	}
	return o.Namespaces[0]
}

// ConfigMap is the first ConfigMap (a pending record), nil when there is none.
func (o Objects) ConfigMap() *corev1.ConfigMap {
	if len(o.ConfigMaps) == 0 {
		return nil
	}
	return o.ConfigMaps[0]
}

// Children are the TaskRuns and CustomRuns read as tasks, by name (as preview.RunOf takes them).
func (o Objects) Children() map[string]preview.Task {
	out := map[string]preview.Task{}
	for _, tr := range o.TaskRuns {
		out[tr.Name] = preview.TaskOf(tr)
	}
	return out
}

// Parse decodes multi-document YAML strictly; every document needs its kind.
func Parse(t testing.TB, docs string) Objects {
	t.Helper()
	var o Objects
	for i, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("fixture document %d: %v", i, err)
		}
		var obj any
		switch meta.Kind {
		case "Namespace":
			ns := &corev1.Namespace{}
			o.Namespaces, obj = append(o.Namespaces, ns), ns
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			o.ConfigMaps, obj = append(o.ConfigMaps, cm), cm
		case "PipelineRun":
			pr := &pipelinev1.PipelineRun{}
			o.PipelineRuns, obj = append(o.PipelineRuns, pr), pr
		case "TaskRun":
			tr := &pipelinev1.TaskRun{}
			o.TaskRuns, obj = append(o.TaskRuns, tr), tr
		case "CustomRun":
			cr := &pipelinev1beta1.CustomRun{}
			o.CustomRuns, obj = append(o.CustomRuns, cr), cr
		default:
			t.Fatalf("fixture document %d: unsupported kind %q", i, meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("fixture document %d (%s): %v", i, meta.Kind, err)
		}
	}
	return o
}

// Inline YAML pieces of an environment, acme/shop#42 in namespace pr-shop-42 (Tekton's own
// tests write fixtures this way).

// Head is the head commit of the fixtures.
const Head = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// NamespaceYAML is a PR namespace of acme/shop#42; extra "key: value" annotations are added or replace.
func NamespaceYAML(extraAnnotations ...string) string {
	base := namespaceBase
	for _, kv := range extraAnnotations {
		key, _, _ := strings.Cut(kv, ":")
		var kept []string
		for _, line := range strings.Split(base, "\n") {
			if !strings.HasPrefix(line, "    "+key+":") {
				kept = append(kept, line)
			}
		}
		base = strings.Join(kept, "\n")
	}
	return base + indent(extraAnnotations, "    ")
}

const namespaceBase = `apiVersion: v1
kind: Namespace
metadata:
  name: pr-shop-42
  creationTimestamp: "2026-11-30T10:00:00Z"
  labels:
    catalyst.dev/managed: "true"
    catalyst.dev/pr: "42"
    catalyst.dev/repo: acme.shop
  annotations:
    catalyst.dev/repo-full: acme/shop
    catalyst.dev/pr-url: https://github.com/acme/shop/pull/42
    catalyst.dev/head-sha: ` + Head + `
    catalyst.dev/head-seen-at: "2026-11-30T10:00:00Z"
    catalyst.dev/pr-state: open
    catalyst.dev/author: octocat
    catalyst.dev/author-association: MEMBER
    catalyst.dev/preview-url: https://42-shop.preview.example.com
    catalyst.dev/last-event: "2026-11-30T10:00:00Z"
`

// RunYAML is a deploy PipelineRun of head; status is YAML under status: (conditions, children...).
func RunYAML(name string, attempt int, annotations, status string) string {
	spec := ""
	if strings.Contains(status, "PipelineRunPending") {
		spec = "\n  status: PipelineRunPending"
	}
	return fmt.Sprintf(`apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: %s
  namespace: pr-shop-42
  creationTimestamp: "2026-11-30T10:00:01Z"
  labels:
    catalyst.dev/managed: "true"
    catalyst.dev/sha: %s
    catalyst.dev/kind: deploy
  annotations:
    catalyst.dev/attempt: "%d"
%s
spec:
  pipelineRef:
    name: catalyst-preview%s
status:
%s`, name, Head, attempt, indent(strings.Split(annotations, "\n"), "    "), spec, indent(strings.Split(status, "\n"), "  "))
}

// ChildrenAll are the three tasks of the preview pipeline, all created, for RunYAML's status.
const ChildrenAll = `childReferences:
- {apiVersion: tekton.dev/v1, kind: TaskRun, name: run-build, pipelineTaskName: build}
- {apiVersion: tekton.dev/v1, kind: TaskRun, name: run-deploy, pipelineTaskName: deploy}
- {apiVersion: tekton.dev/v1, kind: TaskRun, name: run-healthcheck, pipelineTaskName: healthcheck}
pipelineSpec:
  tasks:
  - {name: build, taskRef: {name: build}}
  - {name: deploy, taskRef: {name: deploy}}
  - {name: healthcheck, taskRef: {name: healthcheck}}`

// TaskRunYAML is a TaskRun of task with one step; status YAML as for RunYAML.
func TaskRunYAML(name, task, status string) string {
	return fmt.Sprintf(`apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: %s
  namespace: pr-shop-42
  labels:
    tekton.dev/pipelineTask: %s
spec:
  taskRef:
    name: %s
status:
%s`, name, task, task, indent(strings.Split(status, "\n"), "  "))
}

func indent(lines []string, prefix string) string {
	var b strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

// Docs joins YAML documents.
func Docs(d ...string) string { return strings.Join(d, "\n---\n") }
