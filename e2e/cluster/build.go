package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// KubernetesVersion is the version of kube-apiserver, kube-controller-manager and kube-scheduler
// (k8s.io/kubernetes in e2e/tools/kubernetes/go.mod). It is stamped into the binaries: without
// the stamp the apiserver reports v0.0.0 and the Tekton controller refuses to start.
const KubernetesVersion = "v1.37.2"

// Binaries holds the absolute paths of the built control-plane commands.
type Binaries struct {
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	KubeScheduler         string
	KWOK                  string
	TektonController      string
	// Kubectl is built from the same Kubernetes module, so tests need no kubectl package.
	Kubectl string
	// Dir is the cache folder holding all of them: <repo>/e2e/.cache/bin/<key>.
	Dir string
}

// buildJob is one `go build` in one tool module; it may produce several binaries.
type buildJob struct {
	module   string            // folder under e2e/tools
	packages map[string]string // binary name -> package path
	ldflags  string
	cold     string // how long a cold build takes here, for the progress line
}

func kubeLDFlags() string {
	minor := strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), ".")[1]
	var b strings.Builder
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		fmt.Fprintf(&b, "-X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s ", pkg, KubernetesVersion, pkg, pkg, minor)
	}
	return strings.TrimSpace(b.String())
}

// buildJobs lists the tool modules, longest first, so that two parallel builds finish together.
func buildJobs() []buildJob {
	return []buildJob{
		{module: "kubernetes", ldflags: kubeLDFlags(), cold: "~7 min", packages: map[string]string{
			"kube-apiserver":          "k8s.io/kubernetes/cmd/kube-apiserver",
			"kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
			"kube-scheduler":          "k8s.io/kubernetes/cmd/kube-scheduler",
			"kubectl":                 "k8s.io/kubernetes/cmd/kubectl",
		}},
		{module: "tekton", cold: "~4 min", packages: map[string]string{
			"tekton-controller": "github.com/tektoncd/pipeline/cmd/controller",
		}},
		{module: "kwok", cold: "~3 min", packages: map[string]string{
			"kwok": "sigs.k8s.io/kwok/cmd/kwok",
		}},
		{module: "etcd", cold: "~1.5 min", packages: map[string]string{
			"etcd": "github.com/catalyst-preview/catalyst/e2e/tools/etcd",
		}},
	}
}

// RepoRoot returns the checkout's root: the nearest parent of the working directory that holds
// e2e/tools/kubernetes/go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "e2e", "tools", "kubernetes", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repo root: no parent folder holds e2e/tools/kubernetes/go.mod")
		}
		dir = parent
	}
}

// cacheKey hashes what decides the binaries' content: Go version, platform, every tool module's
// go.mod and go.sum (hence every component version) and the ldflags.
func cacheKey(ctx context.Context, root string) (string, error) {
	goVersion, err := goEnv(ctx, root, "GOVERSION")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "go=%s os=%s arch=%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	for _, j := range buildJobs() {
		fmt.Fprintf(h, "module=%s ldflags=%q\n", j.module, j.ldflags)
		for _, f := range []string{"go.mod", "go.sum"} {
			data, err := os.ReadFile(filepath.Join(root, "e2e", "tools", j.module, f))
			if err != nil {
				return "", fmt.Errorf("cache key: %w", err)
			}
			h.Write(data)
		}
		for _, name := range sortedKeys(j.packages) {
			fmt.Fprintf(h, "%s=%s\n", name, j.packages[name])
		}
		if j.module == "etcd" { // the only tool module with its own source
			data, err := os.ReadFile(filepath.Join(root, "e2e", "tools", "etcd", "main.go"))
			if err != nil {
				return "", fmt.Errorf("cache key: %w", err)
			}
			h.Write(data)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func goEnv(ctx context.Context, dir, name string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", name)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Build builds every control-plane command into <repo>/e2e/.cache/bin/<key>/, where key hashes
// the Go version, the component versions and the ldflags. Binaries already there are not
// rebuilt, so a warm start builds nothing. A file lock serialises concurrent callers (go test
// runs packages in parallel); the others wait and then find the binaries built. Progress lines
// go to progress (may be nil).
func Build(ctx context.Context, progress io.Writer) (Binaries, error) {
	if progress == nil {
		progress = io.Discard
	}
	root, err := RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	key, err := cacheKey(ctx, root)
	if err != nil {
		return Binaries{}, err
	}
	cacheDir := CacheDir(root)
	dir := filepath.Join(cacheDir, key)
	bins := Binaries{
		Dir:                   dir,
		Etcd:                  filepath.Join(dir, "etcd"),
		KubeAPIServer:         filepath.Join(dir, "kube-apiserver"),
		KubeControllerManager: filepath.Join(dir, "kube-controller-manager"),
		KubeScheduler:         filepath.Join(dir, "kube-scheduler"),
		KWOK:                  filepath.Join(dir, "kwok"),
		TektonController:      filepath.Join(dir, "tekton-controller"),
		Kubectl:               filepath.Join(dir, "kubectl"),
	}
	if missing(dir) == nil { // fast path without the lock
		return bins, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("build: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(cacheDir, ".lock"), progress)
	if err != nil {
		return Binaries{}, err
	}
	defer unlock()

	jobs := missing(dir)
	if len(jobs) == 0 {
		return bins, nil
	}
	prune(cacheDir, key)
	fmt.Fprintf(progress, "e2e/cluster: building the local control plane into %s\n", dir)
	start := time.Now()
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, 2) // 2 cores: two go builds overlap one's link with the other's compile
	var wg sync.WaitGroup
	for i, j := range jobs { // in order, longest first
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = buildOne(ctx, root, dir, j, progress)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Binaries{}, err
	}
	fmt.Fprintf(progress, "e2e/cluster: control plane built in %s\n", time.Since(start).Round(time.Second))
	return bins, nil
}

// CacheDir is where built control planes are kept: $CATALYST_E2E_CACHE when set (several
// checkouts of the same tool versions can then share one ~700 MB build), else
// <repo>/e2e/.cache/bin.
func CacheDir(root string) string {
	if dir := os.Getenv("CATALYST_E2E_CACHE"); dir != "" {
		return dir
	}
	return filepath.Join(root, "e2e", ".cache", "bin")
}

// prune removes, under the lock, binaries built for other keys (each set is ~700 MB) and the
// temporary folders of interrupted builds.
func prune(cacheDir, key string) {
	entries, _ := os.ReadDir(cacheDir)
	for _, e := range entries {
		if e.IsDir() && e.Name() != key && !strings.HasPrefix(e.Name(), ".") {
			_ = os.RemoveAll(filepath.Join(cacheDir, e.Name()))
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(cacheDir, key, ".build-*"))
	for _, t := range tmps {
		_ = os.RemoveAll(t)
	}
}

// missing returns the build jobs with at least one binary absent from dir.
func missing(dir string) []buildJob {
	var out []buildJob
	for _, j := range buildJobs() {
		for name := range j.packages {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				out = append(out, j)
				break
			}
		}
	}
	return out
}

func buildOne(ctx context.Context, root, dir string, j buildJob, progress io.Writer) error {
	names := sortedKeys(j.packages)
	fmt.Fprintf(progress, "e2e/cluster: building %s (first run only, %s cold on 2 cores)...\n", strings.Join(names, ", "), j.cold)
	start := time.Now()
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return fmt.Errorf("build %s: %w", j.module, err)
	}
	defer os.RemoveAll(tmp)
	args := []string{"build", "-o", tmp + string(filepath.Separator)}
	if j.ldflags != "" {
		args = append(args, "-ldflags", j.ldflags)
	}
	for _, n := range names {
		args = append(args, j.packages[n])
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Join(root, "e2e", "tools", j.module)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan struct{})
	go func() { // a cold build is long: show that it is alive
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(progress, "e2e/cluster: still building %s (%s)\n", strings.Join(names, ", "), time.Since(start).Round(time.Second))
			}
		}
	}()
	err = cmd.Run()
	close(done)
	if err != nil {
		return fmt.Errorf("build %s: go %s: %w\n%s", j.module, strings.Join(args, " "), err, out.String())
	}
	for _, n := range names {
		// the package's last path element names the binary go build wrote
		built := filepath.Join(tmp, filepath.Base(j.packages[n]))
		if err := os.Rename(built, filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("build %s: %w", j.module, err)
		}
	}
	fmt.Fprintf(progress, "e2e/cluster: built %s in %s\n", strings.Join(names, ", "), time.Since(start).Round(time.Second))
	return nil
}

// lockFile takes an exclusive flock on path, polling so that ctx can cancel the wait.
func lockFile(ctx context.Context, path string, progress io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !told {
			fmt.Fprintf(progress, "e2e/cluster: waiting for another process building the control plane (%s)\n", path)
			told = true
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
