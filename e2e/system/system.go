// Package system runs the whole product for the demo, the end-to-end tests and the bench: the
// local control plane (e2e/cluster), the GitHub simulator (e2e/ghsim), the project's pipelines,
// and the trigger and reporter as real processes built from cmd/, configured through a real
// configuration file, exactly as an operator would run them.
package system

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
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
	"github.com/catalyst-preview/catalyst/e2e/podfate"
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
	// Configure edits the configuration before it is written.
	Configure func(*config.Config)
	// Policy decides each task pod's fate; nil: every task succeeds at once with results.
	Policy podfate.Policy
	// Dir holds the configuration, secrets, binaries' logs; empty: a temporary folder.
	Dir string
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
	Config   *config.Config
	Dir      string
	Trigger  *Process
	Reporter *Process

	ownCluster bool
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// Start builds the binaries, writes the configuration and starts everything.
func Start(ctx context.Context, o Options) (_ *System, err error) {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	s := &System{Cluster: o.Cluster, Dir: o.Dir}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "catalyst-system-"); err != nil {
			return nil, err
		}
	}
	bins, err := buildBinaries(ctx, s.Dir, progress)
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
	if s.Config, err = s.writeConfig(o); err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	policy := o.Policy
	if policy == nil {
		policy = podfate.Succeed(0)
	}
	s.Driver = podfate.New(s.Kube, s.Tekton, policy)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = s.Driver.Run(runCtx) }()

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

// Stop stops the processes, the simulator and, when Start started it, the cluster.
func (s *System) Stop() {
	for _, p := range []*Process{s.Trigger, s.Reporter} {
		if p != nil {
			p.Stop()
		}
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.Sim != nil {
		s.Sim.Close()
	}
	if s.ownCluster && s.Cluster != nil {
		_ = s.Cluster.Stop()
	}
}

func (s *System) writeConfig(o Options) (*config.Config, error) {
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
			// Every task pod waits for the pod-fate driver, which plays the workload's part.
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

func ensureNamespace(ctx context.Context, kube kubernetes.Interface, name string) error {
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// buildBinaries compiles cmd/trigger and cmd/reporter (seconds with a warm Go cache).
func buildBinaries(ctx context.Context, dir string, progress io.Writer) (map[string]string, error) {
	root, err := cluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	binDir := filepath.Join(dir, "bin")
	fmt.Fprintln(progress, "building trigger and reporter...")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", binDir+"/", "./cmd/trigger", "./cmd/reporter")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("build trigger and reporter: %w", err)
	}
	for _, name := range []string{"trigger", "reporter"} {
		out[name] = filepath.Join(binDir, name)
	}
	return out, nil
}

// Process is one of the system's binaries, running.
type Process struct {
	Name    string
	URL     string // http://127.0.0.1:PORT (webhook, health, metrics)
	LogPath string
	bin     string
	args    []string
	cmd     *exec.Cmd
	exited  chan error
	log     *os.File
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
	port, err := freePort()
	if err != nil {
		return err
	}
	p.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	if p.log, err = os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin, append(p.args, "--listen=127.0.0.1:"+strconv.Itoa(port))...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	// The process dies with the test binary or demo, however that ends.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.exited = make(chan error, 1)
	go func() { p.exited <- p.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-p.exited:
			return fmt.Errorf("%s exited at start (%v); log: %s", p.Name, err, p.LogPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := http.Get(p.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 60s; log: %s", p.Name, p.LogPath)
		}
	}
}

// Stop ends the process with SIGTERM (a clean shutdown), then SIGKILL after 10s.
func (p *Process) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
	_ = p.log.Close()
}

// Kill ends the process at once, as a crash or a node loss would.
func (p *Process) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
	_ = p.log.Close()
}

// Pid of the running process, 0 when stopped.
func (p *Process) Pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
