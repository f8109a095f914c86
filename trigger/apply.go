package trigger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
)

// applyConcurrency bounds the concurrent applies of one namespace's children.
const applyConcurrency = 8

// FieldManager owns the fields the trigger applies; kubectl shows it in managedFields.
const FieldManager = "catalyst-trigger"

var resourceOf = map[string]schema.GroupVersionResource{
	"ResourceQuota":  {Version: "v1", Resource: "resourcequotas"},
	"LimitRange":     {Version: "v1", Resource: "limitranges"},
	"ServiceAccount": {Version: "v1", Resource: "serviceaccounts"},
	"Secret":         {Version: "v1", Resource: "secrets"},
	"NetworkPolicy":  {Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
	"Role":           {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	"RoleBinding":    {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	"Pipeline":       {Group: "tekton.dev", Version: "v1", Resource: "pipelines"},
	"Task":           {Group: "tekton.dev", Version: "v1", Resource: "tasks"},
}

// provision applies the namespace's desired contents when they changed (or on a slow period, to
// repair hand edits), and records the fingerprint so quiet reconciles write nothing.
func (c *Controller) provision(ctx context.Context, rec prRecord, repoCfg config.Repository, meta map[string]*string, log *zap.Logger) error {
	src := c.sources(repoCfg)
	for _, m := range src.Missing {
		log.Warn("configured source missing; not copied", zap.String("source", m))
	}
	desired := desiredChildren(rec.Name, c.Config.Preview, repoCfg, src)
	fp := desired.fingerprint()
	at, err := time.Parse(time.RFC3339, rec.Ann[preview.AnnotationProvisionedAt])
	if err == nil && rec.Ann[preview.AnnotationProvisionedHash] == fp && c.Now().Sub(at) < c.ReprovisionEvery {
		return nil
	}
	// The children do not depend on each other (references resolve when used), so they are
	// applied concurrently: provisioning costs about one round trip instead of seventeen.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(applyConcurrency)
	for _, obj := range desired.Objects {
		g.Go(func() error { return c.apply(gctx, obj) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := c.prune(ctx, rec.Name, desired, log); err != nil {
		return err
	}
	now := c.Now().UTC().Format(time.RFC3339)
	meta[preview.AnnotationProvisionedHash] = &fp
	meta[preview.AnnotationProvisionedAt] = &now
	log.Info("provisioned preview namespace", zap.Int("objects", len(desired.Objects)), zap.String("fingerprint", fp))
	return nil
}

// prune deletes what the trigger applied into the namespace before and no longer wants: the
// copy of a secret removed from the repository's configuration, the auxiliary or git policy of
// a target removed from it, a Pipeline or Task no longer referenced. Everything the trigger
// writes carries the managed label; the git token Secret is kept by name (ensureGitToken owns it).
func (c *Controller) prune(ctx context.Context, namespace string, desired children, log *zap.Logger) error {
	keep := map[string]bool{"Secret/" + preview.GitTokenSecret: true}
	for _, o := range desired.Objects {
		if m, err := metaOf(o); err == nil {
			keep[o.GetObjectKind().GroupVersionKind().Kind+"/"+m.GetName()] = true
		}
	}
	selector := preview.LabelManaged + "=" + preview.ManagedTrue
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(applyConcurrency)
	for kind, gvr := range resourceOf {
		g.Go(func() error {
			res := c.Dynamic.Resource(gvr).Namespace(namespace)
			list, err := res.List(gctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return fmt.Errorf("list %s of %s to prune: %w", gvr.Resource, namespace, err)
			}
			for _, item := range list.Items {
				if keep[kind+"/"+item.GetName()] {
					continue
				}
				uid := item.GetUID()
				err := res.Delete(gctx, item.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
				if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
					return fmt.Errorf("prune %s %s/%s: %w", kind, namespace, item.GetName(), err)
				}
				log.Info("pruned object no longer configured", zap.String("kind", kind), zap.String("name", item.GetName()))
			}
			return nil
		})
	}
	return g.Wait()
}

// sources reads the Pipelines, Tasks and Secrets to copy from the informer caches.
func (c *Controller) sources(repoCfg config.Repository) sources {
	var src sources
	p := c.Config.Preview
	src.APIServer = c.apiServer.targets()
	names := []string{p.DeployPipeline}
	if p.CleanupPipeline != nil && *p.CleanupPipeline != "" {
		names = append(names, *p.CleanupPipeline)
	}
	taskSeen := map[string]bool{}
	for _, name := range names {
		pl, err := c.pipelines.Pipelines(p.PipelineNamespace).Get(name)
		if err != nil {
			src.Missing = append(src.Missing, "pipeline "+p.PipelineNamespace+"/"+name)
			continue
		}
		src.Pipelines = append(src.Pipelines, pl)
		for _, pt := range append(append([]pipelinev1.PipelineTask{}, pl.Spec.Tasks...), pl.Spec.Finally...) {
			ref := pt.TaskRef
			if ref == nil || ref.Name == "" || (ref.Kind != "" && ref.Kind != pipelinev1.NamespacedTaskKind) || taskSeen[ref.Name] {
				continue
			}
			taskSeen[ref.Name] = true
			t, err := c.tasks.Tasks(p.PipelineNamespace).Get(ref.Name)
			if err != nil {
				src.Missing = append(src.Missing, "task "+p.PipelineNamespace+"/"+ref.Name)
				continue
			}
			src.Tasks = append(src.Tasks, t)
		}
	}
	for _, name := range repoCfg.Secrets {
		s, err := c.secrets.Secrets(p.SecretsNamespace).Get(name)
		if err != nil {
			src.Missing = append(src.Missing, "secret "+p.SecretsNamespace+"/"+name)
			continue
		}
		src.Secrets = append(src.Secrets, s)
	}
	return src
}

// apply server-side applies one object. Copied secrets are immutable, so a changed source is
// applied by deleting and recreating the copy.
func (c *Controller) apply(ctx context.Context, obj runtime.Object) error {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	gvr, ok := resourceOf[kind]
	if !ok {
		return fmt.Errorf("apply: no resource known for kind %q", kind)
	}
	m, err := metaOf(obj)
	if err != nil {
		return err
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", kind, m.GetName(), err)
	}
	res := c.Dynamic.Resource(gvr).Namespace(m.GetNamespace())
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptrTo(true)}
	_, err = res.Patch(ctx, m.GetName(), types.ApplyPatchType, body, opts)
	if apierrors.IsInvalid(err) && kind == "Secret" {
		if derr := res.Delete(ctx, m.GetName(), metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) {
			return fmt.Errorf("replace immutable secret %s/%s: %w", m.GetNamespace(), m.GetName(), derr)
		}
		_, err = res.Patch(ctx, m.GetName(), types.ApplyPatchType, body, opts)
	}
	if err != nil {
		return fmt.Errorf("apply %s %s/%s: %w", kind, m.GetNamespace(), m.GetName(), err)
	}
	return nil
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("apply: %T has no object metadata", obj)
	}
	return m, nil
}

// applySecret writes a Secret the trigger owns outright (not a copy).
func (c *Controller) applySecret(ctx context.Context, namespace, name string, data map[string][]byte) error {
	return c.apply(ctx, &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{preview.LabelManaged: preview.ManagedTrue}},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	})
}
