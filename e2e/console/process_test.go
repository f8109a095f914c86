package console

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/preview"
)

// consoleProcess is cmd/console running as an operator would run it: its own ServiceAccount
// with only preview.ConsoleRules, OIDC sign-in against the test provider.
type consoleProcess struct {
	URL     string
	LogPath string
	Dir     string
	cmd     *exec.Cmd
	exited  chan error
}

const systemNamespace = "catalyst-system"

// startConsole builds cmd/console, creates its ServiceAccount (impersonation only) and a
// kubeconfig with its token, and runs it on addr until /readyz answers.
func startConsole(ctx context.Context, c *cluster.Cluster, addr, dir string) (*consoleProcess, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := cluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "console")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/console")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build cmd/console: %v\n%s", err, out)
	}
	kubeconfig, err := consoleKubeconfig(ctx, c, dir)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"client-secret": []byte("console-secret"),
		"session-key":   []byte(strings.Repeat("0123456789abcdef", 4)),
		"idp-ca.pem":    idp.CAPEM(),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	p := &consoleProcess{URL: "http://" + addr, LogPath: filepath.Join(dir, "console.log"), Dir: dir}
	log, err := os.Create(p.LogPath)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin,
		"--kubeconfig="+kubeconfig, "--listen="+addr, "--public-url="+p.URL,
		"--system-namespace="+systemNamespace, "--log-encoding=console",
		"--oidc-issuer-url="+idp.Issuer(), "--oidc-client-id="+consoleClient,
		"--oidc-client-secret-file="+filepath.Join(dir, "client-secret"),
		"--oidc-ca-file="+filepath.Join(dir, "idp-ca.pem"),
		"--oidc-extra-audiences="+cliClient,
		"--session-key-files="+filepath.Join(dir, "session-key"),
	)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start console: %w", err)
	}
	p.exited = make(chan error, 1)
	go func() { p.exited <- p.cmd.Wait(); log.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-p.exited:
			out, _ := os.ReadFile(p.LogPath)
			return nil, fmt.Errorf("console exited at start (%v):\n%s", err, out)
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := http.Get(p.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("console not ready after 60s; log: %s", p.LogPath)
		}
	}
}

func (p *consoleProcess) stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// rss is the console's resident memory and its peak, in bytes.
func (p *consoleProcess) rss() (now, peak int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			now = kb << 10
		}
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			peak = kb << 10
		}
	}
	return now, peak
}

// consoleKubeconfig creates the console's ServiceAccount bound to exactly preview.ConsoleRules
// and writes a kubeconfig with a token of it.
func consoleKubeconfig(ctx context.Context, c *cluster.Cluster, dir string) (string, error) {
	kube := c.Kube()
	const name = "catalyst-console"
	labels := map[string]string{preview.LabelManaged: preview.ManagedTrue}
	objs := []func() error{
		func() error {
			_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := kube.CoreV1().ServiceAccounts(systemNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: preview.ConsoleRules()}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: systemNamespace}},
			}, metav1.CreateOptions{})
			return err
		},
	}
	for _, create := range objs {
		if err := create(); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("console RBAC: %w", err)
		}
	}
	tok, err := kube.CoreV1().ServiceAccounts(systemNamespace).CreateToken(ctx, name,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](4 * 3600)}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("console token: %w", err)
	}
	rc := c.RESTConfig()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: name}
	cfg.CurrentContext = "e2e"
	path := filepath.Join(dir, "console.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", err
	}
	return path, nil
}

// as is a clientset acting as a person, impersonated by the admin (for the tests' own checks).
func as(c *cluster.Cluster, user string, groups ...string) kubernetes.Interface {
	rc := c.RESTConfig()
	rc.Impersonate.UserName, rc.Impersonate.Groups = user, groups
	return kubernetes.NewForConfigOrDie(rc)
}
