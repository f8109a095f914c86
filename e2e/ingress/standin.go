// Package ingress is a local stand-in for the ingress controller of a preview cluster. No
// container runs here (KWOK plays the pods), so nothing could answer for a preview's host; the
// stand-in routes a request the way an ingress controller does — the Ingress
// (networking.k8s.io/v1, of its class) whose rule matches the Host and path, the backend
// Service and port, the ready endpoints of its EndpointSlices, the pod behind them — and then
// answers for the application, saying that it stands in:
//
//   - "/": an HTML page that says plainly it is the harness's stand-in, not the application,
//     and shows the route it found;
//   - a path the backend container declares as an HTTP probe (readiness, liveness, startup) on
//     the routed port — the application's health endpoint: 200;
//   - anything else: 404, since the application itself does not run.
//
// Without a matching Ingress it answers 404, without a Service or ready endpoints 503, as
// ingress-nginx does. The preview health check (preview.healthConnectTo) and a browser reach
// it on a loopback port.
package ingress

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
)

// Header is set on every answer of the stand-in, so that a client can tell it from an app.
const Header = "X-Catalyst-E2E-Stand-In"

// Options configure the stand-in.
type Options struct {
	// Class is the ingress class served (spec.ingressClassName or the
	// kubernetes.io/ingress.class annotation); empty serves every Ingress.
	Class string
	// Addr to listen on; empty: a free loopback port.
	Addr string
}

// Hit is one request the stand-in answered.
type Hit struct {
	Host, Path string
	Status     int
	Route      string // namespace/ingress → service:port, or why there is none
}

// StandIn is a running stand-in.
type StandIn struct {
	class     string
	ingresses networkinglisters.IngressLister
	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
	pods      corelisters.PodLister
	srv       *http.Server
	addr      string
	cancel    context.CancelFunc

	mu   sync.Mutex
	hits []Hit
}

// Start starts the stand-in and returns once its caches are filled.
func Start(ctx context.Context, kube kubernetes.Interface, o Options) (*StandIn, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("ingress stand-in: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := informers.NewSharedInformerFactory(kube, 10*time.Minute)
	s := &StandIn{
		class:     o.Class,
		ingresses: f.Networking().V1().Ingresses().Lister(),
		services:  f.Core().V1().Services().Lister(),
		slices:    f.Discovery().V1().EndpointSlices().Lister(),
		pods:      f.Core().V1().Pods().Lister(),
		addr:      l.Addr().String(),
		cancel:    cancel,
	}
	f.Start(runCtx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			cancel()
			_ = l.Close()
			return nil, fmt.Errorf("ingress stand-in: %v cache not synced: %w", typ, ctx.Err())
		}
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Addr is the host:port the stand-in listens on: the value for preview.healthConnectTo.
func (s *StandIn) Addr() string { return s.addr }

// URL is the address a browser opens for a preview host: http://HOST:PORT/ (a name that
// resolves to 127.0.0.1, such as *.localtest.me, reaches the stand-in's port).
func (s *StandIn) URL(host string) string {
	_, port, _ := net.SplitHostPort(s.addr)
	return "http://" + host + ":" + port + "/"
}

// Hits returns the requests answered so far for a host ("" for all).
func (s *StandIn) Hits(host string) []Hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Hit
	for _, h := range s.hits {
		if host == "" || h.Host == host {
			out = append(out, h)
		}
	}
	return out
}

// Close stops the server and the informers.
func (s *StandIn) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	s.cancel()
}

// route is where a request goes.
type route struct {
	ingress   *networkingv1.Ingress
	service   *corev1.Service
	port      corev1.ServicePort
	endpoints []readyPod
}

type readyPod struct {
	pod    *corev1.Pod
	ip     string
	probes []string // HTTP probe paths of the container serving the routed port
}

func (r route) String() string {
	return fmt.Sprintf("%s/%s → service %s port %s (%d ready)", r.ingress.Namespace, r.ingress.Name, r.service.Name, portName(r.port), len(r.endpoints))
}

func (s *StandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	w.Header().Set(Header, "ingress")
	status, desc := s.answer(w, r, host)
	s.mu.Lock()
	s.hits = append(s.hits, Hit{Host: host, Path: r.URL.Path, Status: status, Route: desc})
	s.mu.Unlock()
}

func (s *StandIn) answer(w http.ResponseWriter, r *http.Request, host string) (int, string) {
	rt, err := s.route(host, r.URL.Path)
	if err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, errNoIngress) {
			status = http.StatusNotFound
		}
		http.Error(w, fmt.Sprintf("e2e ingress stand-in: %v\n", err), status)
		return status, err.Error()
	}
	desc := rt.String()
	switch {
	case r.URL.Path == "/" || r.URL.Path == "":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, map[string]any{"Host": host, "Route": rt})
		return http.StatusOK, desc
	case containsPath(rt.endpoints[0].probes, r.URL.Path):
		fmt.Fprintf(w, "ok — answered by the e2e ingress stand-in for %s: pod %s is Ready and declares %s as its probe; the application itself does not run here\n",
			host, rt.endpoints[0].pod.Name, r.URL.Path)
		return http.StatusOK, desc
	}
	http.Error(w, fmt.Sprintf("e2e ingress stand-in: %s is not a path the application's pods declare as a probe; the application itself does not run here, so nothing else answers\n", r.URL.Path), http.StatusNotFound)
	return http.StatusNotFound, desc
}

var (
	errNoIngress = errors.New("no Ingress routes this host and path")
	page         = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Host}} — e2e ingress stand-in</title></head>
<body style="font-family: sans-serif; max-width: 50em; margin: 2em auto">
<h1>This is not the application</h1>
<p>This page comes from the <strong>ingress stand-in of the Catalyst Preview e2e harness</strong>.
No container runs on this machine (KWOK plays the pods), so the preview's application cannot answer;
the stand-in routes the request as an ingress controller would and answers in its place.</p>
<table>
<tr><th align="left">host</th><td>{{.Host}}</td></tr>
<tr><th align="left">Ingress</th><td>{{.Route.Ingress.Namespace}}/{{.Route.Ingress.Name}}</td></tr>
<tr><th align="left">Service</th><td>{{.Route.Service.Name}}</td></tr>
<tr><th align="left">ready pods</th><td>{{range .Route.Endpoints}}{{.Pod.Name}} ({{.IP}}) {{end}}</td></tr>
<tr><th align="left">probe paths answered</th><td>{{range .Route.Endpoints}}{{range .Probes}}{{.}} {{end}}{{break}}{{end}}</td></tr>
</table>
</body></html>
`))
)

// exported views for the template
func (r route) Ingress() *networkingv1.Ingress { return r.ingress }
func (r route) Service() *corev1.Service       { return r.service }
func (r route) Endpoints() []readyPod          { return r.endpoints }
func (p readyPod) Pod() *corev1.Pod            { return p.pod }
func (p readyPod) IP() string                  { return p.ip }
func (p readyPod) Probes() []string            { return p.probes }

// route finds the backend for host and path as an ingress controller does.
func (s *StandIn) route(host, path string) (route, error) {
	ings, err := s.ingresses.List(labels.Everything())
	if err != nil {
		return route{}, err
	}
	sort.Slice(ings, func(i, j int) bool { // oldest first wins a tie, like ingress-nginx
		return ings[i].CreationTimestamp.Before(&ings[j].CreationTimestamp)
	})
	var best *networkingv1.Ingress
	var backend *networkingv1.IngressServiceBackend
	bestLen := -1
	for _, ing := range ings {
		if ing.DeletionTimestamp != nil || !s.serves(ing) {
			continue
		}
		for _, rule := range ing.Spec.Rules {
			if !hostMatches(rule.Host, host) || rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				n := pathMatch(p, path)
				if n > bestLen && p.Backend.Service != nil {
					best, backend, bestLen = ing, p.Backend.Service, n
				}
			}
		}
	}
	if best == nil {
		return route{}, fmt.Errorf("%w (host %s, path %s)", errNoIngress, host, path)
	}
	svc, err := s.services.Services(best.Namespace).Get(backend.Name)
	if err != nil {
		return route{}, fmt.Errorf("Ingress %s/%s: backend service %s: %w", best.Namespace, best.Name, backend.Name, err)
	}
	rt := route{ingress: best, service: svc}
	found := false
	for _, sp := range svc.Spec.Ports {
		if (backend.Port.Name != "" && sp.Name == backend.Port.Name) || (backend.Port.Number != 0 && sp.Port == backend.Port.Number) {
			rt.port, found = sp, true
		}
	}
	if !found {
		return route{}, fmt.Errorf("Ingress %s/%s: service %s has no port %s", best.Namespace, best.Name, svc.Name, backendPort(backend.Port))
	}
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name})
	slices, err := s.slices.EndpointSlices(svc.Namespace).List(sel)
	if err != nil {
		return route{}, err
	}
	for _, es := range slices {
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready == nil || !*ep.Conditions.Ready || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" || len(ep.Addresses) == 0 {
				continue
			}
			pod, err := s.pods.Pods(svc.Namespace).Get(ep.TargetRef.Name)
			if err != nil || !podReady(pod) {
				continue
			}
			rt.endpoints = append(rt.endpoints, readyPod{pod: pod, ip: ep.Addresses[0], probes: probePaths(pod, rt.port.TargetPort)})
		}
	}
	if len(rt.endpoints) == 0 {
		return route{}, fmt.Errorf("Ingress %s/%s: service %s has no ready endpoints", best.Namespace, best.Name, svc.Name)
	}
	sort.Slice(rt.endpoints, func(i, j int) bool { return rt.endpoints[i].pod.Name < rt.endpoints[j].pod.Name })
	return rt, nil
}

func (s *StandIn) serves(ing *networkingv1.Ingress) bool {
	if s.class == "" {
		return true
	}
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName == s.class
	}
	return ing.Annotations["kubernetes.io/ingress.class"] == s.class
}

// hostMatches applies the Ingress host rules: exact, or "*.example.com" for one more label.
func hostMatches(rule, host string) bool {
	if rule == "" {
		return true
	}
	if suffix, ok := strings.CutPrefix(rule, "*"); ok {
		return strings.HasSuffix(host, suffix) && !strings.Contains(strings.TrimSuffix(host, suffix), ".")
	}
	return rule == host
}

// pathMatch returns the length of the match (longest wins) or -1.
func pathMatch(p networkingv1.HTTPIngressPath, path string) int {
	want := p.Path
	if want == "" {
		want = "/"
	}
	typ := networkingv1.PathTypeImplementationSpecific
	if p.PathType != nil {
		typ = *p.PathType
	}
	switch typ {
	case networkingv1.PathTypeExact:
		if path == want {
			return len(want)
		}
	case networkingv1.PathTypePrefix:
		w := strings.TrimSuffix(want, "/")
		if w == "" || path == w || strings.HasPrefix(path, w+"/") {
			return len(w)
		}
	default:
		if strings.HasPrefix(path, want) {
			return len(want)
		}
	}
	return -1
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// probePaths are the HTTP probe paths the container serving target declares on that port.
func probePaths(p *corev1.Pod, target intstr.IntOrString) []string {
	var out []string
	for _, c := range p.Spec.Containers {
		serves := false
		for _, cp := range c.Ports {
			if (target.Type == intstr.String && cp.Name == target.StrVal) || (target.Type == intstr.Int && cp.ContainerPort == target.IntVal) {
				serves = true
			}
		}
		if !serves {
			continue
		}
		for _, pr := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			if pr != nil && pr.HTTPGet != nil && !containsPath(out, pr.HTTPGet.Path) {
				out = append(out, pr.HTTPGet.Path)
			}
		}
	}
	return out
}

func containsPath(paths []string, p string) bool {
	for _, x := range paths {
		if x == p {
			return true
		}
	}
	return false
}

func portName(p corev1.ServicePort) string {
	if p.Name != "" {
		return fmt.Sprintf("%s (%d)", p.Name, p.Port)
	}
	return fmt.Sprint(p.Port)
}

func backendPort(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprint(p.Number)
}
