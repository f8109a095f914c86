package steprunner

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tektonEntrypoint is the command Tekton gives every step container: its own entrypoint binary,
// which waits for the previous step, runs the real command and writes the termination message.
const tektonEntrypoint = "/tekton/bin/entrypoint"

// Step is one container of a pod, as the runner (or a Simulator) sees it.
type Step struct {
	Pod       *corev1.Pod
	Container corev1.Container // as in the pod's spec
	// Command is what the container runs, Tekton's entrypoint wrapper removed, with the
	// kubelet's $(VAR) expansion applied and paths inside the container's volumes moved to
	// their local folders: {"preview-step", "deploy", "--results-dir=/tmp/…/tekton-internal-results", …}.
	Command []string
	// Env is the container's environment (env and envFrom resolved, paths moved), NAME=value.
	Env []string
	// Timeout is the step's timeout (Tekton's -timeout); 0: none.
	Timeout time.Duration
	// Results are the task results the entrypoint collects after the step (Tekton's -results).
	Results []string
	// OnError is Tekton's -on_error: "continue" lets the next steps run after a failure.
	OnError string
	// WaitReady is set when the step must wait for the pod's tekton.dev/ready annotation
	// (Tekton's first step waits for the downward file that shows it).
	WaitReady bool
	// Dir is the working folder (the container's workingDir, moved), or the pod's root folder.
	Dir string

	mounts []mount // longest container path first
}

type mount struct {
	path  string // inside the container
	local string
}

// Local returns the local folder or file standing for a path inside the container, if the
// path is inside one of its volume mounts.
func (s *Step) Local(path string) (string, bool) {
	for _, m := range s.mounts {
		if path == m.path {
			return m.local, true
		}
		if rest, ok := strings.CutPrefix(path, m.path+"/"); ok {
			return filepath.Join(m.local, rest), true
		}
	}
	return "", false
}

// Getenv returns a variable of the step's environment.
func (s *Step) Getenv(name string) string {
	for _, kv := range s.Env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v
		}
	}
	return ""
}

// localize moves every path inside a volume mount to its local folder: a path counts where it
// starts the value or follows '=', ':' or ',' and ends the value or is followed by '/', ':' or
// ',' ("--source-dir=/workspace/source", "/tekton/results/url"). Other absolute paths stay the
// machine's own.
func (s *Step) localize(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); {
		if i == 0 || strings.IndexByte("=:,", v[i-1]) >= 0 {
			if m, ok := s.mountAt(v[i:]); ok {
				b.WriteString(m.local)
				i += len(m.path)
				continue
			}
		}
		b.WriteByte(v[i])
		i++
	}
	return b.String()
}

func (s *Step) mountAt(v string) (mount, bool) {
	for _, m := range s.mounts {
		rest, ok := strings.CutPrefix(v, m.path)
		if ok && (rest == "" || strings.IndexByte("/:,", rest[0]) >= 0) {
			return m, true
		}
	}
	return mount{}, false
}

// entrypointArgs reads what Tekton's entrypoint wrapper would do from the container's command
// and args (pkg/pod/entrypoint.go orderContainers): the real command after "-entrypoint" and
// "--", and the flags the runner honours. A container not wrapped by Tekton runs its command
// and args as they are.
func entrypointArgs(c corev1.Container) (cmd []string, timeout time.Duration, results []string, onError string, waitReady bool, err error) {
	if len(c.Command) != 1 || c.Command[0] != tektonEntrypoint {
		return append(append([]string{}, c.Command...), c.Args...), 0, nil, "", false, nil
	}
	args := c.Args
	var entry string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			cmd = args[i+1:]
			break
		}
		name := strings.TrimLeft(a, "-")
		value := ""
		switch name {
		case "wait_file_content", "breakpoint_on_failure", "debug_before_step", "enable_spire", "dont_send_results_to_termination_path":
			continue // boolean flags
		}
		if i+1 < len(args) {
			value = args[i+1]
			i++
		}
		switch name {
		case "entrypoint":
			entry = value
		case "timeout":
			if timeout, err = time.ParseDuration(value); err != nil {
				return nil, 0, nil, "", false, fmt.Errorf("entrypoint -timeout %q: %w", value, err)
			}
		case "results":
			results = strings.Split(value, ",")
		case "on_error":
			onError = value
		case "wait_file":
			waitReady = waitReady || strings.HasPrefix(value, "/tekton/downward/")
		}
	}
	if entry == "" {
		return nil, 0, nil, "", false, fmt.Errorf("container %s: Tekton entrypoint without -entrypoint (a step without command or script)", c.Name)
	}
	return append([]string{entry}, cmd...), timeout, results, onError, waitReady, nil
}

// expand applies the kubelet's $(VAR) expansion: $(NAME) becomes the variable's value when it
// is defined, $$ is a literal $, anything else stays as written.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteByte(s[i])
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// fieldValue resolves a downward API field of the pod, as the kubelet does.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	}
	return "", fmt.Errorf("downward API field %q is not supported by the e2e step runner", path)
}

func subscript(path, field string) (string, bool) {
	rest, ok := strings.CutPrefix(path, field+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// formatMap renders labels or annotations like the kubelet's downward API files: key="value"
// lines, sorted.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// env resolves the container's environment as the kubelet does: envFrom first, then env, each
// value expanded with the variables before it. Secrets and ConfigMaps are read with the
// runner's (kubelet's) rights.
func (r *Runner) env(ctx context.Context, pod *corev1.Pod, c corev1.Container) (map[string]string, []string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.SecretRef != nil:
			s, err := r.kube.CoreV1().Secrets(pod.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, nil, fmt.Errorf("envFrom secret %s: %w", from.SecretRef.Name, err)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		case from.ConfigMapRef != nil:
			cm, err := r.kube.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, nil, fmt.Errorf("envFrom configmap %s: %w", from.ConfigMapRef.Name, err)
			}
			data = cm.Data
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(from.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		v, err := r.envValue(ctx, pod, e, vars)
		if err != nil {
			return nil, nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		set(e.Name, v)
	}
	return vars, order, nil
}

func (r *Runner) envValue(ctx context.Context, pod *corev1.Pod, e corev1.EnvVar, vars map[string]string) (string, error) {
	from := e.ValueFrom
	switch {
	case from == nil:
		return expand(e.Value, vars), nil
	case from.FieldRef != nil:
		return fieldValue(pod, from.FieldRef.FieldPath)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := r.kube.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := s.Data[ref.Key]; ok {
				return string(v), nil
			}
			err = fmt.Errorf("secret %s has no key %s", ref.Name, ref.Key)
		}
		if ref.Optional != nil && *ref.Optional {
			return "", nil
		}
		return "", err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := r.kube.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := cm.Data[ref.Key]; ok {
				return v, nil
			}
			err = fmt.Errorf("configmap %s has no key %s", ref.Name, ref.Key)
		}
		if ref.Optional != nil && *ref.Optional {
			return "", nil
		}
		return "", err
	}
	return "", nil // resourceFieldRef: no limits to report here
}
