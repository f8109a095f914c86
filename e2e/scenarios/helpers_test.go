package scenarios

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/poll"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/e2e/podfate"
	"github.com/catalyst-preview/catalyst/e2e/system"
	"github.com/catalyst-preview/catalyst/preview"
)

// router sends each task pod to its repository's policy; the default runs the step image's
// pods for real and lets the simulated build succeed at once.
var router = &policyRouter{byRepo: map[string]podfate.Policy{}}

type policyRouter struct {
	mu     sync.Mutex
	byRepo map[string]podfate.Policy
}

func (r *policyRouter) policy(t podfate.Task) podfate.Fate {
	r.mu.Lock()
	p := r.byRepo[t.Annotation(preview.AnnotationRepo)]
	r.mu.Unlock()
	if p == nil {
		return podfate.Default(t, 0)
	}
	return p(t)
}

// setPolicy routes a repository's pods to p for the rest of the test.
func setPolicy(t *testing.T, repo string, p podfate.Policy) {
	router.mu.Lock()
	router.byRepo[repo] = p
	router.mu.Unlock()
	sys.Driver.Reconsider()
	t.Cleanup(func() {
		router.mu.Lock()
		delete(router.byRepo, repo)
		router.mu.Unlock()
	})
}

// scenario is how every scenario starts. The scenarios share one running system (see
// TestMain); this checks that it is as a scenario expects it — trigger and reporter running,
// no GitHub fault, webhooks flowing — and restores that when the scenario ends, however it
// ends, so that one failure does not degrade the next scenario.
func scenario(t *testing.T) *system.System {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local control plane and the system: run without -short")
	}
	restore := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		sys.Sim.ClearFaults()
		sys.Sim.HoldWebhooks(false)
		var errs []error
		for _, p := range []*system.Process{sys.Trigger, sys.Reporter} {
			if p.Pid() == 0 {
				errs = append(errs, p.Start(ctx))
			}
		}
		sys.Sim.SetWebhookURL(sys.Trigger.URL + "/webhook")
		return errors.Join(errs...)
	}
	assert.NilError(t, restore(), "the shared system is broken")
	t.Cleanup(func() {
		if err := restore(); err != nil {
			t.Errorf("restore the shared system: %v", err)
		}
	})
	return sys
}

const waitLong = 2 * time.Minute

// wait polls check until it says done. An error from check fails the test at once with its
// own message (poll.Error), instead of waiting out the timeout.
func wait(t *testing.T, what string, check func() (done bool, state string, err error)) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		done, state, err := check()
		switch {
		case err != nil:
			return poll.Error(fmt.Errorf("%s: %w", what, err))
		case done:
			return poll.Success()
		}
		return poll.Continue("%s: %s", what, state)
	}, poll.WithTimeout(waitLong), poll.WithDelay(200*time.Millisecond))
}

// reportComment is the reporter's comment on the PR ("" if none yet) and how many there are.
func reportComment(repo string, number int) (string, int) {
	var body string
	n := 0
	for _, c := range sys.Sim.Comments(repo, number) {
		if strings.Contains(c.GetBody(), "<!-- catalyst-preview:report -->") {
			body = c.GetBody()
			n++
		}
	}
	return body, n
}

func waitComment(t *testing.T, repo string, number int, wants ...string) string {
	t.Helper()
	var body string
	wait(t, fmt.Sprintf("report comment on %s#%d containing %q", repo, number, wants), func() (bool, string, error) {
		var n int
		body, n = reportComment(repo, number)
		if n > 1 {
			return false, "", fmt.Errorf("%d report comments on %s#%d: there must be one", n, repo, number)
		}
		for _, w := range wants {
			if !strings.Contains(body, w) {
				return false, firstLines(body, 3), nil
			}
		}
		return true, "", nil
	})
	return body
}

// checkRun is the Check Run of a commit (nil if none yet).
func checkRun(repo, sha string) *github.CheckRun {
	runs := sys.Sim.CheckRuns(repo, sha)
	if len(runs) == 0 {
		return nil
	}
	return runs[len(runs)-1]
}

func waitCheckRun(t *testing.T, repo, sha, conclusion string) *github.CheckRun {
	t.Helper()
	var cr *github.CheckRun
	wait(t, fmt.Sprintf("check run of %s conclusion %s", short(sha), conclusion), func() (bool, string, error) {
		cr = checkRun(repo, sha)
		if cr == nil {
			return false, "no check run", nil
		}
		if n := len(sys.Sim.CheckRuns(repo, sha)); n != 1 {
			return false, "", fmt.Errorf("%d check runs for %s: there must be one per commit", n, short(sha))
		}
		return cr.GetConclusion() == conclusion, cr.GetStatus() + "/" + cr.GetConclusion() + ": " + cr.GetOutput().GetTitle(), nil
	})
	return cr
}

// getRun reads a PipelineRun; nil without error when it does not exist.
func getRun(ctx context.Context, ns, name string) (*pipelinev1.PipelineRun, error) {
	pr, err := sys.Tekton.TektonV1().PipelineRuns(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return pr, err
}

// pipelineRun is getRun for the test's own goroutine.
func pipelineRun(t *testing.T, ns, name string) *pipelinev1.PipelineRun {
	t.Helper()
	pr, err := getRun(t.Context(), ns, name)
	assert.NilError(t, err)
	return pr
}

func waitRun(t *testing.T, ns, name, reason string) *pipelinev1.PipelineRun {
	t.Helper()
	var pr *pipelinev1.PipelineRun
	wait(t, fmt.Sprintf("pipelinerun %s/%s reason %s", ns, name, reason), func() (bool, string, error) {
		var err error
		if pr, err = getRun(t.Context(), ns, name); err != nil || pr == nil {
			return false, "not created", err
		}
		c := pr.Status.GetCondition(apis.ConditionSucceeded)
		if c == nil {
			return false, "no condition", nil
		}
		return c.Reason == reason, c.Reason + ": " + c.Message, nil
	})
	return pr
}

func deployRun(sha string, attempt int) string {
	return preview.PipelineRunName(preview.KindDeploy, sha, attempt)
}

func runsIn(t *testing.T, ns string) []pipelinev1.PipelineRun {
	t.Helper()
	list, err := sys.Tekton.TektonV1().PipelineRuns(ns).List(t.Context(), metav1.ListOptions{})
	assert.NilError(t, err)
	return list.Items
}

func open(t *testing.T, repo string, o ghsim.PROptions) ghsim.Delivery {
	t.Helper()
	if o.Author == "" {
		o.Author, o.AuthorAssociation = "alice", "MEMBER"
	}
	d, err := sys.Sim.OpenPR(t.Context(), repo, o)
	assert.NilError(t, err)
	return d
}

func short(sha string) string { return sha[:7] }

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

// holdUntil keeps a task's pods running until release is closed, then runs them as usual.
func holdUntil(task string, release <-chan struct{}) podfate.Policy {
	return func(t podfate.Task) podfate.Fate {
		if t.Task == task {
			select {
			case <-release:
			default:
				return podfate.Fate{Hold: true}
			}
		}
		return podfate.Default(t, 0)
	}
}

// browse asks the ingress stand-in for a preview page, as a browser would.
func browse(t *testing.T, host, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+sys.Ingress.Addr()+path, nil)
	assert.NilError(t, err)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	assert.NilError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	assert.NilError(t, err)
	return resp.StatusCode, string(body)
}
