package trigger

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/trigger/record"
)

// A trusted PR becomes a provisioned namespace and a PipelineRun that Tekton runs to success;
// reconciling again changes nothing.
func TestIntegrationOpenProvisionsAndDeploys(t *testing.T) {
	s := newStack(t, stackOptions{})
	d := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	ns := s.namespaceOf(d.Number)
	run := s.waitRun(ns, preview.PipelineRunName(preview.KindDeploy, d.HeadSHA, 1), reason("Succeeded"))

	assert.Equal(t, paramOf(run, "revision"), d.HeadSHA)
	assert.Equal(t, paramOf(run, "pr-number"), strconv.Itoa(d.Number))
	assert.Equal(t, paramOf(run, "chart-path"), "deploy/chart")
	assert.Equal(t, paramOf(run, "preview-host"), preview.PreviewHost(s.repo, d.Number, "preview.example.com"))
	assert.Equal(t, run.Spec.TaskRunTemplate.ServiceAccountName, PipelineServiceAccount)
	assert.Equal(t, run.Labels[preview.LabelSHA], d.HeadSHA)
	assert.Equal(t, run.Annotations[preview.AnnotationAttempt], "1")

	ctx := t.Context()
	quota, err := s.kube.CoreV1().ResourceQuotas(ns).Get(ctx, quotaName, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Equal(t, quota.Spec.Hard.Pods().String(), "30")
	_, err = s.kube.CoreV1().LimitRanges(ns).Get(ctx, limitRangeName, metav1.GetOptions{})
	assert.NilError(t, err)
	nps, err := s.kube.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(nps.Items, 5))
	_, err = s.kube.RbacV1().RoleBindings(ns).Get(ctx, PipelineServiceAccount, metav1.GetOptions{})
	assert.NilError(t, err)
	copied, err := s.kube.CoreV1().Secrets(ns).Get(ctx, "shop-db", metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Equal(t, string(copied.Data["password"]), "hunter2")
	assert.Check(t, copied.Immutable != nil && *copied.Immutable, "copies are read-only")
	token, err := s.kube.CoreV1().Secrets(ns).Get(ctx, preview.GitTokenSecret, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, len(token.Data["token"]) > 0, "the pipeline gets an installation token")
	// GitHub (the simulator enforces token permissions as GitHub does) refuses that token any
	// write: a pod of the PR's chart that reads it can fetch the repository and nothing more.
	owner, name := splitOwnerRepo(s.repo)
	withToken := github.NewClient(nil).WithAuthToken(string(token.Data["token"]))
	withToken.BaseURL, err = url.Parse(s.sim.URL() + "/")
	assert.NilError(t, err)
	_, resp, err := withToken.Issues.CreateComment(ctx, owner, name, d.Number, &github.IssueComment{Body: github.String("from the chart")})
	assert.Assert(t, err != nil && resp != nil)
	assert.Check(t, is.Equal(resp.StatusCode, http.StatusForbidden))
	_, resp, err = withToken.Checks.CreateCheckRun(ctx, owner, name, github.CreateCheckRunOptions{Name: "forged", HeadSHA: d.HeadSHA})
	assert.Assert(t, err != nil && resp != nil)
	assert.Check(t, is.Equal(resp.StatusCode, http.StatusForbidden))
	nsObj, err := s.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Equal(t, nsObj.Labels["pod-security.kubernetes.io/audit"], "restricted")

	// The pipeline's service account may act in its namespace only, and there only as far as
	// deploy, health check and cleanup need: RBAC decides, on the Role the trigger wrote.
	other := preview.NamespaceName(s.repo, d.Number+1000)
	for _, tc := range []struct {
		namespace, verb, group, resource string
		want                             bool
	}{
		{ns, "create", "apps", "deployments", true},
		{ns, "get", "", "secrets", true},
		{ns, "list", "", "secrets", true}, // Helm's release records
		{ns, "get", "", "pods/log", true},
		{"default", "create", "apps", "deployments", false},
		{other, "get", "", "secrets", false},
		{other, "list", "", "pods", false},
		{s.cfg.Preview.SecretsNamespace, "get", "", "secrets", false},
		{s.cfg.Preview.SecretsNamespace, "list", "", "secrets", false},
		{s.cfg.Preview.BuildNamespace, "list", "", "secrets", false},
		{s.cfg.Preview.BuildNamespace, "create", "tekton.dev", "taskruns", false},
		{ns, "watch", "", "secrets", false},
		{ns, "create", "networking.k8s.io", "networkpolicies", false}, // would add its own egress
		{ns, "delete", "networking.k8s.io", "networkpolicies", false},
		{ns, "update", "", "resourcequotas", false},
		{ns, "create", "rbac.authorization.k8s.io", "rolebindings", false},
		{ns, "create", "apps", "daemonsets", false},
		{ns, "create", "", "pods", false},
		{ns, "create", "tekton.dev", "pipelineruns", false},
		{ns, "create", "tekton.dev", "customruns", false},
		{ns, "patch", "", "namespaces", false},
	} {
		sar := sarFor(ns, tc.namespace)
		sar.Spec.ResourceAttributes.Verb, sar.Spec.ResourceAttributes.Group, sar.Spec.ResourceAttributes.Resource = tc.verb, tc.group, tc.resource
		if sub, found := strings.CutPrefix(tc.resource, "pods/"); found {
			sar.Spec.ResourceAttributes.Resource, sar.Spec.ResourceAttributes.Subresource = "pods", sub
		}
		review, err := s.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		assert.NilError(t, err)
		assert.Check(t, is.Equal(review.Status.Allowed, tc.want), "%s %s/%s in %s: %s", tc.verb, tc.group, tc.resource, tc.namespace, review.Status.Reason)
	}

	// Level-triggered: a redelivery and a full reconcile write nothing new.
	rv := nsObj.ResourceVersion
	assert.NilError(t, s.sim.Redeliver(ctx, d.ID))
	_, err = s.ctrl.Reconcile(ctx, key{keyNamespace, ns})
	assert.NilError(t, err)
	nsObj, err = s.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Equal(t, nsObj.ResourceVersion, rv, "nothing changed, nothing written")
	runs, err := s.tekton.TektonV1().PipelineRuns(ns).List(ctx, metav1.ListOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.Len(runs.Items, 1), "one PipelineRun per head SHA")
}

// A push while building cancels; a push while deploying stops gracefully and lets helm finish.
func TestIntegrationSupersede(t *testing.T) {
	s := newStack(t, stackOptions{decorate: func(pr *pipelinev1.PipelineRun) {
		pr.Annotations[cluster.ForTask(cluster.AnnotationHold, "build")] = "true"
	}})
	ctx := t.Context()
	d1 := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	ns := s.namespaceOf(d1.Number)
	first := preview.PipelineRunName(preview.KindDeploy, d1.HeadSHA, 1)
	s.waitRun(ns, first, taskStarted("build"))

	s.setDecorate(func(pr *pipelinev1.PipelineRun) {
		pr.Annotations[cluster.ForTask(cluster.AnnotationHold, "deploy")] = "true"
	})
	d2, err := s.sim.Push(ctx, s.repo, d1.Number)
	assert.NilError(t, err)
	old := s.waitRun(ns, first, reason("Cancelled"))
	assert.Equal(t, old.Annotations[preview.AnnotationStopReason], preview.StopSuperseded)
	assert.Equal(t, old.Annotations[preview.AnnotationSupersededBy], d2.HeadSHA)

	second := preview.PipelineRunName(preview.KindDeploy, d2.HeadSHA, 1)
	s.waitRun(ns, second, taskStarted("deploy"))
	s.setDecorate(nil)
	d3, err := s.sim.Push(ctx, s.repo, d1.Number)
	assert.NilError(t, err)
	stopping := s.waitRun(ns, second, func(pr *pipelinev1.PipelineRun) string {
		if pr.Spec.Status != pipelinev1.PipelineRunSpecStatusStoppedRunFinally {
			return "not stopped gracefully yet: " + string(pr.Spec.Status)
		}
		return ""
	})
	assert.Assert(t, !stopping.IsDone(), "the deploy task is still running: the run is not killed")
	s.release(ns, second, "deploy")
	done := s.waitRun(ns, second, func(pr *pipelinev1.PipelineRun) string {
		if !pr.IsDone() {
			return "still running"
		}
		return ""
	})
	deployTR := taskRunOf(t, s, ns, done, "deploy")
	assert.Equal(t, deployTR.Status.GetCondition("Succeeded").Reason, "Succeeded", "helm was allowed to finish")
	for _, c := range done.Status.ChildReferences {
		assert.Check(t, c.PipelineTaskName != "healthcheck", "nothing new starts after a graceful stop")
	}
	s.waitRun(ns, preview.PipelineRunName(preview.KindDeploy, d3.HeadSHA, 1), reason("Succeeded"))
}

func taskRunOf(t *testing.T, s *stack, ns string, pr *pipelinev1.PipelineRun, task string) *pipelinev1.TaskRun {
	t.Helper()
	for _, c := range pr.Status.ChildReferences {
		if c.PipelineTaskName == task {
			tr, err := s.tekton.TektonV1().TaskRuns(ns).Get(t.Context(), c.Name, metav1.GetOptions{})
			assert.NilError(t, err)
			return tr
		}
	}
	t.Fatalf("no %s task in %s", task, pr.Name)
	return nil
}

// Over the concurrency limit runs wait as PipelineRunPending with their queue position and start
// first-in first-out.
func TestIntegrationQueue(t *testing.T) {
	s := newStack(t, stackOptions{
		configure: func(c *config.Config) { c.Preview.Concurrency.Global = 1 },
		decorate: func(pr *pipelinev1.PipelineRun) {
			pr.Annotations[cluster.ForTask(cluster.AnnotationHold, "build")] = "true"
		},
	})
	d1 := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	run1 := preview.PipelineRunName(preview.KindDeploy, d1.HeadSHA, 1)
	s.waitRun(s.namespaceOf(d1.Number), run1, taskStarted("build"))
	d2 := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	d3 := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	run2 := preview.PipelineRunName(preview.KindDeploy, d2.HeadSHA, 1)
	run3 := preview.PipelineRunName(preview.KindDeploy, d3.HeadSHA, 1)
	pending := func(pr *pipelinev1.PipelineRun) string {
		if pr.Spec.Status != pipelinev1.PipelineRunSpecStatusPending {
			return "not pending: " + string(pr.Spec.Status)
		}
		return ""
	}
	s.waitRun(s.namespaceOf(d2.Number), run2, pending)
	s.waitRun(s.namespaceOf(d3.Number), run3, pending)
	s.waitRun(s.namespaceOf(d2.Number), run2, annotated(preview.AnnotationQueuePosition, "1"))
	s.waitRun(s.namespaceOf(d3.Number), run3, annotated(preview.AnnotationQueuePosition, "2"))

	s.release(s.cfg.Preview.BuildNamespace, run1, "build") // the build runs in the builds namespace
	s.waitRun(s.namespaceOf(d1.Number), run1, reason("Succeeded"))
	started := s.waitRun(s.namespaceOf(d2.Number), run2, taskStarted("build"))
	assert.Equal(t, started.Annotations[preview.AnnotationQueuePosition], "", "a started run has no queue position")
	s.waitRun(s.namespaceOf(d3.Number), run3, annotated(preview.AnnotationQueuePosition, "1"))
	r3, err := s.tekton.TektonV1().PipelineRuns(s.namespaceOf(d3.Number)).Get(t.Context(), run3, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Equal(t, r3.Spec.Status, pipelinev1.PipelineRunSpecStatus(pipelinev1.PipelineRunSpecStatusPending), "first in, first out: the third waits")
}

// Closing runs the cleanup pipeline, then deletes the namespace.
func TestIntegrationCloseCleansUp(t *testing.T) {
	s := newStack(t, stackOptions{})
	d := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	ns := s.namespaceOf(d.Number)
	s.waitRun(ns, preview.PipelineRunName(preview.KindDeploy, d.HeadSHA, 1), reason("Succeeded"))
	closed := time.Now()
	_, err := s.sim.ClosePR(t.Context(), s.repo, d.Number)
	assert.NilError(t, err)
	s.waitRun(ns, preview.PipelineRunName(preview.KindCleanup, d.HeadSHA, 1), nil)
	s.waitNamespaceGone(ns)
	t.Logf("close -> namespace gone in %s", time.Since(closed).Round(time.Millisecond))
}

// Infrastructure failures (eviction) are retried automatically, at most 3 attempts, with backoff.
func TestIntegrationInfrastructureRetry(t *testing.T) {
	s := newStack(t, stackOptions{decorate: func(pr *pipelinev1.PipelineRun) {
		pr.Annotations[cluster.ForTask(cluster.AnnotationEvict, "build")] = "true"
	}})
	d := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	ns := s.namespaceOf(d.Number)
	for attempt := 1; attempt <= 3; attempt++ {
		run := s.waitRun(ns, preview.PipelineRunName(preview.KindDeploy, d.HeadSHA, attempt), annotated(preview.AnnotationFailureClass, "infrastructure"))
		if attempt > 1 {
			assert.Equal(t, run.Annotations[preview.AnnotationCause], preview.CauseRetry)
		}
	}
	// The third failure is final: no fourth attempt, even after the longest backoff.
	_, err := s.ctrl.Reconcile(t.Context(), key{keyNamespace, ns})
	assert.NilError(t, err)
	_, err = s.tekton.TektonV1().PipelineRuns(ns).Get(t.Context(), preview.PipelineRunName(preview.KindDeploy, d.HeadSHA, 4), metav1.GetOptions{})
	assert.Check(t, apierrors.IsNotFound(err), "at most 3 attempts")

	// An application failure is not retried: it waits for /retest.
	s.setDecorate(func(pr *pipelinev1.PipelineRun) {
		pr.Annotations[cluster.ForTask(cluster.AnnotationFail, "build")] = "1"
	})
	_, err = s.sim.Comment(t.Context(), s.repo, d.Number, "alice", "/retest")
	assert.NilError(t, err)
	s.waitRun(ns, preview.PipelineRunName(preview.KindDeploy, d.HeadSHA, 4), annotated(preview.AnnotationFailureClass, "application"))
	_, err = s.ctrl.Reconcile(t.Context(), key{keyNamespace, ns})
	assert.NilError(t, err)
	_, err = s.tekton.TektonV1().PipelineRuns(ns).Get(t.Context(), preview.PipelineRunName(preview.KindDeploy, d.HeadSHA, 5), metav1.GetOptions{})
	assert.Check(t, apierrors.IsNotFound(err), "application failures are not retried automatically")
}

// An untrusted fork gets nothing until a collaborator with write access comments /ok-to-test.
func TestIntegrationUntrustedForkNeedsApproval(t *testing.T) {
	s := newStack(t, stackOptions{})
	ctx := t.Context()
	s.sim.SetCollaborator(s.repo, "bob", "write")
	s.sim.SetCollaborator(s.repo, "trent", "read")
	d := s.open(ghsim.PROptions{Author: "mallory", AuthorAssociation: "FIRST_TIME_CONTRIBUTOR", Fork: true})
	ns := s.namespaceOf(d.Number)
	waitComment(t, s, d.Number, "waiting for approval")
	_, err := s.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	assert.Check(t, apierrors.IsNotFound(err), "no namespace before approval")

	_, err = s.sim.Comment(ctx, s.repo, d.Number, "trent", "/ok-to-test")
	assert.NilError(t, err)
	waitComment(t, s, d.Number, "approval not accepted")
	_, err = s.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	assert.Check(t, apierrors.IsNotFound(err), "a reader cannot approve")

	_, err = s.sim.Comment(ctx, s.repo, d.Number, "bob", "/ok-to-test")
	assert.NilError(t, err)
	s.waitRun(ns, preview.PipelineRunName(preview.KindDeploy, d.HeadSHA, 1), reason("Succeeded"))

	// The approval is pinned to the SHA: a new push waits again.
	d2, err := s.sim.Push(ctx, s.repo, d.Number)
	assert.NilError(t, err)
	waitComment(t, s, d.Number, short(d2.HeadSHA))
	_, err = s.ctrl.Reconcile(ctx, key{keyNamespace, ns})
	assert.NilError(t, err)
	_, err = s.tekton.TektonV1().PipelineRuns(ns).Get(ctx, preview.PipelineRunName(preview.KindDeploy, d2.HeadSHA, 1), metav1.GetOptions{})
	assert.Check(t, apierrors.IsNotFound(err), "a push after approval needs a new approval")
}

// waitComment waits until the trigger's notice on the PR contains want.
func waitComment(t *testing.T, s *stack, number int, want string) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		for _, c := range s.sim.Comments(s.repo, number) {
			if strings.Contains(c.GetBody(), want) {
				return poll.Success()
			}
		}
		return poll.Continue("no comment containing %q yet", want)
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))
}

// A repository without configuration gets exactly one explanatory comment.
func TestIntegrationUnconfiguredRepository(t *testing.T) {
	s := newStack(t, stackOptions{})
	other := s.repo + "-unconfigured"
	s.sim.AddRepo(other)
	d, err := s.sim.OpenPR(t.Context(), other, ghsim.PROptions{Author: "alice"})
	assert.NilError(t, err)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if n := len(s.sim.Comments(other, d.Number)); n != 1 {
			return poll.Continue("%d comments", n)
		}
		return poll.Success()
	}, poll.WithTimeout(60*time.Second))
	assert.Check(t, is.Contains(s.sim.Comments(other, d.Number)[0].GetBody(), "not configured"))
	writes := s.sim.WriteCalls()
	assert.NilError(t, s.sim.Redeliver(t.Context(), d.ID))
	_, err = s.ctrl.Reconcile(t.Context(), key{keyPending, preview.NamespaceName(other, d.Number)})
	assert.NilError(t, err)
	assert.Equal(t, s.sim.WriteCalls(), writes, "the notice is posted once")
	assert.Check(t, is.Len(s.sim.Comments(other, d.Number), 1))
}

// A webhook that never arrived is repaired by the resync; a trigger that was down converges
// when it starts.
func TestIntegrationResyncAndRestart(t *testing.T) {
	s := newStack(t, stackOptions{noStart: true})
	s.sim.DropWebhooks(1)
	lost := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	recorded := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	// The second webhook was recorded while the controller was down: nothing runs yet.
	_, err := s.kube.CoreV1().Namespaces().Get(t.Context(), s.namespaceOf(recorded.Number), metav1.GetOptions{})
	assert.NilError(t, err)
	s.start()
	s.waitRun(s.namespaceOf(recorded.Number), preview.PipelineRunName(preview.KindDeploy, recorded.HeadSHA, 1), reason("Succeeded"))
	s.ctrl.Resync(t.Context())
	s.waitRun(s.namespaceOf(lost.Number), preview.PipelineRunName(preview.KindDeploy, lost.HeadSHA, 1), reason("Succeeded"))
}

// Concurrent deliveries for one PR (several webhook replicas) never lose an update: the store
// retries conflicts on fresh reads.
func TestIntegrationConcurrentRecordsConverge(t *testing.T) {
	s := newStack(t, stackOptions{noStart: true})
	d := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	ns := s.namespaceOf(d.Number)
	base := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			ev := record.Event{Type: "pull_request", Action: record.ActionUpdate, Repo: s.repo, Number: d.Number, InstallationID: 1, Delivery: strconv.Itoa(i),
				PR: &record.PRState{HeadSHA: shaN(i), State: "open", Author: "alice", AuthorAssociation: "MEMBER", UpdatedAt: base.Add(time.Duration(i) * time.Second)}}
			_, err := s.ctrl.store.Record(t.Context(), ev)
			errs <- err
		}()
	}
	for range 20 {
		assert.NilError(t, <-errs)
	}
	got, err := s.kube.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Equal(t, got.Annotations[preview.AnnotationHeadSHA], shaN(19), "the newest state wins whatever the arrival order")
}

func shaN(i int) string {
	return strconv.FormatInt(int64(0xabc000+i), 16) + "0000000000000000000000000000000000"
}

// A chart that asks for the node — a privileged container, a hostPath volume, the host's network
// or PID namespace, or the build's unconfined seccomp — gets no pod: the pipeline ServiceAccount
// may create the Deployment, and Pod Security admission (baseline, enforced on the namespace the
// trigger provisioned) refuses its pods; the Deployment says why, which is what the deploy
// step's rollout wait reports to the pull request.
func TestIntegrationChartCannotReachTheNode(t *testing.T) {
	s := newStack(t, stackOptions{})
	ctx := t.Context()
	d := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	ns := s.namespaceOf(d.Number)
	s.waitRun(ns, preview.PipelineRunName(preview.KindDeploy, d.HeadSHA, 1), reason("Succeeded"))

	rc := cluster.Require(t).RESTConfig()
	rc.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ns + ":" + PipelineServiceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	rc.WarningHandler = rest.NoWarnings{} // admission's "would violate restricted" warnings are expected here
	asPipeline := kubernetes.NewForConfigOrDie(rc)
	yes := true
	tests := map[string]struct {
		edit func(*corev1.PodSpec)
		want string
	}{
		"privileged container": {edit: func(p *corev1.PodSpec) {
			p.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
		}, want: "privileged"},
		"hostPath volume": {edit: func(p *corev1.PodSpec) {
			p.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}, want: "hostPath volumes"},
		"host network": {edit: func(p *corev1.PodSpec) { p.HostNetwork = true }, want: "host namespaces"},
		"host PID":     {edit: func(p *corev1.PodSpec) { p.HostPID = true }, want: "host namespaces"},
		"unconfined seccomp": {edit: func(p *corev1.PodSpec) {
			p.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
		}, want: "seccompProfile"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			app := strings.ToLower(strings.ReplaceAll(name, " ", "-"))
			spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1"}}}
			tc.edit(&spec)
			one := int32(1)
			_, err := asPipeline.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: app},
				Spec: appsv1.DeploymentSpec{
					Replicas: &one,
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}}, Spec: spec},
				},
			}, metav1.CreateOptions{})
			assert.NilError(t, err, "the pipeline may create Deployments; admission judges their pods")
			poll.WaitOn(t, func(poll.LogT) poll.Result {
				dep, err := s.kube.AppsV1().Deployments(ns).Get(ctx, app, metav1.GetOptions{})
				if err != nil {
					return poll.Error(err)
				}
				if dep.Status.ReadyReplicas > 0 {
					return poll.Error(fmt.Errorf("deployment %s has a ready pod: admission let it through", app))
				}
				for _, c := range dep.Status.Conditions {
					if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
						if !strings.Contains(c.Message, `violates PodSecurity "baseline:latest"`) || !strings.Contains(c.Message, tc.want) {
							return poll.Error(fmt.Errorf("replica failure is not Pod Security's refusal of %s: %s", tc.want, c.Message))
						}
						return poll.Success()
					}
				}
				return poll.Continue("deployment %s has no ReplicaFailure condition yet", app)
			}, poll.WithTimeout(60*time.Second), poll.WithDelay(200*time.Millisecond))
			pods, err := s.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
			assert.NilError(t, err)
			assert.Check(t, is.Len(pods.Items, 0))
		})
	}
}

func sarFor(ns, target string) *authorizationv1.SubjectAccessReview {
	return &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + ns + ":" + PipelineServiceAccount,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: target, Verb: "create", Group: "apps", Resource: "deployments",
		},
	}}
}

// What the trigger copied or created and the configuration no longer asks for — a secret
// removed from the repository's list, the auxiliary namespaces' policy — is gone after the
// next reconcile; the git token stays.
func TestIntegrationPrunesWhatTheConfigurationDropped(t *testing.T) {
	s := newStack(t, stackOptions{configure: func(c *config.Config) { c.Preview.AuxiliaryNamespaces = []string{"registry"} }})
	ctx := t.Context()
	d := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	ns := s.namespaceOf(d.Number)
	s.waitRun(ns, preview.PipelineRunName(preview.KindDeploy, d.HeadSHA, 1), reason("Succeeded"))
	_, err := s.kube.CoreV1().Secrets(ns).Get(ctx, "shop-db", metav1.GetOptions{})
	assert.NilError(t, err)
	_, err = s.kube.NetworkingV1().NetworkPolicies(ns).Get(ctx, "catalyst-allow-auxiliary", metav1.GetOptions{})
	assert.NilError(t, err)
	nsObj, err := s.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	assert.NilError(t, err)
	assert.Check(t, !strings.Contains(nsObj.Annotations[preview.AnnotationProvisionedHash], "hunter2"))

	// The operator edits the configuration and restarts the trigger.
	s.stop()
	cfg := *s.cfg
	cfg.Preview.AuxiliaryNamespaces = nil
	cfg.Repositories = append([]config.Repository(nil), s.cfg.Repositories...)
	cfg.Repositories[0].Secrets = nil
	deps := s.ctrl.Deps
	deps.Config = &cfg
	restarted := NewController(deps)
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = restarted.Run(rctx, 2) }()
	t.Cleanup(func() { cancel(); <-done })

	poll.WaitOn(t, func(poll.LogT) poll.Result {
		_, errSecret := s.kube.CoreV1().Secrets(ns).Get(ctx, "shop-db", metav1.GetOptions{})
		_, errPolicy := s.kube.NetworkingV1().NetworkPolicies(ns).Get(ctx, "catalyst-allow-auxiliary", metav1.GetOptions{})
		if !apierrors.IsNotFound(errSecret) || !apierrors.IsNotFound(errPolicy) {
			return poll.Continue("secret copy: %v, auxiliary policy: %v", errSecret, errPolicy)
		}
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))
	_, err = s.kube.CoreV1().Secrets(ns).Get(ctx, preview.GitTokenSecret, metav1.GetOptions{})
	assert.NilError(t, err, "the git token is not a configured copy")
	_, err = s.kube.NetworkingV1().NetworkPolicies(ns).Get(ctx, "catalyst-default-deny", metav1.GetOptions{})
	assert.NilError(t, err)
}
