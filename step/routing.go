package step

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/catalyst-preview/catalyst/preview"
)

// HTTPRouteGVR is Gateway API's HTTPRoute, checked when the cluster serves it.
var HTTPRouteGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// routeCheck is what the routing check found.
type routeCheck struct {
	Route string   // the route that serves the host ("Ingress/web → Service web:http"); empty: none
	Found []string // what else was there, and why it does not count
}

// checkRouting verifies that some Ingress (of the configured class, or of none) or HTTPRoute in
// the namespace routes host to a port of an existing Service. Without one, the preview can
// only answer 404, so it fails with a routing FailureError naming the host, what was found
// and the configuration to change.
func (r *Runner) checkRouting(ctx context.Context, host, class, hint string) (*routeCheck, error) {
	ns := r.Kube.Namespace
	services := map[string]*corev1.Service{}
	svcs, err := r.Kube.Kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("routing check: list Services: %w", err)
	}
	for i := range svcs.Items {
		services[svcs.Items[i].Name] = &svcs.Items[i]
	}
	rc := &routeCheck{}
	ings, err := r.Kube.Kube.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("routing check: list Ingresses: %w", err)
	}
	sort.Slice(ings.Items, func(i, j int) bool { return ings.Items[i].Name < ings.Items[j].Name })
	for i := range ings.Items {
		if route, found := ingressRoute(&ings.Items[i], host, class, services); route != "" {
			rc.Route = route
			return rc, nil
		} else {
			rc.Found = append(rc.Found, found)
		}
	}
	served, err := r.servesHTTPRoutes()
	if err != nil {
		rc.Found = append(rc.Found, "HTTPRoutes: cannot tell whether the cluster serves them: "+err.Error())
	}
	if served {
		routes, err := r.httpRoutes(ctx)
		switch {
		case err != nil:
			rc.Found = append(rc.Found, "HTTPRoutes: cannot list: "+err.Error())
		default:
			for i := range routes {
				if route, found := httpRouteRoute(&routes[i], host, services); route != "" {
					rc.Route = route
					return rc, nil
				} else {
					rc.Found = append(rc.Found, found)
				}
			}
		}
	}
	kinds := "Ingress"
	if served {
		kinds = "Ingress or HTTPRoute"
	}
	found := "nothing"
	if len(rc.Found) > 0 {
		found = strings.Join(rc.Found, "; ")
	}
	return rc, &FailureError{Kind: preview.DiagnosticRouting,
		Msg: fmt.Sprintf("no %s in namespace %s routes %s to a Service port (found: %s). %s", kinds, ns, host, found, hint)}
}

// ingressRoute returns the route an Ingress gives host, or why it gives none.
func ingressRoute(ing *networkingv1.Ingress, host, class string, services map[string]*corev1.Service) (route, found string) {
	name := "Ingress/" + ing.Name
	own := ingressClass(ing)
	if class != "" && own != "" && own != class {
		return "", fmt.Sprintf("%s has class %s, not the configured %s", name, own, class)
	}
	var hosts, why []string
	try := func(b *networkingv1.IngressBackend) string {
		if b == nil || b.Service == nil {
			return ""
		}
		port := b.Service.Port.Name
		if port == "" {
			port = fmt.Sprint(b.Service.Port.Number)
		}
		target := fmt.Sprintf("Service %s:%s", b.Service.Name, port)
		svc := services[b.Service.Name]
		if svc == nil {
			why = append(why, host+" → "+target+", which does not exist")
			return ""
		}
		for _, p := range svc.Spec.Ports {
			if (b.Service.Port.Name != "" && p.Name == b.Service.Port.Name) || (b.Service.Port.Name == "" && p.Port == b.Service.Port.Number) {
				return name + " → " + target
			}
		}
		why = append(why, fmt.Sprintf("%s → %s, which has no such port", host, target))
		return ""
	}
	for _, rule := range ing.Spec.Rules {
		h := rule.Host
		if h == "" {
			h = "*"
		}
		hosts = append(hosts, h)
		if !hostMatches(rule.Host, host) || rule.HTTP == nil {
			continue
		}
		for i := range rule.HTTP.Paths {
			if rt := try(&rule.HTTP.Paths[i].Backend); rt != "" {
				return rt, ""
			}
		}
	}
	if ing.Spec.DefaultBackend != nil {
		hosts = append(hosts, "default backend")
		if rt := try(ing.Spec.DefaultBackend); rt != "" {
			return rt, ""
		}
	}
	if len(why) > 0 {
		return "", name + ": " + strings.Join(why, "; ")
	}
	return "", fmt.Sprintf("%s for hosts %s", name, strings.Join(hosts, ", "))
}

func ingressClass(ing *networkingv1.Ingress) string {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName
	}
	return ing.Annotations["kubernetes.io/ingress.class"]
}

// hostMatches applies Ingress and Gateway API host rules: exact (case-insensitive), a
// "*.example.com" wildcard matching one more label, or no host matching every host.
func hostMatches(pattern, host string) bool {
	if pattern == "" {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		label, rest, found := strings.Cut(strings.ToLower(host), ".")
		return found && label != "" && "."+rest == strings.ToLower(suffix)
	}
	return strings.EqualFold(pattern, host)
}

// servesHTTPRoutes asks discovery whether Gateway API's HTTPRoute exists in the cluster.
func (r *Runner) servesHTTPRoutes() (bool, error) {
	list, err := r.Kube.Kube.Discovery().ServerResourcesForGroupVersion(HTTPRouteGVR.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, res := range list.APIResources {
		if res.Name == HTTPRouteGVR.Resource {
			return true, nil
		}
	}
	return false, nil
}

// httpRoute is the part of a Gateway API HTTPRoute the check reads.
type httpRoute struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		Hostnames []string `json:"hostnames"`
		Rules     []struct {
			BackendRefs []struct {
				Group     *string `json:"group"`
				Kind      *string `json:"kind"`
				Name      string  `json:"name"`
				Namespace *string `json:"namespace"`
				Port      *int32  `json:"port"`
			} `json:"backendRefs"`
		} `json:"rules"`
	} `json:"spec"`
}

func (r *Runner) httpRoutes(ctx context.Context) ([]httpRoute, error) {
	dc, err := dynamic.NewForConfig(r.Kube.Config)
	if err != nil {
		return nil, err
	}
	list, err := dc.Resource(HTTPRouteGVR).Namespace(r.Kube.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]httpRoute, 0, len(list.Items))
	for i := range list.Items {
		var hr httpRoute
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, &hr); err != nil {
			return nil, fmt.Errorf("HTTPRoute %s: %w", list.Items[i].GetName(), err)
		}
		out = append(out, hr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metadata.Name < out[j].Metadata.Name })
	return out, nil
}

// httpRouteRoute returns the route an HTTPRoute gives host, or why it gives none.
func httpRouteRoute(hr *httpRoute, host string, services map[string]*corev1.Service) (route, found string) {
	name := "HTTPRoute/" + hr.Metadata.Name
	matches := len(hr.Spec.Hostnames) == 0
	for _, h := range hr.Spec.Hostnames {
		matches = matches || hostMatches(h, host)
	}
	if !matches {
		return "", fmt.Sprintf("%s for hostnames %s", name, strings.Join(hr.Spec.Hostnames, ", "))
	}
	var why []string
	for _, rule := range hr.Spec.Rules {
		for _, b := range rule.BackendRefs {
			if (b.Group != nil && *b.Group != "") || (b.Kind != nil && *b.Kind != "Service") {
				continue
			}
			if b.Namespace != nil && *b.Namespace != hr.Metadata.Namespace {
				why = append(why, fmt.Sprintf("Service %s/%s is in another namespace", *b.Namespace, b.Name))
				continue
			}
			svc := services[b.Name]
			if svc == nil || b.Port == nil {
				why = append(why, fmt.Sprintf("Service %s does not exist or no port is given", b.Name))
				continue
			}
			for _, p := range svc.Spec.Ports {
				if p.Port == *b.Port {
					return fmt.Sprintf("%s → Service %s:%d", name, b.Name, *b.Port), ""
				}
			}
			why = append(why, fmt.Sprintf("Service %s has no port %d", b.Name, *b.Port))
		}
	}
	if len(why) == 0 {
		why = []string{"no Service backend"}
	}
	return "", name + ": " + strings.Join(why, "; ")
}
