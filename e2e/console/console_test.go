package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/preview"
)

// api calls the console's JSON API as user, with an ID token as bearer token (as previewctl
// or an MCP client would).
func api(t *testing.T, user, method, path string) (int, map[string]any) {
	t.Helper()
	token, err := idp.IDToken(user, cliClient)
	assert.NilError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), method, con.URL+path, nil)
	assert.NilError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	assert.NilError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&body), path)
	return resp.StatusCode, body
}

func namespacesOf(body map[string]any) []string {
	var out []string
	items, _ := body["items"].([]any)
	for _, it := range items {
		out = append(out, it.(map[string]any)["namespace"].(string))
	}
	return out
}

// Signed in as alice, the console shows alice's environment and not bob's; bob's delete is
// forbidden to her by the apiserver (the console's own ServiceAccount could not read either).
func TestE2EEachSeesOwnEnvironment(t *testing.T) {
	c := cluster.Require(t)
	a := newEnvironment(t, c, "acme/own-a", 1, map[string]string{"alice@example.com": operatorRole})
	b := newEnvironment(t, c, "acme/own-b", 2, map[string]string{"bob@example.com": operatorRole})

	ctx := newBrowser(t, browserOptions{})
	signIn(t, ctx, "alice")
	run(t, ctx, chromedp.WaitVisible(chromedp.CSS("#env-"+a.Namespace)))
	others := eval[int](t, ctx, fmt.Sprintf(`document.querySelectorAll("#env-%s").length`, b.Namespace))
	assert.Check(t, is.Equal(others, 0), "bob's environment is not listed for alice")
	assert.Check(t, is.Contains(text(t, ctx, ".who"), "alice@example.com"))

	code, body := api(t, "bob", http.MethodGet, "/api/v1/environments")
	assert.Check(t, is.Equal(code, http.StatusOK))
	assert.Check(t, is.Contains(namespacesOf(body), b.Namespace))
	assert.Check(t, !strings.Contains(strings.Join(namespacesOf(body), ","), a.Namespace))

	code, body = api(t, "alice", http.MethodDelete, "/api/v1/environments/"+b.Namespace)
	assert.Check(t, is.Equal(code, http.StatusForbidden))
	e, _ := body["error"].(map[string]any)
	assert.Check(t, is.Equal(e["code"], "Forbidden"))
	assert.Check(t, is.Contains(e["message"], `User "alice@example.com" cannot`), "the apiserver's words")
	ns, err := c.Kube().CoreV1().Namespaces().Get(t.Context(), b.Namespace, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, !preview.RemovalRequested(ns.Annotations), "bob's environment is untouched")

	// the console's own identity reads nothing: only impersonation makes the calls work
	_, err = as(c, "system:serviceaccount:"+systemNamespace+":catalyst-console").CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
	assert.Check(t, is.ErrorContains(err, "forbidden"))
}

// The log page follows a run while it progresses: the first task's lines, then the next
// task's once it starts, each labelled task : step, and the end of the run.
func TestE2EFollowLogsWhileTheRunProgresses(t *testing.T) {
	c := cluster.Require(t)
	e := newEnvironment(t, c, "acme/follow", 3, map[string]string{"alice@example.com": operatorRole})
	// What each step will print, set before the pods exist (KWOK serves a log file from the
	// start; it does not append to one a stream is already reading).
	presetLogs(t, c, e, "build", "compiling the shop\nbuild line two\n")
	presetLogs(t, c, e, "deploy", "helm upgrade --install preview\nrelease deployed\n")
	ctx := newBrowser(t, browserOptions{})
	signIn(t, ctx, "alice")
	run(t, ctx, chromedp.Navigate(con.URL+"/environments/"+e.Namespace), chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "acme/follow#3")]`)))
	run(t, ctx, chromedp.Click(chromedp.Search(`//a[normalize-space()="Pipeline logs"]`)), chromedp.WaitVisible(chromedp.CSS("#log")))

	taskPod(t, c, e, "build")
	waitText(t, ctx, "#log", "build line two")
	assert.Check(t, is.Contains(text(t, ctx, "#log"), "[build : build]compiling the shop"))
	assert.Check(t, !strings.Contains(text(t, ctx, "#log"), "release deployed"), "deploy has not started")

	release(t, c, e, "build")
	taskPod(t, c, e, "deploy")
	waitText(t, ctx, "#log", "[deploy : deploy]release deployed")
	release(t, c, e, "deploy")
	waitText(t, ctx, "#logstatus", "the run has ended")

	// timestamps appear on demand
	assert.Check(t, eval[bool](t, ctx, `getComputedStyle(document.querySelector("#log time")).display === "none"`))
	run(t, ctx, chromedp.Click(chromedp.CSS("#timestamps")))
	assert.Check(t, eval[bool](t, ctx, `getComputedStyle(document.querySelector("#log time")).display !== "none"`))
}

// Deleting asks for the namespace to be typed; with JavaScript off, everything but live logs
// works: list, environment page, confirmation, the request recorded as the signed-in person.
func TestE2EDeleteWithConfirmationWithoutJavaScript(t *testing.T) {
	c := cluster.Require(t)
	e := newEnvironment(t, c, "acme/delete-me", 4, map[string]string{"alice@example.com": operatorRole})
	ctx := newBrowser(t, browserOptions{noScript: true})
	signIn(t, ctx, "alice")
	run(t, ctx,
		chromedp.Click(chromedp.Search(`//a[normalize-space()="acme/delete-me#4"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "acme/delete-me#4")]`)),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Delete…"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
		chromedp.SendKeys(chromedp.CSS(`#confirm`), "pr-wrong-4"),
		chromedp.Submit(chromedp.CSS(`#confirm`)),
		chromedp.WaitVisible(chromedp.CSS(`.problem`)),
	)
	assert.Check(t, is.Contains(text(t, ctx, ".problem"), "type the namespace name"))
	ns, err := c.Kube().CoreV1().Namespaces().Get(t.Context(), e.Namespace, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, !preview.RemovalRequested(ns.Annotations), "a wrong confirmation deletes nothing")

	run(t, ctx,
		chromedp.Navigate(con.URL+"/environments/"+e.Namespace+"/delete"),
		chromedp.SendKeys(chromedp.CSS(`#confirm`), e.Namespace),
		chromedp.Submit(chromedp.CSS(`#confirm`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
	)
	assert.Check(t, is.Contains(text(t, ctx, ".flash"), "Removal requested"))
	ns, err = c.Kube().CoreV1().Namespaces().Get(t.Context(), e.Namespace, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, preview.RemovalRequested(ns.Annotations))
	assert.Check(t, is.Equal(ns.Annotations[preview.AnnotationRemoveBy], "alice@example.com"), "recorded as the person, not the console")
}

// A person who may only look gets the action buttons disabled, with the reason.
func TestE2EButtonsDisabledWithTheReason(t *testing.T) {
	c := cluster.Require(t)
	e := newEnvironment(t, c, "acme/look-only", 5, map[string]string{"alice@example.com": operatorRole, "carol@example.com": viewerRole})
	ctx := newBrowser(t, browserOptions{})
	signIn(t, ctx, "carol")
	run(t, ctx, chromedp.Navigate(con.URL+"/environments/"+e.Namespace), chromedp.WaitVisible(chromedp.CSS(`.actions`)))
	disabled := eval[[]string](t, ctx, `[...document.querySelectorAll(".actions button:disabled")].map(b => b.textContent.trim())`)
	assert.Check(t, is.DeepEqual(disabled, []string{"Retry", "Keep", "Delete…"}))
	assert.Check(t, is.Contains(text(t, ctx, "#why-delete"), "you may not patch namespaces here"))

	ctx = newBrowser(t, browserOptions{})
	signIn(t, ctx, "alice")
	run(t, ctx, chromedp.Navigate(con.URL+"/environments/"+e.Namespace), chromedp.WaitVisible(chromedp.CSS(`.actions`)))
	assert.Check(t, is.Len(eval[[]string](t, ctx, `[...document.querySelectorAll(".actions button:disabled")].map(b => b.textContent)`), 0))
	run(t, ctx, chromedp.Click(chromedp.Search(`//button[normalize-space()="Keep"]`)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	ns, err := c.Kube().CoreV1().Namespaces().Get(t.Context(), e.Namespace, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, preview.Kept(ns.Labels))
}

// On a phone's width no page scrolls sideways, and every control has an accessible name.
func TestE2EPhoneWidthAndLabels(t *testing.T) {
	c := cluster.Require(t)
	e := newEnvironment(t, c, "acme/phone-with-a-rather-long-repository-name", 6, map[string]string{"alice@example.com": operatorRole})
	ctx := newBrowser(t, browserOptions{width: 390, height: 844})
	signIn(t, ctx, "alice")
	for _, page := range []string{"/", "/environments/" + e.Namespace, "/environments/" + e.Namespace + "/logs", "/environments/" + e.Namespace + "/delete"} {
		run(t, ctx, chromedp.Navigate(con.URL+page), chromedp.WaitReady(chromedp.CSS("main")))
		overflow := eval[int](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`)
		assert.Check(t, overflow <= 0, "%s scrolls sideways by %dpx at 390px", page, overflow)
		unlabelled := eval[[]string](t, ctx, `[...document.querySelectorAll("input:not([type=hidden]), select, button, meter")]
			.filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim())
			.map(e => e.outerHTML)`)
		assert.Check(t, is.Len(unlabelled, 0), "%s: controls without an accessible name: %v", page, unlabelled)
	}
}

// A log longer than the browser keeps: the page holds the cap, the newest lines, and says how
// many it dropped.
func TestE2ELogLinesCapped(t *testing.T) {
	c := cluster.Require(t)
	e := newEnvironment(t, c, "acme/long-log", 7, map[string]string{"alice@example.com": operatorRole})
	const lines = 12000
	var b strings.Builder
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&b, "line %d of the long log\n", i)
	}
	presetLogs(t, c, e, "build", b.String())
	taskPod(t, c, e, "build")
	ctx := newBrowser(t, browserOptions{})
	signIn(t, ctx, "alice")
	run(t, ctx, chromedp.Navigate(con.URL+"/environments/"+e.Namespace+"/logs?task=build&follow=0"))
	waitText(t, ctx, "#logstatus", "end of log")
	kept := eval[int](t, ctx, `document.querySelectorAll("#log .l").length`)
	assert.Check(t, kept <= 5000, "kept %d lines", kept)
	assert.Check(t, is.Contains(text(t, ctx, "#log"), fmt.Sprintf("line %d of the long log", lines)))
	assert.Check(t, is.Equal(eval[string](t, ctx, `document.getElementById("log").dataset.lines`), fmt.Sprint(lines)))
}

// waitText waits until the element's text contains want.
func waitText(t testing.TB, ctx context.Context, sel, want string) {
	t.Helper()
	var last string
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		var err error
		last, err = chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, sel)))
		if err != nil {
			return poll.Error(err)
		}
		if strings.Contains(last, want) {
			return poll.Success()
		}
		tail := last
		if len(tail) > 300 {
			tail = tail[len(tail)-300:]
		}
		return poll.Continue("%s does not show %q yet: …%s", sel, want, tail)
	}, poll.WithTimeout(90*time.Second), poll.WithDelay(200*time.Millisecond))
}
