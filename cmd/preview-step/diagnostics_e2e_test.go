package main

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
	"gotest.tools/v3/poll"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/preview"
)

// diagnosticsDir keeps, for the reporter's tests, the diagnostics results the real step wrote
// in the cases below (`go test ./cmd/preview-step -run TestE2EDiagnosticsResults -update`
// rewrites them). Comparison ignores what changes from run to run: elapsed times, attempt
// counts, pod name suffixes, loopback ports.
const diagnosticsDir = "../../step/testdata/diagnostics"

const testCharts = "../../step/testdata/charts"

// pipelineKubeconfig writes a kubeconfig that acts as the namespace's pipeline ServiceAccount
// (with exactly the trigger's Role), as the step does in its pod.
func pipelineKubeconfig(t *testing.T, c *cluster.Cluster, ns string) string {
	t.Helper()
	kube := c.Kube()
	_, err := kube.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: preview.PipelineServiceAccount}}, metav1.CreateOptions{})
	assert.NilError(t, err)
	_, err = kube.RbacV1().Roles(ns).Create(t.Context(), preview.PipelineRole(ns, nil), metav1.CreateOptions{})
	assert.NilError(t, err)
	_, err = kube.RbacV1().RoleBindings(ns).Create(t.Context(), preview.PipelineRoleBinding(ns, nil), metav1.CreateOptions{})
	assert.NilError(t, err)
	kc, err := clientcmd.LoadFromFile(c.Kubeconfig())
	assert.NilError(t, err)
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = "system:serviceaccount:" + ns + ":" + preview.PipelineServiceAccount
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	assert.NilError(t, clientcmd.WriteToFile(*kc, p))
	return p
}

// fixedNamespace creates a namespace with a name that is the same on every run (the messages
// name it), waiting for its default ServiceAccount, and deletes it at the end.
func fixedNamespace(t *testing.T, c *cluster.Cluster, name string, labels map[string]string) {
	t.Helper()
	kube := c.Kube()
	_, err := kube.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	assert.NilError(t, err)
	t.Cleanup(func() {
		_ = kube.CoreV1().Namespaces().Delete(context.WithoutCancel(t.Context()), name, metav1.DeleteOptions{})
	})
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	assert.NilError(t, filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	}))
}

var (
	elapsedRE = regexp.MustCompile(`(waited|after) \d+s`)
	attemptRE = regexp.MustCompile(`\d+ attempts`)
	podRE     = regexp.MustCompile(`-[a-z0-9]{8,10}-[a-z0-9]{5}\b`)
	portRE    = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

func normalize(s string) string {
	s = elapsedRE.ReplaceAllString(s, "$1 Ns")
	s = podRE.ReplaceAllString(s, "-POD")
	s = attemptRE.ReplaceAllString(s, "N attempts")
	return portRE.ReplaceAllString(s, "127.0.0.1:PORT")
}

// The diagnostics result of each kind, as the real binary writes it when run with the flags the
// Tasks pass, as the pipeline's ServiceAccount, against the test charts.
func TestE2EDiagnosticsResults(t *testing.T) {
	c := cluster.Require(t)
	const digest = "sha256:0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"
	webappHelpers, err := os.ReadFile(filepath.Join(testCharts, "webapp/templates/_helpers.tpl"))
	assert.NilError(t, err)
	broken := strings.Replace(string(webappHelpers), `{{- define "webapp.chart" -}}`, `{{- define "webapp.chart" -}}
{{- required "team is required: set .Values.team" .Values.team }}`, 1)
	routedWebapp := `{"ingress":{"enabled":true,"hosts":[{"host":"${preview.host}","paths":[{"path":"/","pathType":"Prefix"}]}]}}`
	lbWebapp := `{"service":{"type":"LoadBalancer"},"ingress":{"enabled":true,"hosts":[{"host":"${preview.host}","paths":[{"path":"/","pathType":"Prefix"}]}]}}`

	cases := []struct {
		name      string // golden file and namespace suffix
		charts    map[string]string
		files     map[string]string
		overlay   string
		extra     []string
		quota     bool
		healthLog string // a health check against a failing endpoint, with this app log
		wantKind  string
	}{
		{name: "template", charts: map[string]string{"deploy/chart": "webapp"}, files: map[string]string{"deploy/chart/templates/_helpers.tpl": broken},
			overlay: routedWebapp, wantKind: preview.DiagnosticTemplate},
		{name: "values", charts: map[string]string{"deploy/chart": "strict"}, overlay: `{"ingress":{"enabled":true,"host":"${preview.host}"}}`, wantKind: preview.DiagnosticValues},
		{name: "dependency", charts: map[string]string{"deploy/chart": "library/app", "deploy/common": "library/common"}, wantKind: preview.DiagnosticDependency},
		{name: "manifest", charts: map[string]string{"deploy/chart": "webapp"}, overlay: lbWebapp, quota: true, wantKind: preview.DiagnosticManifest},
		{name: "routing", charts: map[string]string{"deploy/chart": "webapp"}, wantKind: preview.DiagnosticRouting},
		{name: "rollout", charts: map[string]string{"deploy/chart": "webapp"}, overlay: lbWebapp, extra: []string{"--timeout=5s"}, wantKind: preview.DiagnosticRollout},
		{name: "config", charts: map[string]string{"deploy/chart": "webapp"}, extra: []string{"--chart=deploy/nochart"}, wantKind: preview.DiagnosticConfig},
		{name: "health", charts: map[string]string{"deploy/chart": "webapp"}, overlay: routedWebapp, wantKind: preview.DiagnosticHealth,
			healthLog: "listening on :80\nGET /healthz 500 (12ms)\npanic: connect to postgres at db:5432: connection refused\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := "pr-shop-" + tc.name
			fixedNamespace(t, c, ns, nil)
			poll.WaitOn(t, func(poll.LogT) poll.Result {
				if _, err := c.Kube().CoreV1().ServiceAccounts(ns).Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
					return poll.Continue("no default ServiceAccount yet")
				}
				return poll.Success()
			}, poll.WithTimeout(90*time.Second), poll.WithDelay(100*time.Millisecond))
			if tc.quota {
				quota(t, c, ns)
			}
			kubeconfig := pipelineKubeconfig(t, c, ns)
			src := t.TempDir()
			for dst, from := range tc.charts {
				copyTree(t, filepath.Join(testCharts, from), filepath.Join(src, dst))
			}
			for name, content := range tc.files {
				assert.NilError(t, os.WriteFile(filepath.Join(src, name), []byte(content), 0o644))
			}
			results := t.TempDir()
			// The deploy step's arguments in tasks/deploy.yaml, with the params substituted.
			args := []string{"deploy", "--namespace=" + ns, "--release=preview", "--source-dir=" + src, "--chart=deploy/chart", "--values=",
				"--values-overlay=" + tc.overlay, "--dependency-build=false", "--cache-dir=" + t.TempDir(),
				"--image=registry.example.com/previews/shop:pr-17-0123456789ab", "--image-digest=" + digest,
				"--host=17-shop.preview.example.com", "--url-scheme=https", "--ingress-class=", "--pr-number=17",
				"--revision=0123456789abcdef0123456789abcdef01234567", "--timeout=90s", "--description=0123456789abcdef0123456789abcdef01234567",
				"--results-dir=" + results, "--kubeconfig=" + kubeconfig}
			args = append(args, tc.extra...)
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), args, &stdout, &stderr)
			if tc.healthLog != "" {
				assert.Assert(t, is.Equal(code, 0), "deploy: %s", stderr.String())
				code, results = healthFails(t, c, ns, kubeconfig, tc.healthLog)
			}
			assert.Check(t, is.Equal(code, exitFailed), "stderr:\n%s", stderr.String())
			got, err := os.ReadFile(filepath.Join(results, preview.ResultDiagnostics))
			assert.NilError(t, err)
			ds, err := preview.DecodeDiagnostics(string(got))
			assert.NilError(t, err)
			assert.Assert(t, is.Len(ds, 1), "%s", got)
			assert.Check(t, is.Equal(ds[0].Kind, tc.wantKind))

			file := filepath.Join(diagnosticsDir, tc.name+".json")
			if golden.FlagUpdate() {
				assert.NilError(t, os.MkdirAll(diagnosticsDir, 0o755))
				assert.NilError(t, os.WriteFile(file, got, 0o644))
				return
			}
			want, err := os.ReadFile(file)
			assert.NilError(t, err, "run with -update to record it")
			assert.Check(t, is.Equal(normalize(string(got)), normalize(string(want))))
		})
	}
}

// quota gives the namespace the configuration's default ResourceQuota and waits until it is
// enforced.
func quota(t *testing.T, c *cluster.Cluster, ns string) {
	t.Helper()
	var cfg config.Config
	cfg.Default()
	_, err := c.Kube().CoreV1().ResourceQuotas(ns).Create(t.Context(), &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "catalyst-quota"}, Spec: corev1.ResourceQuotaSpec{Hard: cfg.Preview.Quota.Hard}}, metav1.CreateOptions{})
	assert.NilError(t, err)
	_, err = c.Kube().CoreV1().LimitRanges(ns).Create(t.Context(), &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "catalyst-limits"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
			DefaultRequest: cfg.Preview.LimitRange.DefaultRequest, Default: cfg.Preview.LimitRange.Default}}}}, metav1.CreateOptions{})
	assert.NilError(t, err)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		q, err := c.Kube().CoreV1().ResourceQuotas(ns).Get(t.Context(), "catalyst-quota", metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		if _, ok := q.Status.Hard[corev1.ResourceServicesLoadBalancers]; !ok {
			return poll.Continue("quota status not computed yet")
		}
		return poll.Success()
	}, poll.WithTimeout(90*time.Second), poll.WithDelay(100*time.Millisecond))
}

// healthFails runs the health check step against an endpoint that answers 500, with the app's
// log set, and returns its exit code and results directory.
func healthFails(t *testing.T, c *cluster.Cluster, ns, kubeconfig, appLog string) (int, string) {
	t.Helper()
	pods, err := c.Kube().CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=preview"})
	assert.NilError(t, err)
	assert.Assert(t, is.Len(pods.Items, 1))
	pod := pods.Items[0].Name
	assert.NilError(t, c.SetPodLogs(t.Context(), ns, pod, "webapp", appLog))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		data, err := c.Kube().CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: "webapp"}).DoRaw(t.Context())
		if err == nil && string(data) == appLog {
			return poll.Success()
		}
		return poll.Continue("log %q, %v", data, err)
	}, poll.WithTimeout(90*time.Second), poll.WithDelay(100*time.Millisecond))
	// Stands in for the ingress controller in front of an app that fails its health endpoint.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database unavailable", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)
	results := t.TempDir()
	// The healthcheck step's arguments in tasks/healthcheck.yaml.
	args := []string{"healthcheck", "--namespace=" + ns, "--release=preview", "--url=http://17-shop.preview.example.com", "--path=/healthz",
		"--connect-to=" + strings.TrimPrefix(broken.URL, "http://"), "--ca-bundle=", "--insecure-skip-tls-verify=false", "--ingress-class=",
		"--timeout=3s", "--results-dir=" + results, "--kubeconfig=" + kubeconfig}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr)
	assert.Check(t, is.Contains(stdout.String(), "| panic: connect to postgres"), "the step log has the app log")
	return code, results
}
