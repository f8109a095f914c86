package step

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/preview"
)

// pipelineRunner is a Runner acting as the pipeline's ServiceAccount with exactly the Role the
// trigger writes (preview.PipelineRules), as the Tekton steps do; logs is what it logged.
func pipelineRunner(t *testing.T, e e2eEnv) (*Runner, *observer.ObservedLogs) {
	t.Helper()
	kube := e.c.Kube()
	_, err := kube.CoreV1().ServiceAccounts(e.ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: preview.PipelineServiceAccount}}, metav1.CreateOptions{})
	assert.NilError(t, err)
	_, err = kube.RbacV1().Roles(e.ns).Create(t.Context(), preview.PipelineRole(e.ns, nil), metav1.CreateOptions{})
	assert.NilError(t, err)
	_, err = kube.RbacV1().RoleBindings(e.ns).Create(t.Context(), preview.PipelineRoleBinding(e.ns, nil), metav1.CreateOptions{})
	assert.NilError(t, err)
	cfg := e.c.RESTConfig()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + e.ns + ":" + preview.PipelineServiceAccount}
	clients, err := NewClients(cfg, e.ns)
	assert.NilError(t, err)
	core, logs := observer.New(zapcore.InfoLevel)
	out := new(bytes.Buffer)
	r := New(clients, zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core)), out)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("step output:\n%s", out.String())
		}
	})
	return r, logs
}

// ingressStandIn answers like an ingress controller: 200 for a host that an Ingress routes to
// an existing Service, the controller's 404 for any other host. It reads the cluster, so a
// health check through it passes only when routing really exists.
func ingressStandIn(t *testing.T, e e2eEnv) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ings, err := e.c.Kube().NetworkingV1().Ingresses(e.ns).List(r.Context(), metav1.ListOptions{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for _, ing := range ings.Items {
			for _, rule := range ing.Spec.Rules {
				if rule.Host != r.Host || rule.HTTP == nil {
					continue
				}
				for _, p := range rule.HTTP.Paths {
					if p.Backend.Service == nil {
						continue
					}
					if _, err := e.c.Kube().CoreV1().Services(e.ns).Get(r.Context(), p.Backend.Service.Name, metav1.GetOptions{}); err == nil {
						fmt.Fprintln(w, "ok")
						return
					}
				}
			}
		}
		http.Error(w, "<html><center><h1>404 Not Found</h1></center><hr><center>nginx</center></html>", http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// chartDeployOpts deploys the repository's chart at deploy/chart as the deploy task does.
func chartDeployOpts(t *testing.T, src, overlay string) DeployOptions {
	t.Helper()
	o := shapeOpts(src, overlay)
	o.URLScheme = "http"
	o.IngressClass = ""
	o.Timeout = e2eTimeout
	o.ResultsDir = t.TempDir()
	o.HelmCache = t.TempDir()
	o.PollInterval = 200 * time.Millisecond
	return o
}

func healthOpts(url, connectTo string) HealthOptions {
	h := NewHealthOptions()
	h.URL, h.ConnectTo, h.Timeout, h.PollInterval = url, connectTo, e2eTimeout, 200*time.Millisecond
	h.Backoff = Backoff{Initial: 100 * time.Millisecond, Max: 500 * time.Millisecond}
	return *h
}

// resultDiagnostics reads the diagnostics result a step wrote.
func resultDiagnostics(t *testing.T, dir string) []preview.Diagnostic {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, preview.ResultDiagnostics))
	assert.NilError(t, err)
	ds, err := preview.DecodeDiagnostics(string(data))
	assert.NilError(t, err)
	return ds
}

// Each chart shape deploys with its overlay as the pipeline's ServiceAccount, its preview host
// is routed to a Service, the image is pinned to the build's digest, and the health check
// through an ingress passes.
func TestE2EChartShapesDeployWithTheirOverlays(t *testing.T) {
	cluster := newE2E(t).c
	webapp := `{"ingress": {"enabled": true, "hosts": [{"host": "${preview.host}", "paths": [{"path": "/", "pathType": "Prefix"}]}]},
	            "image": {"repository": "${image.name}", "tag": "${image.pinnedTag}"}}`
	cases := map[string]struct {
		repo      func(t *testing.T) string
		overlay   string
		depBuild  bool
		wantImage string
	}{
		"helm create: hosts list, ingress off by default": {
			repo:    func(t *testing.T) string { return repoWith(t, map[string]string{"deploy/chart": webappChart}, nil) },
			overlay: webapp, wantImage: "registry.local:5000/acme/web:pr-7-0123456789ab@" + testDigest,
		},
		"Bitnami: registry/repository/tag/digest": {
			repo: func(t *testing.T) string { return repoWith(t, map[string]string{"deploy/chart": splitChart}, nil) },
			overlay: `{"image": {"registry": "${image.registry}", "repository": "${image.repository}", "tag": "${image.tag}", "digest": "${image.digest}"},
			           "ingress": {"enabled": true, "hostname": "${preview.host}"}}`,
			wantImage: "registry.local:5000/acme/web@" + testDigest,
		},
		"strict schema": {
			repo:      func(t *testing.T) string { return repoWith(t, map[string]string{"deploy/chart": strictChart}, nil) },
			overlay:   `{"image": {"repository": "${image.name}", "tag": "${image.pinnedTag}"}, "ingress": {"enabled": true, "hostname": "${preview.host}"}}`,
			wantImage: "registry.local:5000/acme/web:pr-7-0123456789ab@" + testDigest,
		},
		"library dependency, vendored": {
			repo: func(t *testing.T) string {
				src := libraryRepo(t, nil)
				packageChart(t, libCommon, filepath.Join(src, "deploy/chart/charts"), "")
				return src
			},
			wantImage: "registry.local:5000/acme/web@" + testDigest, // the default overlay fits this chart
		},
		"library dependency, built from file://": {
			repo: func(t *testing.T) string { return libraryRepo(t, nil) }, depBuild: true,
			wantImage: "registry.local:5000/acme/web@" + testDigest,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := e2eEnv{c: cluster, ns: cluster.Namespace(t)}
			r, logs := pipelineRunner(t, e)
			o := chartDeployOpts(t, tc.repo(t), tc.overlay)
			o.DependencyBuild = tc.depBuild
			res, err := r.Deploy(t.Context(), o)
			assert.NilError(t, err)
			assert.Check(t, is.Len(resultDiagnostics(t, o.ResultsDir), 0))
			assert.Check(t, is.Equal(readResult(t, o.ResultsDir, ResultURL), "http://"+e2eHost))
			assert.Check(t, is.Len(logs.FilterMessageSnippet("preview host is routed").All(), 1))

			deps, err := cluster.Kube().AppsV1().Deployments(e.ns).List(t.Context(), metav1.ListOptions{})
			assert.NilError(t, err)
			assert.Assert(t, is.Len(deps.Items, 1))
			assert.Check(t, is.Equal(deps.Items[0].Spec.Template.Spec.Containers[0].Image, tc.wantImage))
			assert.Check(t, is.Len(logs.FilterMessageSnippet("image not pinned").All(), 0))

			h := healthOpts(res.URL, ingressStandIn(t, e))
			h.ResultsDir = t.TempDir()
			assert.NilError(t, r.HealthCheck(t.Context(), h))
			assert.Check(t, is.Len(resultDiagnostics(t, h.ResultsDir), 0))
		})
	}
}

// Without an overlay, the default one (ingress.host) does not route a `helm create` chart:
// the deploy says so, naming the host, what it found and what to configure, instead of
// succeeding into a health check that only sees the ingress controller's 404. The health check
// itself also refuses an unrouted host before any request.
func TestE2EUnroutedPreviewFailsBeforeTheHealthCheck(t *testing.T) {
	e := newE2E(t)
	r, _ := pipelineRunner(t, e)
	o := chartDeployOpts(t, repoWith(t, map[string]string{"deploy/chart": webappChart}, nil), "")
	_, err := r.Deploy(t.Context(), o)
	assert.ErrorContains(t, err, "no Ingress in namespace "+e.ns+" routes "+e2eHost+" to a Service port (found: nothing)")
	ds := resultDiagnostics(t, o.ResultsDir)
	assert.Assert(t, is.Len(ds, 1))
	values := readTestFile(t, filepath.Join(webappChart, "values.yaml"))
	assert.Check(t, is.DeepEqual(ds[0], preview.Diagnostic{Kind: preview.DiagnosticRouting, Path: "deploy/chart/values.yaml", Line: lineOf(t, values, "ingress:"),
		Message: "no Ingress in namespace " + e.ns + " routes " + e2eHost + " to a Service port (found: nothing). " + routingHint(&localInput{})}))
	assert.Check(t, is.Contains(ds[0].Message, "ingress.hosts: [{host: ${preview.host}"), "the fix for this shape")

	// An Ingress for another host, and one for the preview host whose Service does not exist,
	// are named for what they are.
	assert.NilError(t, e.c.Apply(t.Context(), []byte(`
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: other, namespace: `+e.ns+`}
spec:
  rules:
    - host: chart-example.local
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: preview-webapp, port: {number: 80}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: stale, namespace: `+e.ns+`}
spec:
  rules:
    - host: `+e2eHost+`
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: gone, port: {number: 80}}}}]}
`)))
	h := healthOpts("http://"+e2eHost, ingressStandIn(t, e))
	h.ResultsDir = t.TempDir()
	err = r.HealthCheck(t.Context(), h)
	assert.ErrorContains(t, err, "(found: Ingress/other for hosts chart-example.local; Ingress/stale: "+e2eHost+" → Service gone:80, which does not exist)")
	ds = resultDiagnostics(t, h.ResultsDir)
	assert.Assert(t, is.Len(ds, 1))
	assert.Check(t, is.Equal(ds[0].Kind, preview.DiagnosticRouting))
}

// defaultQuotaNamespace gives the namespace the configuration's default ResourceQuota and
// LimitRange, as the trigger provisions them, and waits until the quota is enforced.
func defaultQuotaNamespace(t *testing.T, e e2eEnv) {
	t.Helper()
	var cfg config.Config
	cfg.Default()
	p := cfg.Preview
	kube := e.c.Kube()
	_, err := kube.CoreV1().ResourceQuotas(e.ns).Create(t.Context(), &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "catalyst-quota"}, Spec: corev1.ResourceQuotaSpec{Hard: p.Quota.Hard}}, metav1.CreateOptions{})
	assert.NilError(t, err)
	_, err = kube.CoreV1().LimitRanges(e.ns).Create(t.Context(), &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "catalyst-limits"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
			DefaultRequest: p.LimitRange.DefaultRequest, Default: p.LimitRange.Default, Max: p.LimitRange.Max}}}}, metav1.CreateOptions{})
	assert.NilError(t, err)
	// Admission judges against the quota's status, which the resourcequota controller fills.
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		q, err := kube.CoreV1().ResourceQuotas(e.ns).Get(t.Context(), "catalyst-quota", metav1.GetOptions{})
		if err != nil {
			return poll.Error(err)
		}
		if _, ok := q.Status.Hard[corev1.ResourceServicesLoadBalancers]; !ok {
			return poll.Continue("quota status not computed yet")
		}
		return poll.Success()
	}, poll.WithTimeout(e2eTimeout), poll.WithDelay(100*time.Millisecond))
}

const lbOverlay = `{"service": {"type": "LoadBalancer"}, "ingress": {"enabled": true, "hosts": [{"host": "${preview.host}", "paths": [{"path": "/", "pathType": "Prefix"}]}]}}`

// With the default quota a LoadBalancer Service is refused at admission at once, and the refusal
// reaches the pull request at the template that rendered the Service.
func TestE2ELoadBalancerIsRefusedByTheDefaultQuota(t *testing.T) {
	e := newE2E(t)
	defaultQuotaNamespace(t, e)
	r, _ := pipelineRunner(t, e)
	o := chartDeployOpts(t, repoWith(t, map[string]string{"deploy/chart": webappChart}, nil), lbOverlay)
	_, err := r.Deploy(t.Context(), o)
	assert.ErrorContains(t, err, "exceeded quota: catalyst-quota")
	ds := resultDiagnostics(t, o.ResultsDir)
	assert.Assert(t, is.Len(ds, 1), "%+v", ds)
	assert.Check(t, is.Equal(ds[0].Kind, preview.DiagnosticManifest))
	assert.Check(t, is.Equal(ds[0].Path, "deploy/chart/templates/service.yaml"))
	assert.Check(t, is.Contains(ds[0].Message, "Service/preview-webapp was refused by the API server: services \"preview-webapp\" is forbidden: exceeded quota: catalyst-quota, requested: services.loadbalancers=1"))
	assert.Check(t, is.Contains(ds[0].Message, "set the Service type to ClusterIP in repositories[].values"), "the fix")
}

// Where the quota allows it, a LoadBalancer Service nothing gives an address to makes the wait
// fail with that condition, logged at error level, instead of "context deadline exceeded".
func TestE2ELoadBalancerWithoutAddressNamesTheCondition(t *testing.T) {
	e := newE2E(t)
	r, logs := pipelineRunner(t, e)
	o := chartDeployOpts(t, repoWith(t, map[string]string{"deploy/chart": webappChart}, nil), lbOverlay)
	o.Timeout = 5 * time.Second
	_, err := r.Deploy(t.Context(), o)
	assert.ErrorContains(t, err, "Service preview-webapp has no load balancer address")
	assert.ErrorContains(t, err, "resources kept for diagnosis")
	ds := resultDiagnostics(t, o.ResultsDir)
	assert.Assert(t, is.Len(ds, 1))
	assert.Check(t, is.Equal(ds[0].Kind, preview.DiagnosticRollout))
	assert.Check(t, is.Equal(ds[0].Path, "deploy/chart/templates/service.yaml"))
	assert.Check(t, strings.HasPrefix(ds[0].Message, "Service preview-webapp has no load balancer address (type LoadBalancer: no load balancer controller has assigned one) (waited "), ds[0].Message)
	errs := logs.FilterMessage("rollout not ready").FilterLevelExact(zapcore.ErrorLevel).All()
	assert.Assert(t, is.Len(errs, 1))
	assert.Check(t, is.Contains(errs[0].ContextMap()["waitingOn"].(string), "Service preview-webapp has no load balancer address"))
	rels := e.helmReleases(t)
	assert.Assert(t, is.Len(rels, 1))
	assert.Check(t, is.Equal(rels[0].Labels["status"], "failed"))
}

// A pod template Pod Security refuses leaves the Deployment with a ReplicaSet that cannot create
// pods: the wait reports that at error level at once and fails after a short grace with
// admission's message, instead of waiting for the deploy timeout.
func TestE2EPodSecurityRefusalFailsTheRolloutWithItsMessage(t *testing.T) {
	e := newE2E(t)
	_, err := e.c.Kube().CoreV1().Namespaces().Patch(t.Context(), e.ns, "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}`), metav1.PatchOptions{})
	assert.NilError(t, err)
	r, logs := pipelineRunner(t, e)
	o := chartDeployOpts(t, repoWith(t, map[string]string{"deploy/chart": webappChart}, nil), `{"ingress": {"enabled": true, "hosts": [{"host": "${preview.host}", "paths": [{"path": "/", "pathType": "Prefix"}]}]}}`)
	o.BlockedGrace = time.Second
	_, err = r.Deploy(t.Context(), o)
	assert.ErrorContains(t, err, "Deployment/preview-webapp cannot create pods")
	assert.ErrorContains(t, err, `violates PodSecurity "restricted:latest"`)
	ds := resultDiagnostics(t, o.ResultsDir)
	assert.Assert(t, is.Len(ds, 1))
	assert.Check(t, is.Equal(ds[0].Kind, preview.DiagnosticRollout))
	assert.Check(t, is.Equal(ds[0].Path, "deploy/chart/templates/deployment.yaml"))
	assert.Check(t, is.Len(logs.FilterMessage("rollout blocked").FilterLevelExact(zapcore.ErrorLevel).All(), 1))
}

// gatewayAPIVersion is the Gateway API release whose HTTPRoute CRD the routing test installs.
const gatewayAPIVersion = "v1.6.3"

// installHTTPRouteCRD applies Gateway API's real HTTPRoute CRD (read from its Go module, fetched
// through the module proxy) and removes it when the test ends, waiting until discovery no
// longer serves it: the CRD is cluster-wide and the other tests expect a cluster without it.
func installHTTPRouteCRD(t *testing.T, e e2eEnv) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "mod", "download", "-json", "sigs.k8s.io/gateway-api@"+gatewayAPIVersion)
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	assert.NilError(t, err, "go mod download sigs.k8s.io/gateway-api@%s", gatewayAPIVersion)
	var mod struct{ Dir string }
	assert.NilError(t, json.Unmarshal(out, &mod))
	crd, err := os.ReadFile(filepath.Join(mod.Dir, "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"))
	assert.NilError(t, err)
	served := func() bool {
		_, err := e.c.Kube().Discovery().ServerResourcesForGroupVersion(HTTPRouteGVR.GroupVersion().String())
		return err == nil
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		if dc, err := dynamic.NewForConfig(e.c.RESTConfig()); err == nil {
			_ = dc.Resource(crds).Delete(ctx, "httproutes.gateway.networking.k8s.io", metav1.DeleteOptions{})
		}
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			if served() {
				return poll.Continue("HTTPRoute still served")
			}
			return poll.Success()
		}, poll.WithTimeout(e2eTimeout), poll.WithDelay(200*time.Millisecond))
	})
	assert.NilError(t, e.c.Apply(t.Context(), crd))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if !served() {
			return poll.Continue("HTTPRoute not served yet")
		}
		return poll.Success()
	}, poll.WithTimeout(e2eTimeout), poll.WithDelay(200*time.Millisecond))
}

// Where the cluster serves Gateway API, an HTTPRoute for the preview host to a Service port
// routes the preview; without one the message names both kinds. Not parallel: the CRD it
// installs is gone before the parallel tests run.
func TestE2EHTTPRouteRoutesThePreview(t *testing.T) {
	c := cluster.Require(t)
	e := e2eEnv{c: c, ns: c.Namespace(t)}
	installHTTPRouteCRD(t, e)
	r, logs := pipelineRunner(t, e)
	o := chartDeployOpts(t, repoWith(t, map[string]string{"deploy/chart": webappChart}, nil),
		`{"httpRoute": {"enabled": true, "hostnames": ["${preview.host}"], "parentRefs": [{"name": "previews", "namespace": "gateways"}]}}`)
	_, err := r.Deploy(t.Context(), o)
	assert.NilError(t, err)
	routed := logs.FilterMessage("preview host is routed").All()
	assert.Assert(t, is.Len(routed, 1))
	assert.Check(t, is.Equal(routed[0].ContextMap()["route"], "HTTPRoute/preview-webapp → Service preview-webapp:80"))

	// The same chart without the overlay: neither kind routes the host.
	o = chartDeployOpts(t, repoWith(t, map[string]string{"deploy/chart": webappChart}, nil), "")
	_, err = r.Deploy(t.Context(), o)
	assert.ErrorContains(t, err, "no Ingress or HTTPRoute in namespace "+e.ns+" routes "+e2eHost+" to a Service port (found: nothing)")
}
