package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/preview"
)

func TestMain(m *testing.M) { os.Exit(cluster.RunMain(m, nil)) }

// The command line the demo prints works against a live cluster, with kubectl's flags: the
// kubeconfig's identity, or another one with --as, and RBAC answers.
func TestCommandLineAgainstTheCluster(t *testing.T) {
	c := cluster.Require(t)
	ctx := t.Context()
	repo := "e2e/cli-" + rand.String(5)
	ns := preview.NamespaceName(repo, 1)
	_, err := c.Kube().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{preview.LabelManaged: preview.ManagedTrue, preview.LabelPR: "1", preview.LabelRepo: preview.RepoLabelValue(repo)},
		Annotations: map[string]string{preview.AnnotationRepo: repo, preview.AnnotationHeadSHA: strings.Repeat("c", 40),
			preview.AnnotationPRState: preview.PRStateOpen, preview.AnnotationGate: preview.GateDraft}}}, metav1.CreateOptions{})
	assert.NilError(t, err)
	t.Cleanup(func() { _ = c.Kube().CoreV1().Namespaces().Delete(t.Context(), ns, metav1.DeleteOptions{}) })
	previewctl := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, append([]string{"--kubeconfig", c.Kubeconfig()}, args...), streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		return code, out.String(), errOut.String()
	}

	code, out, stderr := previewctl("get", repo+"#1")
	assert.Equal(t, code, exitOK, stderr)
	assert.Check(t, is.Contains(out, "State:           waiting — draft pull request"))

	code, out, stderr = previewctl("list", "--repo", repo, "-o", "json")
	assert.Equal(t, code, exitOK, stderr)
	var l preview.List
	assert.NilError(t, json.Unmarshal([]byte(out), &l))
	assert.Equal(t, len(l.Items), 1)
	assert.Equal(t, l.Items[0].Namespace, ns)

	code, out, _ = previewctl("keep", ns, "-o", "yaml")
	assert.Equal(t, code, exitOK)
	assert.Equal(t, out, "kept: true\nnamespace: "+ns+"\n")

	code, _, stderr = previewctl("get", repo+"#2")
	assert.Equal(t, code, exitNotFound, stderr)
	assert.Check(t, is.Contains(stderr, "has no preview environment"))

	code, _, stderr = previewctl("--as", "mallory", "get", repo+"#1")
	assert.Equal(t, code, exitForbidden, stderr)
	assert.Check(t, is.Contains(stderr, `User "mallory" cannot get resource "namespaces"`))
	assert.Equal(t, strings.Count(stderr, "\n"), 1)

	code, out, stderr = previewctl("--as", "mallory", "list")
	assert.Equal(t, code, exitOK, stderr)
	assert.Equal(t, out, "")
	assert.Check(t, is.Contains(stderr, "warning: you may not list namespaces cluster-wide"))

	code, out, _ = previewctl("version")
	assert.Equal(t, code, exitOK)
	assert.Check(t, is.Contains(out, "kubernetes:   v1.37"))
}
