package previewmcp

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/preview"
)

func TestMain(m *testing.M) { os.Exit(cluster.RunMain(m, nil)) }

// env creates a PR namespace of repo as the trigger records it and returns its name.
func env(t *testing.T, c *cluster.Cluster, repo string, pr int) string {
	t.Helper()
	name := preview.NamespaceName(repo, pr)
	sha := fmt.Sprintf("%040x", pr)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{preview.LabelManaged: preview.ManagedTrue, preview.LabelPR: fmt.Sprint(pr),
			preview.LabelRepo: preview.RepoLabelValue(repo), preview.LabelEnvironment: preview.EnvironmentPreview},
		Annotations: map[string]string{preview.AnnotationRepo: repo, preview.AnnotationPRURL: fmt.Sprintf("https://github.com/%s/pull/%d", repo, pr),
			preview.AnnotationHeadSHA: sha, preview.AnnotationPRState: preview.PRStateOpen, preview.AnnotationAuthor: "octocat",
			preview.AnnotationHeadSeenAt: time.Now().UTC().Format(time.RFC3339Nano)},
	}}
	_, err := c.Kube().CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{})
	assert.NilError(t, err)
	t.Cleanup(func() {
		if !t.Failed() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = c.Kube().CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		}
	})
	return name
}

// grant binds rules to user in namespace.
func grant(t *testing.T, c *cluster.Cluster, user, namespace string, rules []rbacv1.PolicyRule) {
	t.Helper()
	name := "mcp-" + strings.ToLower(user)
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	_, err := c.Kube().RbacV1().Roles(namespace).Create(t.Context(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
	assert.NilError(t, err)
	_, err = c.Kube().RbacV1().RoleBindings(namespace).Create(t.Context(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}}, metav1.CreateOptions{})
	assert.NilError(t, err)
}

// as is the MCP client of an agent acting as user, as `previewctl mcp` serves it with that
// user's kubeconfig.
func as(t *testing.T, c *cluster.Cluster, user string, o Options, co *mcp.ClientOptions, version ...string) *mcp.ClientSession {
	t.Helper()
	rc := c.RESTConfig()
	rc.Impersonate = rest.ImpersonationConfig{UserName: user}
	q := preview.New(preview.Clients{Kube: kubernetes.NewForConfigOrDie(rc), Tekton: tektonclient.NewForConfigOrDie(rc)}, preview.Options{})
	o.Client = func(context.Context, *mcp.CallToolRequest) (*preview.Client, error) { return q, nil }
	return connect(t, o, co, version...)
}

func call(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any, out any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args})
	assert.NilError(t, err)
	if out != nil && !res.IsError {
		data, err := json.Marshal(res.StructuredContent)
		assert.NilError(t, err)
		assert.NilError(t, json.Unmarshal(data, out))
	}
	return res
}

// An agent calls every tool against the real apiserver as a user whose RBAC covers some PR
// namespaces: it sees and acts on those only, a viewer may read but not act, delete waits for
// the user's confirmation (asked through the client, or a token), and logs come bounded.
func TestToolsAgainstTheCluster(t *testing.T) {
	c := cluster.Require(t)
	ctx := t.Context()
	repo := "e2e/mcp-" + rand.String(4)
	mine, mine2, theirs, closed := env(t, c, repo, 1), env(t, c, repo, 2), env(t, c, repo, 3), env(t, c, repo, 4)
	ann, ben := "ann-"+rand.String(4), "ben-"+rand.String(4)
	grant(t, c, ann, mine, preview.OperatorRules())
	grant(t, c, ann, mine2, preview.OperatorRules())
	grant(t, c, ann, closed, preview.OperatorRules())
	_, err := c.Kube().CoreV1().Namespaces().Patch(ctx, closed, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"`+preview.AnnotationPRState+`":"`+preview.PRStateClosed+`"}}}`), metav1.PatchOptions{})
	assert.NilError(t, err)
	grant(t, c, ben, mine, preview.ViewerRules())

	// the application writes many lines
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web"}}}}
	_, err = c.Kube().CoreV1().Pods(mine).Create(ctx, pod, metav1.CreateOptions{})
	assert.NilError(t, err)
	var log strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&log, "GET /item/%d 200 %s\n", i, strings.Repeat("x", 100))
	}
	assert.NilError(t, c.SetPodLogs(ctx, mine, "web-1", "app", log.String()))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		raw, err := c.Kube().CoreV1().Pods(mine).GetLogs("web-1", &corev1.PodLogOptions{Container: "app", TailLines: ptr[int64](1)}).DoRaw(ctx)
		if err != nil || !strings.Contains(string(raw), "GET /item/2999") {
			return poll.Continue("log of web-1: %v %.80q", err, raw)
		}
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))

	agent := as(t, c, ann, Options{}, nil)
	var list preview.List
	// ann may not list namespaces: like previewctl -n, the agent names where to look
	res := call(t, agent, ToolList, map[string]any{"repo": repo, "namespaces": []string{mine, mine2, closed, theirs}}, &list)
	assert.Assert(t, !res.IsError, text(res))
	var seen []string
	for _, e := range list.Items {
		seen = append(seen, e.Namespace)
	}
	assert.Check(t, is.DeepEqual(seen, []string{mine, mine2, closed}), "only what RBAC lets ann see")
	assert.Check(t, is.Contains(strings.Join(list.Warnings, " "), theirs))

	var d preview.Detail
	res = call(t, agent, ToolGet, map[string]any{"environment": fmt.Sprintf("%s#1", repo)}, &d)
	assert.Assert(t, !res.IsError, text(res))
	assert.Check(t, is.Equal(d.Namespace, mine))
	res = call(t, agent, ToolGet, map[string]any{"environment": theirs}, nil)
	assert.Check(t, res.IsError)
	assert.Check(t, is.Contains(text(res), "Forbidden: "))

	var logs LogsOutput
	res = call(t, agent, ToolLogs, map[string]any{"environment": mine, "app": true}, &logs)
	assert.Assert(t, !res.IsError, text(res))
	assert.Check(t, is.Len(logs.Lines, defaultTail))
	assert.Check(t, is.Equal(logs.Lines[len(logs.Lines)-1].Line, "GET /item/2999 200 "+strings.Repeat("x", 100)))
	res = call(t, agent, ToolLogs, map[string]any{"environment": mine, "app": true, "tail": 5000}, &logs)
	assert.Assert(t, !res.IsError, text(res))
	assert.Check(t, logs.Truncated)
	whole, err := json.Marshal(res)
	assert.NilError(t, err)
	assert.Check(t, len(whole) <= maxLogBytes, "a logs answer is %d bytes", len(whole))
	assert.Check(t, is.Contains(text(res), "[web-1/app] GET /item/2999 200"))

	var ex preview.Explanation
	res = call(t, agent, ToolExplain, map[string]any{"environment": repo + "#1"}, &ex)
	assert.Assert(t, !res.IsError, text(res))
	assert.Check(t, is.Equal(ex.Namespace, mine))

	var retry preview.RetryResult
	res = call(t, agent, ToolRetry, map[string]any{"environment": mine}, &retry)
	assert.Assert(t, !res.IsError, text(res))
	var keep preview.KeepResult
	res = call(t, agent, ToolKeep, map[string]any{"environment": mine, "keep": true}, &keep)
	assert.Assert(t, !res.IsError, text(res))
	ns, err := c.Kube().CoreV1().Namespaces().Get(ctx, mine, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(ns.Annotations[preview.AnnotationRetestNonce], retry.Nonce), "the retry is recorded for the trigger")
	assert.Check(t, is.Equal(ns.Labels[preview.LabelKeep], "true"))

	// delete without elicitation: a first call asks for confirmation and changes nothing, the
	// token works for that environment only
	var del DeleteOutput
	res = call(t, agent, ToolDelete, map[string]any{"environment": mine}, &del)
	assert.Assert(t, !res.IsError, text(res))
	assert.Check(t, is.Equal(del.Status, DeleteConfirmationRequired))
	assert.Check(t, removalRequested(t, c, mine) == false)
	res = call(t, agent, ToolDelete, map[string]any{"environment": mine2, "confirmation": del.Confirmation}, nil)
	assert.Check(t, res.IsError)
	assert.Check(t, is.Contains(text(res), "the confirmation token is not for this"))
	assert.Check(t, removalRequested(t, c, mine2) == false)
	// a viewer's agent gets a token (confirming is not permission) but RBAC refuses the request
	viewer := as(t, c, ben, Options{}, nil)
	var vdel DeleteOutput
	res = call(t, viewer, ToolDelete, map[string]any{"environment": mine}, &vdel)
	assert.Assert(t, !res.IsError, text(res))
	res = call(t, viewer, ToolDelete, map[string]any{"environment": mine, "confirmation": vdel.Confirmation}, nil)
	assert.Check(t, res.IsError)
	assert.Check(t, is.Contains(text(res), "Forbidden: "))
	assert.Check(t, removalRequested(t, c, mine) == false)
	res = call(t, agent, ToolDelete, map[string]any{"environment": mine, "confirmation": del.Confirmation}, &del)
	assert.Assert(t, !res.IsError, text(res))
	assert.Check(t, is.Equal(del.Status, DeleteRequested))
	assert.Check(t, removalRequested(t, c, mine))

	// delete through a client that asks its user: "no" changes nothing, "yes" deletes
	answer := "decline"
	var asked []string
	asking := as(t, c, ann, Options{}, &mcp.ClientOptions{ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		asked = append(asked, req.Params.Message)
		if answer == "accept" {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
		}
		return &mcp.ElicitResult{Action: answer}, nil
	}})
	res = call(t, asking, ToolDelete, map[string]any{"environment": mine2}, &del)
	assert.Assert(t, !res.IsError, text(res))
	assert.Check(t, is.Equal(del.Status, DeleteDeclined))
	assert.Check(t, removalRequested(t, c, mine2) == false)
	answer = "accept"
	res = call(t, asking, ToolDelete, map[string]any{"environment": mine2}, &del)
	assert.Assert(t, !res.IsError, text(res))
	assert.Check(t, is.Equal(del.Status, DeleteRequested))
	assert.Check(t, removalRequested(t, c, mine2))
	assert.Assert(t, is.Len(asked, 2))
	assert.Check(t, is.Contains(asked[0], "Delete the preview environment of "+repo+"#2 (namespace "+mine2))

	// a client of an earlier protocol (no multi round-trip requests) is asked the same way
	answer = "decline"
	older := as(t, c, ann, Options{}, &mcp.ClientOptions{ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		asked = append(asked, req.Params.Message)
		return &mcp.ElicitResult{Action: answer}, nil
	}}, "2025-06-18")
	res = call(t, older, ToolDelete, map[string]any{"environment": mine2}, &del)
	assert.Assert(t, !res.IsError, text(res))
	assert.Check(t, is.Equal(del.Status, DeleteDeclined))
	assert.Check(t, is.Len(asked, 3))

	// gc shows its selection (the closed PR's environment, among those ann sees) and removes
	// it once confirmed
	var gc GCOutput
	res = call(t, agent, ToolGC, map[string]any{"closed": true, "namespaces": []string{mine, mine2, closed, theirs}}, &gc)
	assert.Assert(t, !res.IsError, text(res))
	assert.Check(t, is.Equal(gc.Status, DeleteConfirmationRequired))
	assert.Assert(t, is.Len(gc.Result.Items, 1))
	assert.Check(t, is.Equal(gc.Result.Items[0].Environment.Namespace, closed))
	assert.Check(t, removalRequested(t, c, closed) == false)
	res = call(t, agent, ToolGC, map[string]any{"closed": true, "namespaces": []string{mine, mine2, closed, theirs}, "confirmation": gc.Confirmation}, &gc)
	assert.Assert(t, !res.IsError, text(res))
	assert.Check(t, is.Equal(gc.Status, DeleteRequested))
	assert.Check(t, is.Equal(gc.Result.Items[0].Action, preview.GCRequested))
	assert.Check(t, removalRequested(t, c, closed))

	// read-only: the write tools do not exist at all
	ro := as(t, c, ann, Options{ReadOnly: true}, nil)
	res, err = ro.CallTool(ctx, &mcp.CallToolParams{Name: ToolRetry, Arguments: map[string]any{"environment": mine}})
	assert.Check(t, err != nil || res.IsError, "retry in read-only mode")
}

func removalRequested(t *testing.T, c *cluster.Cluster, namespace string) bool {
	t.Helper()
	ns, err := c.Kube().CoreV1().Namespaces().Get(t.Context(), namespace, metav1.GetOptions{})
	assert.NilError(t, err)
	return preview.RemovalRequested(ns.Annotations)
}
