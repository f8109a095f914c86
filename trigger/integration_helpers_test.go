package trigger

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/poll"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/apis"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/pipelines"
	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/trigger/buildrun"
	"github.com/catalyst-preview/catalyst/trigger/webhook"
)

// stack is one test's trigger running against the real control plane and the GitHub simulator:
// webhooks from the simulator reach the real handler, the controller runs in-process.
type stack struct {
	t        *testing.T
	cfg      *config.Config
	kube     kubernetes.Interface
	tekton   tektonclient.Interface
	sim      *ghsim.Sim
	repo     string
	system   string
	ctrl     *Controller
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	decorate func(*pipelinev1.PipelineRun)
}

type stackOptions struct {
	configure func(*config.Config)
	decorate  func(*pipelinev1.PipelineRun)
	noStart   bool // record webhooks but do not run the controller yet
}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	c := cluster.Require(t)
	ctx := t.Context()
	system := c.Namespace(t)
	// Each test's builds run in a namespace of its own: tests share the cluster.
	builds := c.Namespace(t)
	rc := c.RESTConfig()
	rc.QPS, rc.Burst = 200, 400
	s := &stack{t: t, kube: c.Kube(), system: system, decorate: o.decorate}
	s.tekton = tektonclient.NewForConfigOrDie(rc)
	dyn := dynamic.NewForConfigOrDie(rc)
	// A repository of its own per test: PR namespaces are cluster-wide and tests must not meet.
	s.repo = "acme/" + strings.TrimPrefix(system, "test")
	if len(s.repo) > 40 {
		s.repo = s.repo[:40]
	}
	s.repo = strings.TrimRight(s.repo, "-")

	sim, err := ghsim.New(ghsim.Options{})
	assert.NilError(t, err)
	t.Cleanup(sim.Close)
	sim.AddRepo(s.repo)
	s.sim = sim

	s.cfg = testConfig(t, func(cfg *config.Config) {
		cfg.GitHub.APIURL = sim.URL() + "/"
		cfg.Repositories[0].Name = s.repo
		cfg.Preview.PipelineNamespace = system
		cfg.Preview.SecretsNamespace = system
		cfg.Preview.BuildNamespace = builds
		cfg.Preview.Retry.BaseDelay = &metav1.Duration{Duration: time.Second}
		if o.configure != nil {
			o.configure(cfg)
		}
	})
	assert.NilError(t, pipelines.Apply(ctx, s.tekton, system))
	_, err = s.kube.CoreV1().Secrets(system).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-db"},
		StringData: map[string]string{"password": "hunter2"},
	}, metav1.CreateOptions{})
	assert.NilError(t, err)

	gh, err := githubapp.NewApp(githubapp.AppConfig{AppID: sim.AppID(), PrivateKeyPEM: sim.PrivateKeyPEM(), BaseURL: sim.URL() + "/"}, zap.NewNop(), nil)
	assert.NilError(t, err)
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	s.ctrl = NewController(Deps{
		Kube: s.kube, Tekton: s.tekton, Dynamic: dyn, GitHub: ClientsFrom(gh), Config: s.cfg,
		SystemNamespace: system, Log: log, RetryAfter: githubapp.RetryAfter,
		ResyncEvery: time.Hour, // tests call Resync themselves
		DecorateRun: func(pr *pipelinev1.PipelineRun) {
			s.mu.Lock()
			defer s.mu.Unlock()
			simulateResults(pr)
			if s.decorate != nil {
				s.decorate(pr)
			}
		},
	})
	handler := webhook.NewHandler(func() [][]byte { return [][]byte{sim.WebhookSecret()} }, s.ctrl.store, log, nil)
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	sim.SetWebhookURL(srv.URL)
	t.Cleanup(func() { s.cleanupNamespaces() })
	if !o.noStart {
		s.start()
	}
	return s
}

// start runs the controller until the test ends (or stop is called).
func (s *stack) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	// The trigger binary runs both controllers (cmd/trigger): the build controller runs the
	// pipeline's build custom task in the builds namespace.
	builds := buildrun.NewController(buildrun.Deps{Kube: s.kube, Tekton: s.tekton, Dynamic: s.ctrl.Dynamic, Config: s.cfg, Log: s.ctrl.Log.Named("build")})
	go func() {
		defer close(s.done)
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return s.ctrl.Run(ctx, 2) })
		g.Go(func() error { return builds.Run(ctx, 2) })
		if err := g.Wait(); err != nil {
			s.t.Errorf("controller: %v", err)
		}
	}()
	s.t.Cleanup(s.stop)
}

func (s *stack) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

func (s *stack) setDecorate(f func(*pipelinev1.PipelineRun)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decorate = f
}

func (s *stack) cleanupNamespaces() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := s.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: preview.LabelRepo + "=" + preview.RepoLabelValue(s.repo)})
	if err != nil {
		return
	}
	for _, ns := range list.Items {
		_ = s.kube.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
	}
}

func (s *stack) open(o ghsim.PROptions) ghsim.Delivery {
	s.t.Helper()
	d, err := s.sim.OpenPR(s.t.Context(), s.repo, o)
	assert.NilError(s.t, err)
	return d
}

func (s *stack) namespaceOf(number int) string { return preview.NamespaceName(s.repo, number) }

// waitRun waits until the PipelineRun exists and check says it is as expected.
func (s *stack) waitRun(ns, name string, check func(*pipelinev1.PipelineRun) string) *pipelinev1.PipelineRun {
	s.t.Helper()
	var got *pipelinev1.PipelineRun
	poll.WaitOn(s.t, func(poll.LogT) poll.Result {
		pr, err := s.tekton.TektonV1().PipelineRuns(ns).Get(s.t.Context(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return poll.Continue("pipelinerun %s/%s does not exist yet", ns, name)
		}
		if err != nil {
			return poll.Error(err)
		}
		if check != nil {
			if why := check(pr); why != "" {
				return poll.Continue("pipelinerun %s/%s: %s", ns, name, why)
			}
		}
		got = pr
		return poll.Success()
	}, poll.WithTimeout(90*time.Second), poll.WithDelay(100*time.Millisecond))
	return got
}

func (s *stack) waitNamespaceGone(ns string) {
	s.t.Helper()
	poll.WaitOn(s.t, func(poll.LogT) poll.Result {
		_, err := s.kube.CoreV1().Namespaces().Get(s.t.Context(), ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return poll.Success()
		}
		return poll.Continue("namespace %s still exists (err %v)", ns, err)
	}, poll.WithTimeout(2*time.Minute), poll.WithDelay(200*time.Millisecond))
}

// succeeded, failed, ... are conditions for waitRun.
func reason(want string) func(*pipelinev1.PipelineRun) string {
	return func(pr *pipelinev1.PipelineRun) string {
		c := pr.Status.GetCondition(apis.ConditionSucceeded)
		if c == nil {
			return "no condition yet"
		}
		if c.Reason != want {
			return fmt.Sprintf("reason %s (%s), want %s", c.Reason, c.Message, want)
		}
		return ""
	}
}

// taskStarted: the TaskRun of pipeline task name exists for the run.
func taskStarted(name string) func(*pipelinev1.PipelineRun) string {
	return func(pr *pipelinev1.PipelineRun) string {
		for _, c := range pr.Status.ChildReferences {
			if c.PipelineTaskName == name {
				return ""
			}
		}
		return "task " + name + " not started"
	}
}

func annotated(key, want string) func(*pipelinev1.PipelineRun) string {
	return func(pr *pipelinev1.PipelineRun) string {
		if got := pr.Annotations[key]; got != want {
			return fmt.Sprintf("annotation %s is %q, want %q", key, got, want)
		}
		return ""
	}
}

func paramOf(pr *pipelinev1.PipelineRun, name string) string {
	for _, p := range pr.Spec.Params {
		if p.Name == name {
			return p.Value.StringVal
		}
	}
	return ""
}

// release lets a held task pod end, retrying until the pod exists.
func (s *stack) release(ns, run, task string) {
	s.t.Helper()
	poll.WaitOn(s.t, func(poll.LogT) poll.Result {
		if err := cluster.Release(s.t.Context(), s.kube, ns, run, task); err != nil {
			return poll.Continue("%v", err)
		}
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(100*time.Millisecond))
}

// simulateResults makes the simulated task pods report the results the real steps write, so that
// Tekton can compute the pipeline results.
func simulateResults(pr *pipelinev1.PipelineRun) {
	if pr.Annotations == nil {
		pr.Annotations = map[string]string{}
	}
	host := ""
	for _, p := range pr.Spec.Params {
		if p.Name == "preview-host" {
			host = p.Value.StringVal
		}
	}
	pr.Annotations[cluster.ForTask(cluster.AnnotationResults, "build")] = cluster.ResultsMessage(map[string]string{
		"image-digest": "sha256:" + strings.Repeat("ab", 32),
	})
	pr.Annotations[cluster.ForTask(cluster.AnnotationResults, "deploy")] = cluster.ResultsMessage(map[string]string{
		"url": "https://" + host, "release-revision": "1",
	})
}
