package reporter

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/preview"
)

// masked replaces secret values in logs.
const masked = "***"

// minSecretLen: shorter values would mask ordinary words; such secrets are not secret anyway.
const minSecretLen = 4

// minEncodedLen: an encoded form shorter than this (a base64 prefix of a short value) would
// mask ordinary text; the value itself is still masked.
const minEncodedLen = 8

// secretRef names a Secret that may have reached a log.
type secretRef struct {
	namespace, name string
	fromPod         bool // the pod mounts it: it existed when the pod started
	optional        bool
}

// secretsToMask reads every Secret the failed step's pod could see (its volumes, projected
// volumes, env and envFrom, image pull secrets) and those the configuration puts in the PR
// namespace (the git token, the repository's secrets), and returns a masker for their values.
// Any read that fails other than a configured Secret that was never copied is an error: the
// caller then shows nothing. Secrets are read on demand (failures only), not cached, so the
// reporter holds none between failures.
func (c *Controller) secretsToMask(ctx context.Context, repo, namespace string, loc failedStep) (*masker, error) {
	refs := []secretRef{{namespace: namespace, name: preview.GitTokenSecret}}
	if rc, ok := c.Config.Repository(repo); ok {
		for _, s := range rc.Secrets {
			refs = append(refs, secretRef{namespace: namespace, name: s})
		}
	}
	if loc.pod != "" {
		podNS := cmp.Or(loc.namespace, namespace)
		pod, err := c.Kube.CoreV1().Pods(podNS).Get(ctx, loc.pod, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			// Gone, and its log with it: only the messages are shown, masked with the rest.
		case err != nil:
			return nil, fmt.Errorf("read pod %s/%s to find its secrets: %w", podNS, loc.pod, err)
		default:
			refs = append(refs, podSecrets(pod)...)
		}
	}
	var values []string
	seen := map[string]bool{}
	for _, ref := range refs {
		key := ref.namespace + "/" + ref.name
		if seen[key] {
			continue
		}
		seen[key] = true
		s, err := c.Kube.CoreV1().Secrets(ref.namespace).Get(ctx, ref.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) && (!ref.fromPod || ref.optional):
			continue // never copied, or optional and absent: nothing of it can be in the log
		case apierrors.IsNotFound(err):
			return nil, fmt.Errorf("secret %s, mounted by the pod, is gone: its value cannot be masked", key)
		case err != nil:
			return nil, fmt.Errorf("read secret %s to mask it: %w", key, err)
		}
		for _, v := range s.Data {
			values = append(values, secretForms(string(v))...)
		}
		for _, v := range s.StringData {
			values = append(values, secretForms(v)...)
		}
	}
	return newMasker(values), nil
}

// podSecrets lists the Secrets a pod mounts or reads.
func podSecrets(p *corev1.Pod) []secretRef {
	var refs []secretRef
	add := func(name string, optional *bool) {
		if name != "" {
			refs = append(refs, secretRef{namespace: p.Namespace, name: name, fromPod: true, optional: optional != nil && *optional})
		}
	}
	for _, v := range p.Spec.Volumes {
		if v.Secret != nil {
			add(v.Secret.SecretName, v.Secret.Optional)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					add(src.Secret.Name, src.Secret.Optional)
				}
			}
		}
	}
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, ct := range list {
			for _, e := range ct.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					add(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Optional)
				}
			}
			for _, e := range ct.EnvFrom {
				if e.SecretRef != nil {
					add(e.SecretRef.Name, e.SecretRef.Optional)
				}
			}
		}
	}
	for _, s := range p.Spec.ImagePullSecrets {
		t := true // the kubelet starts the pod without it
		add(s.Name, &t)
	}
	return refs
}

// secretForms is a secret value as it may appear in a log: whole and line by line (keys,
// certificates); every string inside it when it is JSON (.dockerconfigjson), with the
// password part of a base64 "user:password" (the auth field); and each of those base64-,
// URL- and JSON-encoded.
func secretForms(v string) []string {
	var raw []string
	var add func(s string)
	add = func(s string) {
		s = strings.TrimSpace(s)
		if len(s) < minSecretLen {
			return
		}
		raw = append(raw, s)
		if strings.Contains(s, "\n") {
			for _, line := range strings.Split(s, "\n") {
				add(line)
			}
		}
		if dec, err := base64.StdEncoding.DecodeString(s); err == nil && printable(string(dec)) {
			if user, pass, ok := strings.Cut(string(dec), ":"); ok && user != "" {
				add(string(dec))
				add(pass)
			}
		}
	}
	add(v)
	var doc any
	if json.Unmarshal([]byte(strings.TrimSpace(v)), &doc) == nil {
		for _, s := range jsonStrings(doc) {
			add(s)
		}
	}
	forms := slices.Clone(raw)
	for _, s := range raw {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			// The groups of whole input bytes encode the same whatever follows the value (more
			// text), so that prefix is masked too; the value alone and with echo's newline are
			// masked whole.
			for _, v := range []string{s, s + "\n"} {
				full := enc.EncodeToString([]byte(v))
				forms = append(forms, full, strings.TrimRight(full, "="))
			}
			forms = append(forms, enc.EncodeToString([]byte(s))[:len(s)/3*4])
		}
		q, _ := json.Marshal(s)
		inner := string(q[1 : len(q)-1])
		forms = append(forms, url.QueryEscape(s), url.PathEscape(s), inner, strings.ReplaceAll(inner, "/", `\/`))
	}
	return slices.DeleteFunc(forms, func(f string) bool {
		return len(f) < minEncodedLen && !slices.Contains(raw, f)
	})
}

func jsonStrings(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			out = append(out, jsonStrings(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range t {
			out = append(out, jsonStrings(e)...)
		}
		return out
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return s != ""
}

// masker replaces secret values in text, longest first so that a value containing another is
// replaced whole, in one pass.
type masker struct{ r *strings.Replacer }

func newMasker(values []string) *masker {
	values = slices.DeleteFunc(slices.Clone(values), func(s string) bool { return len(s) < minSecretLen })
	slices.SortFunc(values, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
	values = slices.Compact(values)
	pairs := make([]string, 0, 2*len(values))
	for _, v := range values {
		pairs = append(pairs, v, masked)
	}
	return &masker{r: strings.NewReplacer(pairs...)}
}

// mask strips terminal escapes first (a colour code inside a value would hide it), then masks.
func (m *masker) mask(text string) string { return m.r.Replace(sanitize(text)) }

// mask replaces every secret value in text with ***.
func mask(text string, secrets []string) string { return newMasker(secrets).mask(text) }
