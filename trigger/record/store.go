// Package record is a pull request's durable record: the events that change it, how they fold
// into it (ordering, redelivery, command rights), why it may not deploy (the gate), and where
// it lives — its namespace's annotations, or a pending ConfigMap while it has no environment.
package record

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
)

// Store persists events as the pull request's record: the annotations of its namespace, or, for a
// pull request that may not have an environment yet (untrusted author, draft, unlabelled,
// unconfigured repository), of a ConfigMap in the system namespace. Both are ordinary objects,
// so the record survives restarts and every replica of the webhook sees the same state.
type Store struct {
	kube            kubernetes.Interface
	cfg             *config.Config
	systemNamespace string
	now             func() time.Time
}

// NewStore returns a Store writing through kube.
func NewStore(kube kubernetes.Interface, cfg *config.Config, systemNamespace string, now func() time.Time) *Store {
	return &Store{kube: kube, cfg: cfg, systemNamespace: systemNamespace, now: now}
}

// Outcome says where an event was recorded, or why nothing changed.
type Outcome struct {
	Namespace string // the PR namespace, when the record is (or became) a namespace
	Pending   string // the pending ConfigMap, when the PR has no environment
	Changed   bool
	Reason    string
}

const maxRecordAttempts = 8

// Record folds ev into the durable record. Conflicts with concurrent writers (another replica,
// the reconciler) are retried on fresh reads, so two deliveries never overwrite each other.
func (s *Store) Record(ctx context.Context, ev Event) (Outcome, error) {
	var lastErr error
	for range maxRecordAttempts {
		out, err := s.record(ctx, ev)
		if err == nil {
			return out, nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			return out, err
		}
		lastErr = err
	}
	return Outcome{}, fmt.Errorf("record %s#%d: still conflicting after %d attempts: %w", ev.Repo, ev.Number, maxRecordAttempts, lastErr)
}

func (s *Store) record(ctx context.Context, ev Event) (Outcome, error) {
	now := s.now()
	_, configured := s.cfg.Repository(ev.Repo)
	ns, name, err := FindNamespace(ctx, s.kube, ev.Repo, ev.Number)
	if err != nil {
		return Outcome{}, err
	}
	if ns != nil && ns.DeletionTimestamp == nil {
		ann := Clone(ns.Annotations)
		changed, reason := Apply(ann, ev, now)
		if !changed {
			return Outcome{Namespace: ns.Name, Reason: reason}, nil
		}
		ann[preview.AnnotationGate] = Gate(s.cfg.Preview, configured, ann)
		updated := ns.DeepCopy()
		updated.Annotations = ann
		setRecordLabels(updated.Labels, ev.Repo, ev.Number, ann)
		if _, err := s.kube.CoreV1().Namespaces().Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return Outcome{}, fmt.Errorf("update namespace %s: %w", ns.Name, err)
		}
		return Outcome{Namespace: ns.Name, Changed: true}, nil
	}

	// No live namespace: the record is the pending ConfigMap until the PR may deploy. A namespace
	// still terminating from an earlier close cannot take a reopen; the reconciler promotes the
	// pending record once it is gone.
	cms := s.kube.CoreV1().ConfigMaps(s.systemNamespace)
	cm, err := cms.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cm = nil
	case err != nil:
		return Outcome{}, fmt.Errorf("get pending record %s/%s: %w", s.systemNamespace, name, err)
	}
	ann := map[string]string{}
	if cm != nil {
		ann = Clone(cm.Annotations)
	}
	changed, reason := Apply(ann, ev, now)
	if !changed {
		return Outcome{Pending: name, Reason: reason}, nil
	}
	gate := Gate(s.cfg.Preview, configured, ann)
	ann[preview.AnnotationGate] = gate
	if cm == nil && gate == preview.GateClosed {
		return Outcome{Reason: "pull request closed and it has no environment"}, nil
	}
	if cm == nil && !configured && ev.Action != ActionUpdate {
		return Outcome{Reason: "repository " + ev.Repo + " is not configured"}, nil
	}
	if gate == "" && ns == nil {
		created, err := s.kube.CoreV1().Namespaces().Create(ctx, NewNamespace(name, ev.Repo, ev.Number, ann, s.cfg.Preview), metav1.CreateOptions{})
		if err != nil {
			return Outcome{}, fmt.Errorf("create namespace %s: %w", name, err)
		}
		if cm != nil {
			err := cms.Delete(ctx, cm.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &cm.ResourceVersion}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return Outcome{}, fmt.Errorf("delete pending record %s: %w", cm.Name, err)
			}
		}
		return Outcome{Namespace: created.Name, Changed: true}, nil
	}
	if cm == nil {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.systemNamespace, Labels: map[string]string{}}}
		cm.Labels[preview.LabelPendingRecord] = "true"
		setRecordLabels(cm.Labels, ev.Repo, ev.Number, ann)
		cm.Annotations = ann
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return Outcome{}, fmt.Errorf("create pending record %s: %w", name, err)
		}
		return Outcome{Pending: name, Changed: true}, nil
	}
	updated := cm.DeepCopy()
	updated.Annotations = ann
	setRecordLabels(updated.Labels, ev.Repo, ev.Number, ann)
	if _, err := cms.Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return Outcome{}, fmt.Errorf("update pending record %s: %w", name, err)
	}
	return Outcome{Pending: name, Changed: true}, nil
}

// FindNamespace returns the PR's namespace (nil when there is none) and the name it has or would
// have. The readable name pr-{repo}-{n} is used unless another repository already holds it.
func FindNamespace(ctx context.Context, kube kubernetes.Interface, repo string, number int) (*corev1.Namespace, string, error) {
	for _, name := range []string{preview.NamespaceName(repo, number), preview.HashedNamespaceName(repo, number)} {
		ns, err := kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, name, nil
		}
		if err != nil {
			return nil, name, fmt.Errorf("get namespace %s: %w", name, err)
		}
		if owner := ns.Annotations[preview.AnnotationRepo]; owner == "" || strings.EqualFold(owner, repo) {
			if ns.Labels[preview.LabelManaged] != preview.ManagedTrue {
				return nil, name, fmt.Errorf("namespace %s exists and is not managed by Catalyst: %w", name, ErrNotOurs)
			}
			return ns, name, nil
		}
	}
	return nil, "", fmt.Errorf("namespaces for %s#%d are held by other repositories: %w", repo, number, ErrNotOurs)
}

// ErrNotOurs: the namespace a pull request would get exists and belongs to something else.
var ErrNotOurs = errors.New("namespace taken")

func setRecordLabels(labels map[string]string, repo string, number int, ann map[string]string) {
	labels[preview.LabelManaged] = preview.ManagedTrue
	labels[preview.LabelRepo] = preview.RepoLabelValue(repo)
	labels[preview.LabelPR] = strconv.Itoa(number)
	labels[preview.LabelEnvironment] = preview.EnvironmentPreview
	if sha := ann[preview.AnnotationHeadSHA]; sha != "" {
		labels[preview.LabelSHA] = sha
	}
}

// NewNamespace is the PR namespace object holding the record ann.
func NewNamespace(name, repo string, number int, ann map[string]string, p config.Preview) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}, Annotations: ann}}
	setRecordLabels(ns.Labels, repo, number, ann)
	for k, v := range podSecurityLabels(p) {
		ns.Labels[k] = v
	}
	host := preview.PreviewHost(repo, number, p.Domain)
	ann[preview.AnnotationPreviewHost] = host
	ann[preview.AnnotationPreviewURL] = p.URLScheme + "://" + host
	return ns
}

func podSecurityLabels(p config.Preview) map[string]string {
	return map[string]string{
		"pod-security.kubernetes.io/enforce": p.PodSecurity,
		"pod-security.kubernetes.io/warn":    "restricted",
		"pod-security.kubernetes.io/audit":   "restricted",
	}
}
