package setup

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
)

// CountKubeRequests makes every request of clients built from rc count in
// catalyst_kube_requests_total{verb,resource,code}, so that an operator (and the bench) can see
// what one pull request costs the API server.
func CountKubeRequests(rc *rest.Config, reg prometheus.Registerer) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "catalyst_kube_requests_total",
		Help: "Requests to the Kubernetes API server by verb (HTTP method, WATCH for watches), resource and status code.",
	}, []string{"verb", "resource", "code"})
	reg.MustRegister(requests)
	rc.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			verb := r.Method
			if r.URL.Query().Get("watch") == "true" {
				verb = "WATCH"
			}
			resp, err := next.RoundTrip(r)
			code := "error"
			if err == nil {
				code = http.StatusText(resp.StatusCode)
				if code == "" {
					code = "other"
				}
			}
			requests.WithLabelValues(verb, resourceOf(r.URL.Path), code).Inc()
			return resp, err
		})
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// resourceOf reduces a path to its resource type, keeping the label set bounded:
// /api/v1/namespaces/x/pods/y/log -> pods/log, /apis/tekton.dev/v1/pipelineruns -> pipelineruns.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return "other"
	}
	if len(parts) >= 2 && parts[0] == "namespaces" {
		if len(parts) == 2 {
			return "namespaces"
		}
		parts = parts[2:]
	}
	switch len(parts) {
	case 0:
		return "other"
	case 1, 2:
		return parts[0]
	default:
		return parts[0] + "/" + parts[2]
	}
}
