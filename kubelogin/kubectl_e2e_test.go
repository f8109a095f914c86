package kubelogin

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

// The real kubectl, with the kubeconfig `previewctl login` wrote, acts as the person who signed
// in: the apiserver verifies the ID token from the exec plugin against the issuer it trusts,
// and RBAC alone decides what they see (one namespace, read only). Concurrent kubectl processes
// needing a refresh spend the rotating refresh token once; a revoked sign-in ends with the
// command to sign in again.
func TestKubectlActsAsSignedInUser(t *testing.T) {
	c := cluster.Require(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bins, err := cluster.Build(ctx, nil)
	assert.NilError(t, err)
	kube := c.Kube()
	mine, theirs := c.Namespace(t), c.Namespace(t)
	for _, ns := range []string{mine, theirs} {
		_, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings-" + ns}}, metav1.CreateOptions{})
		assert.NilError(t, err)
	}
	_, err = kube.RbacV1().RoleBindings(mine).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-views"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice@example.com"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
	}, metav1.CreateOptions{})
	assert.NilError(t, err)

	admin, err := os.ReadFile(c.Kubeconfig())
	assert.NilError(t, err)
	kc := filepath.Join(t.TempDir(), "config")
	assert.NilError(t, os.WriteFile(kc, admin, 0o600))
	caFile := filepath.Join(t.TempDir(), "issuer-ca.pem")
	assert.NilError(t, os.WriteFile(caFile, issuer.CAPEM(), 0o600))
	p := Provider{Issuer: issuer.Issuer(), ClientID: clientID, CAFile: caFile}
	self, err := os.Executable()
	assert.NilError(t, err)
	cache := Cache{Dir: t.TempDir()}
	var out bytes.Buffer
	_, err = Login(ctx, LoginOptions{
		Provider: p,
		Browser:  BrowserOptions{Open: browseAs(issuer, "alice")},
		Cache:    cache,
		Kubeconfig: KubeconfigOptions{Path: kc, Command: self, Env: map[string]string{pluginEnv: "1"},
			Args: []string{"token", "--token-cache-dir=" + cache.Dir}},
		Out: &out,
	})
	assert.NilError(t, err, out.String())

	kubectl := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bins.Kubectl, append([]string{"--kubeconfig=" + kc}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			return stderr.String(), err
		}
		return stdout.String(), nil
	}
	got, err := kubectl("auth", "whoami", "-o", "json")
	assert.NilError(t, err, got)
	var review struct {
		Status struct {
			UserInfo struct {
				Username string
				Groups   []string
			} `json:"userInfo"`
		}
	}
	assert.NilError(t, json.Unmarshal([]byte(got), &review))
	assert.Check(t, is.Equal(review.Status.UserInfo.Username, "alice@example.com"))
	assert.Check(t, is.Contains(review.Status.UserInfo.Groups, "team-a"))

	got, err = kubectl("get", "configmaps", "-n", mine, "-o", "name")
	assert.NilError(t, err, got)
	assert.Check(t, is.Contains(got, "configmap/settings-"+mine))
	got, err = kubectl("get", "configmaps", "-n", theirs, "-o", "name")
	assert.Check(t, err != nil, "another team's namespace: %s", got)
	assert.Check(t, is.Contains(got, `User "alice@example.com" cannot list resource "configmaps"`))
	got, err = kubectl("delete", "configmap", "settings-"+mine, "-n", mine)
	assert.Check(t, err != nil, "view only: %s", got)
	assert.Check(t, is.Contains(got, "cannot delete resource"))

	// the cached token is about to expire (it still verifies at the apiserver): every kubectl
	// refreshes through the plugin, under the lock, and one refresh serves them all
	nearExpiry := func() {
		t.Helper()
		tok, err := cache.read(p)
		assert.NilError(t, err)
		tok.Expiry = time.Now().Add(30 * time.Second)
		assert.NilError(t, cache.write(p, tok))
	}
	refreshes := func() (ok, failed int) {
		for _, r := range issuer.Requests() {
			if r.GrantType == "refresh_token" {
				if r.Error == "" {
					ok++
				} else {
					failed++
				}
			}
		}
		return
	}
	ok0, failed0 := refreshes()
	nearExpiry()
	var wg sync.WaitGroup
	outs, errs := make([]string, 6), make([]error, 6)
	for i := range outs {
		wg.Go(func() { outs[i], errs[i] = kubectl("get", "configmaps", "-n", mine, "-o", "name") })
	}
	wg.Wait()
	for i := range outs {
		assert.Check(t, errs[i], outs[i])
		assert.Check(t, is.Contains(outs[i], "configmap/settings-"+mine))
	}
	ok1, failed1 := refreshes()
	assert.Check(t, is.Equal(ok1-ok0, 1))
	assert.Check(t, is.Equal(failed1-failed0, 0))

	issuer.RevokeRefreshTokens("alice")
	nearExpiry()
	got, err = kubectl("get", "configmaps", "-n", mine)
	assert.Check(t, err != nil, got)
	assert.Check(t, is.Contains(got, "run previewctl login --issuer="+issuer.Issuer()+" --client-id=previewctl"))
}
