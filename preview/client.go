package preview

import (
	"context"
	"strconv"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// DefaultSystemNamespace is where the trigger keeps the records of pull requests that have no
// environment (pending records), unless configured otherwise.
const DefaultSystemNamespace = "catalyst-system"

// Clients are the caller's own Kubernetes clients: built from their kubeconfig (previewctl) or
// impersonating the signed-in user (console, MCP). Every read and every request goes through
// them, so Kubernetes RBAC decides what each caller sees and may do.
type Clients struct {
	Kube   kubernetes.Interface
	Tekton tektonclient.Interface
}

// Options tune a Client; the zero value is fine.
type Options struct {
	// SystemNamespace holds pending records (explain reads them); DefaultSystemNamespace when empty.
	SystemNamespace string
	// Actor names the caller in requests (retest-by, remove-by); empty: asked of the apiserver
	// (SelfSubjectReview), falling back to "previewctl".
	Actor string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Streamer opens container logs; PodLogStreamer(Kube) when nil.
	Streamer Streamer
	// Metrics reads the live CPU and memory of a namespace's pods (metrics.k8s.io); when nil,
	// the apiserver is asked, and a cluster without metrics-server shows quota usage only.
	Metrics MetricsReader
	// PollInterval bounds how long waits (delete, log follow) go without re-reading, in case a
	// watch misses an event; 2s when zero.
	PollInterval time.Duration
}

// Client is the query layer over one caller's clients. It holds no state between calls.
type Client struct {
	kube   kubernetes.Interface
	tekton tektonclient.Interface
	o      Options
}

// New returns a Client acting with c.
func New(c Clients, o Options) *Client {
	if o.SystemNamespace == "" {
		o.SystemNamespace = DefaultSystemNamespace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Streamer == nil {
		o.Streamer = PodLogStreamer(c.Kube)
	}
	if o.Metrics == nil {
		o.Metrics = apiMetrics{c.Kube}
	}
	if o.PollInterval == 0 {
		o.PollInterval = 2 * time.Second
	}
	return &Client{kube: c.Kube, tekton: c.Tekton, o: o}
}

// managedSelector selects what Catalyst owns.
var managedSelector = labels.Set{LabelManaged: ManagedTrue}.AsSelector().String()

// resolve finds the namespace of a reference. A pull request is looked up under its readable
// and its hashed name (the trigger falls back to the latter when another repository holds the
// former); a namespace must be a Catalyst PR namespace.
func (c *Client) resolve(ctx context.Context, ref Ref) (*corev1.Namespace, error) {
	if !ref.PR() {
		ns, err := c.kube.CoreV1().Namespaces().Get(ctx, ref.Namespace, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return nil, newError(KindNotFound, err, "environment %s not found", ref.Namespace)
			}
			return nil, wrap(err, "get namespace %s", ref.Namespace)
		}
		if !isPRNamespace(ns) {
			return nil, newError(KindNotFound, nil, "namespace %s is not a Catalyst preview environment", ref.Namespace)
		}
		return ns, nil
	}
	var forbidden error
	for _, name := range []string{NamespaceName(ref.Repo, ref.Number), HashedNamespaceName(ref.Repo, ref.Number)} {
		ns, err := c.kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case apierrors.IsForbidden(err):
			forbidden = err
			continue
		case err != nil:
			return nil, wrap(err, "get namespace %s", name)
		}
		if isPRNamespace(ns) && strings.EqualFold(ns.Annotations[AnnotationRepo], ref.Repo) && ns.Labels[LabelPR] == strconv.Itoa(ref.Number) {
			return ns, nil
		}
	}
	if forbidden != nil {
		return nil, wrap(forbidden, "get the environment of %s", ref)
	}
	return nil, newError(KindNotFound, nil, "%s has no preview environment (previewctl explain %s says why)", ref, ref)
}

func isPRNamespace(ns *corev1.Namespace) bool {
	return ns.Labels[LabelManaged] == ManagedTrue && ns.Labels[LabelPR] != ""
}

// runsOf lists a namespace's Catalyst PipelineRuns.
func (c *Client) runsOf(ctx context.Context, namespace string) ([]*pipelinev1.PipelineRun, error) {
	list, err := c.tekton.TektonV1().PipelineRuns(namespace).List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		return nil, wrap(err, "list pipelineruns in %s", namespace)
	}
	out := make([]*pipelinev1.PipelineRun, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// actor is the caller's user name, for the requests it records.
func (c *Client) actor(ctx context.Context) string {
	if c.o.Actor != "" {
		return c.o.Actor
	}
	r, err := c.kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err == nil && r.Status.UserInfo.Username != "" {
		return r.Status.UserInfo.Username
	}
	return "previewctl"
}

func abbrev(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
