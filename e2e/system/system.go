// Package system runs the whole product for the demo, the end-to-end tests and the bench: the
// local control plane (e2e/cluster), the GitHub simulator (e2e/ghsim), the project's pipelines,
// and the trigger and reporter as real processes built from cmd/, configured through a real
// configuration file, as an operator would run them. Task pods that run the step image run the
// real cmd/preview-step (e2e/steprunner) with the pod's ServiceAccount; a local ingress stand-in
// (e2e/ingress) answers for preview hosts; the image build and the git fetch are simulated
// (e2e/podfate, steprunner.FetchFrom).
package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/e2e/ingress"
	"github.com/catalyst-preview/catalyst/e2e/podfate"
	"github.com/catalyst-preview/catalyst/e2e/process"
	"github.com/catalyst-preview/catalyst/e2e/steprunner"
	"github.com/catalyst-preview/catalyst/pipelines"
)

// Namespace is where the system's own objects live (pipelines, pending records, leases).
const Namespace = "catalyst-system"

// Options configure Start.
type Options struct {
	// Cluster to use; nil starts one (and stops it with the system).
	Cluster *cluster.Cluster
	// Repositories configured in the trigger, each also created in the simulator.
	Repositories []string
	// Sources maps a repository ("owner/name") to the folder whose files stand for its content
	// at every commit: the simulated git fetch copies it for the deploy step. Repositories
	// not listed get the example application (charts/example-app of this checkout).
	Sources map[string]string
	// Configure edits the configuration before it is written.
	Configure func(*config.Config)
	// Policy decides each task pod's fate; nil: podfate.RunSteps(0) — the step image's pods
	// run the real step code, the image build succeeds at once.
	Policy podfate.Policy
	// Race builds the trigger, the reporter and preview-step with the race detector. Nil: on
	// when this program is built with -race (`go test -race`, as `make test` runs), off
	// otherwise (`make run` stays fast); $CATALYST_E2E_RACE=1 or 0 decides over both.
	Race *bool
	// Progress receives build and start-up messages; nil discards them.
	Progress io.Writer
	// ResyncEvery overrides the trigger's resync period.
	ResyncEvery time.Duration
}

// System is the running product.
type System struct {
	Cluster  *cluster.Cluster
	Sim      *ghsim.Sim
	Kube     kubernetes.Interface
	Tekton   tektonclient.Interface
	Driver   *podfate.Driver
	Runner   *steprunner.Runner
	Ingress  *ingress.StandIn
	Config   *config.Config
	Trigger  *Process
	Reporter *Process
	// Dir holds the configuration, the binaries and their logs; Stop removes it (it keeps the
	// logs with the cluster's artifacts when MarkFailed was called).
	Dir string

	ownCluster bool
	failed     atomic.Bool
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	stopOnce   sync.Once
	stopErr    error
}

// Start builds the binaries, writes the configuration and starts everything.
func Start(ctx context.Context, o Options) (_ *System, err error) {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	s := &System{Cluster: o.Cluster}
	defer func() {
		if err != nil {
			s.MarkFailed()
			_ = s.Stop()
		}
	}()
	if s.Dir, err = os.MkdirTemp("", "catalyst-system-"); err != nil {
		return nil, err
	}
	race := process.RaceFromEnv()
	if o.Race != nil && os.Getenv("CATALYST_E2E_RACE") == "" {
		race = *o.Race
	}
	root, err := cluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	what := "trigger, reporter and preview-step"
	if race {
		what += " (with the race detector)"
	}
	fmt.Fprintf(progress, "building %s...\n", what)
	bins, err := process.GoBuild(ctx, root, filepath.Join(s.Dir, "bin"), race, progress, "./cmd/trigger", "./cmd/reporter", "./cmd/preview-step")
	if err != nil {
		return nil, err
	}
	if s.Cluster == nil {
		fmt.Fprintln(progress, "starting the local control plane (etcd, kube-apiserver, controllers, KWOK, Tekton)...")
		if s.Cluster, err = cluster.Start(ctx, cluster.Options{Progress: progress}); err != nil {
			return nil, err
		}
		s.ownCluster = true
	}
	rc := s.Cluster.RESTConfig()
	rc.QPS, rc.Burst = 400, 800
	s.Kube = kubernetes.NewForConfigOrDie(rc)
	s.Tekton = tektonclient.NewForConfigOrDie(rc)
	if err := ensureNamespace(ctx, s.Kube, Namespace); err != nil {
		return nil, err
	}
	if err := pipelines.Apply(ctx, s.Tekton, Namespace); err != nil {
		return nil, fmt.Errorf("install pipelines: %w", err)
	}

	if s.Sim, err = ghsim.New(ghsim.Options{}); err != nil {
		return nil, err
	}
	for _, r := range o.Repositories {
		s.Sim.AddRepo(r)
	}
	ingressPort, err := process.FreePort()
	if err != nil {
		return nil, err
	}
	ingressAddr := "127.0.0.1:" + strconv.Itoa(ingressPort)
	if s.Config, err = s.writeConfig(o, ingressAddr); err != nil {
		return nil, err
	}
	if s.Ingress, err = ingress.Start(ctx, s.Kube, ingress.Options{Class: s.Config.Preview.IngressClass, Addr: ingressAddr}); err != nil {
		return nil, err
	}
	sources, err := s.sources(root, o.Sources)
	if err != nil {
		return nil, err
	}
	s.Runner = steprunner.New(s.Kube, rc, s.Cluster, steprunner.Options{
		Image:    s.Config.Preview.StepImage,
		Commands: map[string]string{"preview-step": bins["preview-step"]},
		Simulate: steprunner.FetchFrom(sources),
		Dir:      s.Dir,
	})

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	policy := o.Policy
	if policy == nil {
		policy = podfate.RunSteps(0)
	}
	driverLog, err := os.Create(filepath.Join(s.Dir, "podfate.log"))
	if err != nil {
		return nil, err
	}
	s.Driver = podfate.New(s.Kube, s.Tekton, policy, podfate.Options{Runner: s.Runner, Logs: s.Cluster, ErrorLog: driverLog})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer driverLog.Close()
		_ = s.Driver.Run(runCtx)
	}()

	extra := []string{}
	if o.ResyncEvery > 0 {
		extra = append(extra, "--resync="+o.ResyncEvery.String())
	}
	s.Trigger = s.newProcess("trigger", bins["trigger"], extra...)
	s.Reporter = s.newProcess("reporter", bins["reporter"])
	for _, p := range []*Process{s.Trigger, s.Reporter} {
		if err := p.Start(ctx); err != nil {
			return nil, err
		}
	}
	s.Sim.SetWebhookURL(s.Trigger.URL + "/webhook")
	return s, nil
}

// MarkFailed makes Stop keep the system's logs (trigger, reporter, pod fates, configuration)
// with the cluster's artifacts, and marks the cluster failed too.
func (s *System) MarkFailed() {
	s.failed.Store(true)
	if s.Cluster != nil {
		s.Cluster.MarkFailed()
	}
}

// Stop stops the processes, the pod-fate driver, the ingress stand-in, the simulator and, when
// Start started it, the cluster; then removes Dir. It returns an error when a process reported
// a data race. It is idempotent.
func (s *System) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *System) stop() error {
	var errs []error
	for _, p := range []*Process{s.Trigger, s.Reporter} {
		if p != nil {
			p.Stop()
			if races := p.races(); races > 0 {
				errs = append(errs, fmt.Errorf("%s reported %d data race(s); see its log", p.Name, races))
				s.MarkFailed()
			}
		}
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.Ingress != nil {
		s.Ingress.Close()
	}
	if s.Sim != nil {
		s.Sim.Close()
	}
	if s.failed.Load() && s.Cluster != nil && s.Dir != "" {
		if s.Runner != nil {
			_ = os.WriteFile(filepath.Join(s.Dir, "steps.log"), []byte(s.Runner.Dump()), 0o644)
		}
		// The cluster moves its log folder to the artifacts when it stops.
		for _, name := range []string{"trigger.log", "reporter.log", "podfate.log", "steps.log", "config.yaml"} {
			if data, err := os.ReadFile(filepath.Join(s.Dir, name)); err == nil {
				_ = os.WriteFile(filepath.Join(s.Cluster.LogDir(), "system-"+name), data, 0o644)
			}
		}
	}
	if s.ownCluster && s.Cluster != nil {
		errs = append(errs, s.Cluster.Stop())
	}
	if s.Dir != "" {
		errs = append(errs, os.RemoveAll(s.Dir))
	}
	return errors.Join(errs...)
}

func (s *System) writeConfig(o Options, ingressAddr string) (*config.Config, error) {
	key := filepath.Join(s.Dir, "github-app.pem")
	secret := filepath.Join(s.Dir, "webhook-secret")
	if err := os.WriteFile(key, s.Sim.PrivateKeyPEM(), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(secret, s.Sim.WebhookSecret(), 0o600); err != nil {
		return nil, err
	}
	cfg := &config.Config{
		GitHub: config.GitHub{
			APIURL: s.Sim.URL() + "/", AppID: s.Sim.AppID(), PrivateKeyFile: key,
			WebhookSecretFiles: []string{secret},
		},
		Preview: config.Preview{
			Domain:            "preview.localtest.me",
			URLScheme:         "http",
			Registry:          "registry.catalyst-system.svc:5000/previews",
			PipelineNamespace: Namespace,
			SecretsNamespace:  Namespace,
			// The health check dials the ingress stand-in for every preview host.
			HealthConnectTo: ingressAddr,
			// Every task pod waits for the pod-fate driver, which runs the step image's
			// containers for real and plays the others.
			PipelineRunAnnotations: map[string]string{cluster.AnnotationHold: "true"},
		},
	}
	for _, r := range o.Repositories {
		cfg.Repositories = append(cfg.Repositories, config.Repository{Name: r, ChartPath: "charts/example-app", ValuesFile: "charts/example-app/values.yaml"})
	}
	if o.Configure != nil {
		o.Configure(cfg)
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(s.Dir, "config.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return nil, err
	}
	loaded, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("the generated configuration is invalid: %w", err)
	}
	return loaded, nil
}

// sources returns, for a clone URL, the folder standing for that repository's content.
func (s *System) sources(root string, byRepo map[string]string) (func(string) (string, error), error) {
	// The default repository holds the example application at the path the configuration
	// names, nothing else.
	def := filepath.Join(s.Dir, "sources", "default")
	if err := os.CopyFS(filepath.Join(def, "charts", "example-app"), os.DirFS(filepath.Join(root, "charts", "example-app"))); err != nil {
		return nil, fmt.Errorf("copy the example application: %w", err)
	}
	return func(cloneURL string) (string, error) {
		u, err := url.Parse(cloneURL)
		if err != nil {
			return "", err
		}
		parts := strings.Split(strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git"), "/")
		if len(parts) >= 2 {
			if dir, ok := byRepo[parts[len(parts)-2]+"/"+parts[len(parts)-1]]; ok {
				return dir, nil
			}
		}
		return def, nil
	}, nil
}

func ensureNamespace(ctx context.Context, kube kubernetes.Interface, name string) error {
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// Process is one of the system's binaries; it can be stopped and started again.
type Process struct {
	Name    string
	URL     string // http://127.0.0.1:PORT (webhook, health, metrics); a new port each Start
	LogPath string
	bin     string
	args    []string
	p       *process.Process
}

func (s *System) newProcess(name, bin string, extra ...string) *Process {
	return &Process{
		Name: name, bin: bin, LogPath: filepath.Join(s.Dir, name+".log"),
		args: append([]string{
			"--config=" + filepath.Join(s.Dir, "config.yaml"),
			"--kubeconfig=" + s.Cluster.Kubeconfig(),
			"--system-namespace=" + Namespace,
			"--log-encoding=console",
		}, extra...),
	}
}

// Start runs the process on a free port and waits until /readyz answers.
func (p *Process) Start(ctx context.Context) error {
	port, err := process.FreePort()
	if err != nil {
		return err
	}
	p.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	p.p, err = process.Start(process.Spec{
		Name: p.Name, Bin: p.bin, Args: append(p.args, "--listen=127.0.0.1:"+strconv.Itoa(port)), LogPath: p.LogPath,
	})
	if err != nil {
		return err
	}
	return p.p.WaitFor(ctx, p.Name+" /readyz", 60*time.Second, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
}

// Stop ends the process with SIGTERM (a clean shutdown), then SIGKILL after 10s.
func (p *Process) Stop() {
	if p.p != nil {
		p.p.Stop(10 * time.Second)
		p.p = nil
	}
}

// Kill ends the process at once, as a crash or a node loss would.
func (p *Process) Kill() {
	if p.p != nil {
		p.p.Kill()
		p.p = nil
	}
}

// Pid of the running process, 0 when stopped.
func (p *Process) Pid() int {
	if p.p == nil {
		return 0
	}
	return p.p.Pid()
}

// races counts the race detector's reports in the log (every start appends to it).
func (p *Process) races() int {
	data, _ := os.ReadFile(p.LogPath)
	return strings.Count(string(data), "WARNING: DATA RACE")
}
