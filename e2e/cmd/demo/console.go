package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/system"
	"github.com/catalyst-preview/catalyst/preview"
)

// demoUser is the development identity the demo's console acts as: an operator of every
// environment (preview.OperatorRules bound cluster-wide), no more.
const demoUser = "developer"

// consoleAddr picks the console's loopback address before the system starts, so that the
// reporter's configuration can link the pull request comment to it.
func consoleAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startConsole builds cmd/console and runs it on addr with the development identity (the
// console refuses that identity on anything but a loopback address). It returns a stop func.
func startConsole(ctx context.Context, sys *system.System, addr string, progress io.Writer) (func(), error) {
	root, err := cluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "catalyst-demo-console-")
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(progress, "building the console...")
	bin := filepath.Join(dir, "console")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/console")
	build.Dir, build.Stdout, build.Stderr = root, progress, progress
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build cmd/console: %w", err)
	}
	if err := bindOperator(ctx, sys.Kube, demoUser); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "console.log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--kubeconfig="+sys.Cluster.Kubeconfig(), "--listen="+addr, "--dev-user="+demoUser,
		"--system-namespace="+system.Namespace, "--log-encoding=console")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start console: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); log.Close() }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("console exited at start (%v):\n%s", err, out)
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("console not ready after 60s; log: %s", logPath)
		}
	}
}

// bindOperator lets user act on every environment, as an operator would be allowed to.
func bindOperator(ctx context.Context, kube kubernetes.Interface, user string) error {
	const name = "catalyst-demo-operator"
	rules := append(preview.OperatorRules(), rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}})
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("demo operator role: %w", err)
	}
	_, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("demo operator binding: %w", err)
	}
	return nil
}
