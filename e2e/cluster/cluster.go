package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/e2e/process"
)

var (
	//go:embed stages/node.yaml
	nodeStages []byte
	//go:embed stages/pod.yaml
	podStages []byte
)

const (
	kwokNodeName    = "kwok-node-0"
	tektonNamespace = "tekton-pipelines"
	fieldManager    = "catalyst-e2e"
)

// Options configure Start. The zero value is fine.
type Options struct {
	// Binaries to run. Zero: Start calls Build(ctx, Progress).
	Binaries Binaries
	// Progress receives build progress, the peak-memory summary and the artifacts path.
	// Nil: os.Stderr.
	Progress io.Writer
	// ArtifactsDir is where Stop copies every component's log when the run failed (see
	// MarkFailed). Empty: <repo>/e2e/artifacts/<timestamp>.
	ArtifactsDir string
	// AuthenticationConfig, when set, is the kube-apiserver's AuthenticationConfiguration
	// (--authentication-config), e.g. an OIDC issuer to trust (oidcsim.Provider's
	// AuthenticationConfig). The admin and component tokens work either way.
	AuthenticationConfig []byte
}

// Cluster is a running local control plane: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, KWOK with one fake node, and the Tekton Pipelines controller with its CRDs and
// ConfigMaps. It is safe for concurrent use by parallel tests.
type Cluster struct {
	dir          string // temporary work folder: certs, etcd data, kubeconfigs, logs
	logDir       string
	kubeconfig   string
	config       *rest.Config
	kube         kubernetes.Interface
	dyn          dynamic.Interface
	procs        []*process.Process
	bins         Binaries
	progress     io.Writer
	artifactsDir string
	failed       atomic.Bool
	stopOnce     sync.Once
	stopErr      error

	logsMu  sync.Mutex
	podLogs map[string]map[string]string // "<ns>/<pod>" -> container -> CRI log file

	started time.Time

	// StartupDuration is how long Start took once the binaries were built.
	StartupDuration time.Duration
	// PeakRSS is each component's peak resident memory in bytes (VmHWM), filled by Stop.
	PeakRSS map[string]int64
}

// RESTConfig returns a copy of the admin (system:masters) client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// Kubeconfig returns the path of an admin kubeconfig file, valid until Stop, for kubectl, tkn,
// helm or a subprocess.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Kubectl returns the path of the kubectl built from the same Kubernetes module as the
// apiserver (no kubectl package needed); use it with --kubeconfig Kubeconfig().
func (c *Cluster) Kubectl() string { return c.bins.Kubectl }

// Kube returns an admin clientset.
func (c *Cluster) Kube() kubernetes.Interface { return c.kube }

// MarkFailed makes Stop keep every component's log under the artifacts folder.
func (c *Cluster) MarkFailed() { c.failed.Store(true) }

// TempDir returns a folder for a test package's own files (built binaries, fixtures) that Stop
// removes with the cluster's, never kept as artifacts.
func (c *Cluster) TempDir() string { return filepath.Join(c.dir, "tmp") }

// LogDir returns the folder holding the components' logs while the cluster runs.
func (c *Cluster) LogDir() string { return c.logDir }

// Start starts a fresh control plane on loopback ports and returns when it is ready: the API
// server answers, the KWOK node is Ready, the default ServiceAccount exists and the Tekton
// controller is up. Stop it with Stop.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = os.Stderr
	}
	bins := opts.Binaries
	if bins.Dir == "" {
		if bins, err = Build(ctx, progress); err != nil {
			return nil, err
		}
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	artifacts := opts.ArtifactsDir
	if artifacts == "" {
		// <timestamp>-<test binary>, e.g. 20261128-205507.603-trigger: packages run in parallel
		name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
		artifacts = filepath.Join(root, "e2e", "artifacts", time.Now().Format("20060102-150405.000")+"-"+name)
	}
	begin := time.Now()
	dir, err := os.MkdirTemp("", "catalyst-e2e-")
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	c := &Cluster{
		dir:          dir,
		logDir:       filepath.Join(dir, "logs"),
		progress:     progress,
		artifactsDir: artifacts,
		podLogs:      map[string]map[string]string{},
		started:      begin,
		bins:         bins,
	}
	defer func() {
		if err != nil {
			c.MarkFailed()
			_ = c.Stop()
		}
	}()
	for _, d := range []string{c.logDir, filepath.Join(dir, "pki"), filepath.Join(dir, "podlogs"), c.TempDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("start: %w", err)
		}
	}
	pki, err := newPKI(filepath.Join(dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	ports, err := process.FreePorts(8)
	if err != nil {
		return nil, err
	}
	etcdClient, etcdPeer, etcdMetrics, apiPort, kubeletPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	tektonProbes, tektonMetrics, tektonProfiling := ports[5], ports[6], ports[7]

	// etcd
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	etcd, err := c.start("etcd", bins.Etcd, []string{
		"--name=e2e", "--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=e2e=" + peerURL,
		fmt.Sprintf("--listen-metrics-urls=http://127.0.0.1:%d", etcdMetrics),
		"--unsafe-no-fsync", "--log-level=warn",
	}, nil)
	if err != nil {
		return nil, err
	}
	if err := etcd.WaitFor(ctx, "etcd health", 30*time.Second, httpOK(http.DefaultClient, etcdURL+"/health", "")); err != nil {
		return nil, err
	}

	// kube-apiserver, with one token per component (all system:masters: the harness tests our
	// RBAC, not the components')
	users := []string{"admin", "kube-controller-manager", "kube-scheduler", "kwok", "tekton-pipelines-controller"}
	tokens := map[string]string{}
	var tokenFile strings.Builder
	for _, u := range users {
		tokens[u] = randomToken()
		fmt.Fprintf(&tokenFile, "%s,%s,%s-uid,\"system:masters\"\n", tokens[u], u, u)
	}
	tokenPath := filepath.Join(dir, "pki", "tokens.csv")
	if err := os.WriteFile(tokenPath, []byte(tokenFile.String()), 0o600); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	var authnArgs []string
	if len(opts.AuthenticationConfig) > 0 {
		path := filepath.Join(dir, "pki", "authentication.yaml")
		if err := os.WriteFile(path, opts.AuthenticationConfig, 0o600); err != nil {
			return nil, fmt.Errorf("start: %w", err)
		}
		authnArgs = append(authnArgs, "--authentication-config="+path)
	}
	api, err := c.start("kube-apiserver", bins.KubeAPIServer, append([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + pki.ServerCert, "--tls-private-key-file=" + pki.ServerKey,
		"--client-ca-file=" + pki.CACert,
		"--token-auth-file=" + tokenPath,
		"--authorization-mode=RBAC",
		"--service-account-key-file=" + pki.SAPub, "--service-account-signing-key-file=" + pki.SAKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--disable-admission-plugins=TaintNodesByCondition",
		"--enable-priority-and-fairness=false",
		"--allow-privileged=true",
		"--profiling=false",
		// pod logs: the apiserver calls KWOK's kubelet-style server at the node's InternalIP
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-certificate-authority=" + pki.CACert,
	}, authnArgs...), nil)
	if err != nil {
		return nil, err
	}
	caPool := x509.NewCertPool()
	caPool.AppendCertsFromPEM(pki.caPEM)
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool}}}
	if err := api.WaitFor(ctx, "kube-apiserver /readyz", 60*time.Second, httpOK(tlsClient, server+"/readyz", tokens["admin"])); err != nil {
		return nil, err
	}
	kubeconfigs := map[string]string{}
	for _, u := range users {
		kubeconfigs[u] = filepath.Join(dir, u+".kubeconfig")
		if err := writeKubeconfig(kubeconfigs[u], server, pki.caPEM, u, tokens[u]); err != nil {
			return nil, err
		}
	}
	c.kubeconfig = kubeconfigs["admin"]
	c.config = &rest.Config{
		Host:            server,
		BearerToken:     tokens["admin"],
		TLSClientConfig: rest.TLSClientConfig{CAData: pki.caPEM},
		QPS:             100,
		Burst:           200,
	}
	if c.kube, err = kubernetes.NewForConfig(c.config); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	if c.dyn, err = dynamic.NewForConfig(c.config); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}

	// controllers that need only the apiserver
	if _, err := c.start("kube-controller-manager", bins.KubeControllerManager, []string{
		"--kubeconfig=" + kubeconfigs["kube-controller-manager"],
		"--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file=" + pki.SAKey, "--root-ca-file=" + pki.CACert,
		"--use-service-account-credentials=false",
		"--kube-api-qps=100", "--kube-api-burst=200",
		"--controllers=" + strings.Join([]string{
			"serviceaccount-controller", "serviceaccount-token-controller", "root-ca-certificate-publisher-controller",
			"namespace-controller", "garbage-collector-controller", "resourcequota-controller",
			"deployment-controller", "replicaset-controller", "statefulset-controller", "job-controller",
			"endpointslice-controller", "clusterrole-aggregation-controller",
		}, ","),
	}, nil); err != nil {
		return nil, err
	}
	if _, err := c.start("kube-scheduler", bins.KubeScheduler, []string{
		"--kubeconfig=" + kubeconfigs["kube-scheduler"],
		"--leader-elect=false", "--secure-port=0",
		"--kube-api-qps=100", "--kube-api-burst=200",
	}, nil); err != nil {
		return nil, err
	}

	// CRDs and ConfigMaps: Tekton's from its module, KWOK's Logs CRD (per-pod logs)
	if err := c.installTekton(ctx, root); err != nil {
		return nil, err
	}

	// KWOK
	stagesNode := filepath.Join(dir, "kwok-node-stages.yaml")
	stagesPod := filepath.Join(dir, "kwok-pod-stages.yaml")
	kwokConf := filepath.Join(dir, "kwok.yaml")
	defaultLog := filepath.Join(dir, "podlogs", "default.log")
	for path, data := range map[string][]byte{
		stagesNode: nodeStages,
		stagesPod:  podStages,
		kwokConf:   []byte(fmt.Sprintf(kwokConfigTemplate, defaultLog)),
		defaultLog: criLog(time.Now(), "e2e/cluster: no log set for this container (see (*cluster.Cluster).SetPodLogs)\n"),
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, fmt.Errorf("start: %w", err)
		}
	}
	if _, err := c.start("kwok", bins.KWOK, []string{
		"--kubeconfig=" + kubeconfigs["kwok"],
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=127.0.0.1", fmt.Sprintf("--node-port=%d", kubeletPort),
		fmt.Sprintf("--server-address=127.0.0.1:%d", kubeletPort),
		"--tls-cert-file=" + pki.KubeletCert, "--tls-private-key-file=" + pki.KubeletKey,
		"--cidr=10.244.0.1/16",
		"--enable-crds=Logs",
		"--config=" + stagesNode, "--config=" + stagesPod, "--config=" + kwokConf,
	}, nil); err != nil {
		return nil, err
	}
	if err := c.registerNode(ctx); err != nil {
		return nil, err
	}

	// Tekton controller
	img := func(n string) string { return "catalyst-e2e.invalid/tekton/" + n + ":v1.15.1" }
	if _, err := c.start("tekton-controller", bins.TektonController, []string{
		"-kubeconfig=" + kubeconfigs["tekton-pipelines-controller"], "-disable-ha",
		"-entrypoint-image=" + img("entrypoint"), "-nop-image=" + img("nop"),
		"-sidecarlogresults-image=" + img("sidecarlogresults"), "-workingdirinit-image=" + img("workingdirinit"),
		"-shell-image=" + img("busybox"), "-shell-image-win=" + img("powershell"),
	}, []string{
		"SYSTEM_NAMESPACE=" + tektonNamespace,
		"KUBERNETES_MIN_VERSION=v1.28.0",
		"METRICS_DOMAIN=tekton.dev/pipeline",
		"CONFIG_DEFAULTS_NAME=config-defaults",
		"CONFIG_LOGGING_NAME=config-logging",
		"CONFIG_OBSERVABILITY_NAME=config-observability",
		"CONFIG_FEATURE_FLAGS_NAME=feature-flags",
		"CONFIG_LEADERELECTION_NAME=config-leader-election-controller",
		"CONFIG_SPIRE=config-spire",
		"PROBES_PORT=" + strconv.Itoa(tektonProbes),
		// metrics and profiling on free loopback ports, so that parallel stacks do not collide
		"METRICS_PROMETHEUS_HOST=127.0.0.1",
		"METRICS_PROMETHEUS_PORT=" + strconv.Itoa(tektonMetrics),
		"PROFILING_PORT=" + strconv.Itoa(tektonProfiling),
	}); err != nil {
		return nil, err
	}

	// ready when: KWOK node Ready, default ServiceAccount created, Tekton controller healthy
	if err := c.proc("kwok").WaitFor(ctx, "node "+kwokNodeName+" Ready", 60*time.Second, func(ctx context.Context) error {
		n, err := c.kube.CoreV1().Nodes().Get(ctx, kwokNodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return errors.New("not Ready")
	}); err != nil {
		return nil, err
	}
	if err := c.proc("kube-controller-manager").WaitFor(ctx, "the default ServiceAccount", 60*time.Second, func(ctx context.Context) error {
		_, err := c.kube.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return nil, err
	}
	if err := c.proc("tekton-controller").WaitFor(ctx, "the Tekton controller's /health", 60*time.Second,
		httpOK(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/health", tektonProbes), "")); err != nil {
		return nil, err
	}
	c.StartupDuration = time.Since(begin)
	fmt.Fprintf(progress, "e2e/cluster: control plane ready in %s (%s, logs in %s)\n",
		c.StartupDuration.Round(10*time.Millisecond), server, c.logDir)
	return c, nil
}

const kwokConfigTemplate = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: default
spec:
  selector: {}
  logs:
  - logsFile: %s
`

func (c *Cluster) start(name, bin string, args, env []string) (*process.Process, error) {
	p, err := process.Start(process.Spec{Name: name, Bin: bin, Args: args, Env: env, LogPath: filepath.Join(c.logDir, name+".log")})
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

func (c *Cluster) proc(name string) *process.Process {
	for _, p := range c.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func (c *Cluster) registerNode(ctx context.Context) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        kwokNodeName,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		Labels: map[string]string{
			"kubernetes.io/hostname": kwokNodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"type": "kwok",
		},
	}}
	// a leftover lease would make KWOK wait for it to expire (fresh etcd: none, but be safe)
	_ = c.kube.CoordinationV1().Leases("kube-node-lease").Delete(ctx, kwokNodeName, metav1.DeleteOptions{})
	if _, err := c.kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node: %w", err)
	}
	return nil
}

// Stop stops every component (SIGTERM, then SIGKILL after 10 s), records their peak memory in
// PeakRSS, copies the logs to the artifacts folder if MarkFailed was called, and removes the
// work folder. It is idempotent.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	if c.failed.Load() && c.dyn != nil {
		c.dumpState()
	}
	c.PeakRSS = map[string]int64{}
	var summary []string
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		if rss, err := p.PeakRSS(); err == nil {
			c.PeakRSS[p.Name] = rss
			cpu, _ := p.CPUTime()
			summary = append(summary, fmt.Sprintf("%s %d MB (cpu %s)", p.Name, rss>>20, cpu.Round(10*time.Millisecond)))
		}
		p.Stop(10 * time.Second)
	}
	if len(summary) > 0 {
		line := fmt.Sprintf("up %s; peak RSS (CPU used): %s", time.Since(c.started).Round(time.Second), strings.Join(summary, ", "))
		_ = os.WriteFile(filepath.Join(c.logDir, "peak-rss.txt"), []byte(line+"\n"), 0o644)
		fmt.Fprintf(c.progress, "e2e/cluster: %s\n", line)
	}
	var errs []error
	if c.failed.Load() {
		if err := os.MkdirAll(filepath.Dir(c.artifactsDir), 0o755); err != nil {
			errs = append(errs, err)
		} else if err := moveDir(c.logDir, c.artifactsDir); err != nil {
			errs = append(errs, fmt.Errorf("keep artifacts: %w", err))
		} else {
			fmt.Fprintf(c.progress, "e2e/cluster: component logs kept in %s\n", c.artifactsDir)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// moveDir renames a folder of plain files, copying them if it crosses file systems (/tmp may
// be a tmpfs).
func moveDir(from, to string) error {
	if err := os.Rename(from, to); err == nil {
		return nil
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// dumpState writes the objects a failed test is usually about to <logs>/state.yaml.
func (c *Cluster) dumpState() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	for _, gvr := range []schema.GroupVersionResource{
		{Version: "v1", Resource: "namespaces"},
		{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"},
		{Group: "tekton.dev", Version: "v1", Resource: "taskruns"},
		{Version: "v1", Resource: "pods"},
		{Group: "apps", Version: "v1", Resource: "deployments"},
		{Version: "v1", Resource: "resourcequotas"},
		{Version: "v1", Resource: "events"},
	} {
		list, err := c.dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			fmt.Fprintf(&out, "# %s: %v\n", gvr.Resource, err)
			continue
		}
		for _, item := range list.Items {
			item.SetManagedFields(nil)
			data, err := yaml.Marshal(item.Object)
			if err != nil {
				continue
			}
			fmt.Fprintf(&out, "---\n# %s %s/%s\n%s", gvr.Resource, item.GetNamespace(), item.GetName(), data)
		}
	}
	_ = os.WriteFile(filepath.Join(c.logDir, "state.yaml"), out.Bytes(), 0o644)
}

func httpOK(client *http.Client, url, token string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
		}
		return nil
	}
}

func writeKubeconfig(path, server string, ca []byte, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: user}
	cfg.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
