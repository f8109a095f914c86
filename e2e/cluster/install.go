package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	"github.com/catalyst-preview/catalyst/e2e/process"
)

// TektonVersion is the Tekton Pipelines release the harness runs (e2e/tools/tekton/go.mod); it
// must equal the root module's, which a test checks.
const TektonVersion = "v1.15.1"

// moduleDir returns the module cache folder of modulePath at the version required by the tool
// module e2e/tools/<tool> (downloading it if needed).
func moduleDir(ctx context.Context, root, tool, modulePath string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", modulePath)
	cmd.Dir = filepath.Join(root, "e2e", "tools", tool)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", modulePath, err, stderr.String())
	}
	var m struct{ Dir, Version string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", modulePath, err)
	}
	return m.Dir, nil
}

// installTekton applies, from the Tekton module the controller was built from, the namespace,
// the CRDs (server-side: they are too large for client-side apply; without their conversion
// webhook, as no webhook runs), the ConfigMaps and the aggregated edit/view ClusterRoles; and
// KWOK's Logs CRD from the KWOK module.
func (c *Cluster) installTekton(ctx context.Context, root string) error {
	tekton, err := moduleDir(ctx, root, "tekton", "github.com/tektoncd/pipeline")
	if err != nil {
		return err
	}
	kwok, err := moduleDir(ctx, root, "kwok", "sigs.k8s.io/kwok")
	if err != nil {
		return err
	}
	cfg := filepath.Join(tekton, "config")
	files := []string{filepath.Join(cfg, "100-namespace", "100-namespace.yaml")}
	crds, err := filepath.Glob(filepath.Join(cfg, "300-crds", "*.yaml"))
	if err != nil {
		return err
	}
	files = append(files, crds...)
	cms, err := filepath.Glob(filepath.Join(cfg, "config-*.yaml"))
	if err != nil {
		return err
	}
	files = append(files, cms...)
	files = append(files,
		filepath.Join(cfg, "clusterrole-aggregate-edit.yaml"),
		filepath.Join(cfg, "clusterrole-aggregate-view.yaml"),
		filepath.Join(kwok, "kustomize", "crd", "bases", "kwok.x-k8s.io_logs.yaml"),
	)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("install tekton: %w", err)
		}
		if err := c.apply(ctx, data, func(u *unstructured.Unstructured) {
			if u.GetKind() == "CustomResourceDefinition" {
				unstructured.RemoveNestedField(u.Object, "spec", "conversion")
			}
		}); err != nil {
			return fmt.Errorf("install %s: %w", f, err)
		}
	}
	// wait until the CRDs serve
	for _, gvr := range []schema.GroupVersionResource{
		{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"},
		{Group: "tekton.dev", Version: "v1", Resource: "taskruns"},
		{Group: "tekton.dev", Version: "v1", Resource: "pipelines"},
		{Group: "tekton.dev", Version: "v1", Resource: "tasks"},
		{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"},
	} {
		err := process.WaitUntil(ctx, gvr.Resource+" to be served", 30*time.Second, func(ctx context.Context) error {
			_, err := c.dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Apply server-side applies every object of a multi-document YAML (or JSON) manifest, with
// force, as field manager "catalyst-e2e". Objects without a namespace that need one go to
// "default".
func (c *Cluster) Apply(ctx context.Context, manifest []byte) error {
	return c.apply(ctx, manifest, nil)
}

func (c *Cluster) apply(ctx context.Context, manifest []byte, mutate func(*unstructured.Unstructured)) error {
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.kube.Discovery()))
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("apply: decode: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if mutate != nil {
			mutate(u)
		}
		gvk := u.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			mapper.Reset() // a CRD applied just before
			mapping, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
		if err != nil {
			return fmt.Errorf("apply %s %s: %w", gvk.Kind, u.GetName(), err)
		}
		data, err := json.Marshal(u)
		if err != nil {
			return err
		}
		force := true
		res := c.dyn.Resource(mapping.Resource)
		opts := metav1.PatchOptions{FieldManager: fieldManager, Force: &force}
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := u.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			_, err = res.Namespace(ns).Patch(ctx, u.GetName(), types.ApplyPatchType, data, opts)
		} else {
			_, err = res.Patch(ctx, u.GetName(), types.ApplyPatchType, data, opts)
		}
		if err != nil {
			return fmt.Errorf("apply %s %s: %w", gvk.Kind, u.GetName(), err)
		}
	}
}

// SetPodLogs makes `kubectl logs` (the API's pods/log) return text for one container of a pod.
// KWOK serves the logs: the harness writes text to a file in CRI log format and applies a KWOK
// Logs object naming the pod. Containers without logs set return a one-line placeholder. KWOK
// picks the Logs object up from a watch, so poll the pod log until it shows text.
func (c *Cluster) SetPodLogs(ctx context.Context, namespace, pod, container, text string) error {
	c.logsMu.Lock()
	defer c.logsMu.Unlock()
	key := namespace + "/" + pod
	file := filepath.Join(c.dir, "podlogs", fmt.Sprintf("%s_%s_%s.log", namespace, pod, container))
	if err := os.WriteFile(file, criLog(time.Now(), text), 0o644); err != nil {
		return fmt.Errorf("set pod logs: %w", err)
	}
	if c.podLogs[key] == nil {
		c.podLogs[key] = map[string]string{}
	}
	c.podLogs[key][container] = file
	var logs []any
	for _, name := range sortedKeys(c.podLogs[key]) {
		logs = append(logs, map[string]any{"containers": []any{name}, "logsFile": c.podLogs[key][name]})
	}
	obj := map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "Logs",
		"metadata":   map[string]any{"name": pod, "namespace": namespace},
		"spec":       map[string]any{"logs": logs},
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if err := c.apply(ctx, data, nil); err != nil {
		return fmt.Errorf("set pod logs %s container %s: %w", key, container, err)
	}
	return nil
}

// criLog renders text as container runtime (CRI) log lines, the format KWOK reads.
func criLog(t time.Time, text string) []byte {
	var b bytes.Buffer
	ts := t.UTC().Format(time.RFC3339Nano)
	for _, line := range strings.SplitAfter(text, "\n") {
		if line == "" {
			continue
		}
		tag := "F"
		if !strings.HasSuffix(line, "\n") {
			tag, line = "P", line+"\n" // a last line without newline is a partial line
		}
		fmt.Fprintf(&b, "%s stdout %s %s", ts, tag, line)
	}
	return b.Bytes()
}

// ignoreNotFound is a small helper for cleanups.
func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
