package buildrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"

	"github.com/catalyst-preview/catalyst/preview"
)

// reconcileRun converges one CustomRun of the build custom task.
func (c *Controller) reconcileRun(ctx context.Context, namespace, name string) (time.Duration, error) {
	cached, err := c.customRuns.CustomRuns(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.queue.Add(key{Kind: keyCollect})
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get customrun %s/%s from cache: %w", namespace, name, err)
	}
	if !Ours(cached) {
		return 0, nil
	}
	log := c.Log.With(zap.String("namespace", namespace), zap.String("customrun", name),
		zap.String("repo", cached.Labels[preview.LabelRepo]), zap.String("pr", cached.Labels[preview.LabelPR]), zap.String("sha", cached.Labels[preview.LabelSHA]))
	bns := c.Config.Preview.BuildNamespace
	trName := TaskRunName(namespace, name)
	o := observed{Now: c.Now(), Run: cached}
	if tr, err := c.taskRuns.TaskRuns(bns).Get(trName); err == nil {
		o.TaskRun = tr
	} else if !apierrors.IsNotFound(err) {
		return 0, err
	}

	var creds *corev1.Secret
	if o.TaskRun == nil {
		if cached.IsDone() {
			return 0, nil // finished before a build existed (refused, cancelled early)
		}
		// Before handing out credentials, make sure this is a build the trigger asked for.
		refusal, mine, err := c.validate(ctx, cached)
		if err != nil {
			return 0, err
		}
		if !mine {
			// Another installation's repository (or a test's): not ours to judge.
			return 0, nil
		}
		o.Refusal = refusal
		if refusal == "" && !cached.IsCancelled() {
			creds, refusal, err = c.credentials(ctx, cached)
			if err != nil {
				return 0, err
			}
			o.Refusal = refusal
		}
	}

	p := planFor(o, bns)
	if p.DeleteTaskRun {
		uid := o.TaskRun.UID
		err := c.Tekton.TektonV1().TaskRuns(bns).Delete(ctx, trName, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return 0, fmt.Errorf("delete stale build %s/%s: %w", bns, trName, err)
		}
		log.Info("deleted build of an earlier customrun of the same name", zap.String("taskrun", trName))
		return p.RequeueAfter, nil
	}
	if p.Annotate != "" {
		// Before the TaskRun exists, so whoever finds the CustomRun can find its build.
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": cached.ResourceVersion,
			"annotations":     map[string]string{preview.AnnotationBuildTaskRun: p.Annotate},
		}})
		updated, err := c.Tekton.TektonV1beta1().CustomRuns(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return 0, nil // gone, or changed since the cache saw it: its update event brings it back
		}
		if err != nil {
			return 0, fmt.Errorf("annotate customrun %s/%s with its build: %w", namespace, name, err)
		}
		cached = updated
	}
	if p.CreateTaskRun {
		if err := c.provision(ctx, false); err != nil {
			return 0, err
		}
		if _, err := c.Kube.CoreV1().Secrets(bns).Create(ctx, creds, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return 0, fmt.Errorf("create build credentials %s/%s: %w", bns, creds.Name, err)
		}
		tr := taskRunFor(cached, bns, c.buildTask())
		if _, err := c.Tekton.TektonV1().TaskRuns(bns).Create(ctx, tr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return 0, fmt.Errorf("create build %s/%s: %w", bns, tr.Name, err)
		}
		log.Info("created build taskrun", zap.String("taskrun", tr.Name), zap.String("buildNamespace", bns))
	}
	if p.CancelTaskRun {
		patch := []byte(`{"spec":{"status":"` + string(pipelinev1.TaskRunSpecStatusCancelled) + `","statusMessage":"the CustomRun it builds for ended"}}`)
		_, err := c.Tekton.TektonV1().TaskRuns(bns).Patch(ctx, trName, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("cancel build %s/%s: %w", bns, trName, err)
		}
		log.Info("cancelled build taskrun", zap.String("taskrun", trName))
	}
	if p.Status != nil {
		updated := cached.DeepCopy()
		updated.Status = *p.Status
		if _, err := c.Tekton.TektonV1beta1().CustomRuns(namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				return 0, nil // gone, or changed since the cache saw it (Tekton writes it too): its update event brings it back
			}
			return 0, fmt.Errorf("update customrun %s/%s status: %w", namespace, name, err)
		}
		if cond := p.Status.GetCondition(apis.ConditionSucceeded); cond != nil && !cond.IsUnknown() {
			log.Info("build finished", zap.String("reason", cond.Reason), zap.Bool("succeeded", cond.IsTrue()))
		}
	}
	return p.RequeueAfter, nil
}

var hexSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// validate decides whether cr is a build of a configured repository's pull request that the
// trigger asked for: a CustomRun in a PR namespace the trigger manages, building that pull
// request's head clone URL into exactly the image name the trigger gives it. Anything else is
// refused with the reason, before a credential is copied. mine is false for namespaces of
// repositories this installation does not configure: they are left alone.
func (c *Controller) validate(ctx context.Context, cr *v1beta1.CustomRun) (refusal string, mine bool, err error) {
	ns, err := c.Kube.CoreV1().Namespaces().Get(ctx, cr.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get namespace %s: %w", cr.Namespace, err)
	}
	if ns.Labels[preview.LabelManaged] != preview.ManagedTrue {
		return fmt.Sprintf("namespace %s is not a Catalyst preview namespace: builds run only for the trigger's pipelines", cr.Namespace), true, nil
	}
	repo := ns.Annotations[preview.AnnotationRepo]
	if _, ok := c.Config.Repository(repo); !ok {
		return "", false, nil
	}
	number, _ := strconv.Atoi(ns.Labels[preview.LabelPR])
	param := func(name string) string {
		if p := cr.Spec.GetParam(name); p != nil {
			return p.Value.StringVal
		}
		return ""
	}
	rev := param("revision")
	if !hexSHA.MatchString(rev) {
		return fmt.Sprintf("param revision %q is not a 40-hex commit SHA", rev), true, nil
	}
	if want := preview.ImageRef(c.Config.Preview.Registry, repo, number, rev); param("image") != want {
		return fmt.Sprintf("param image %q is not the image of %s#%d at %s (%s): a build may only push its own pull request's image", param("image"), repo, number, rev[:12], want), true, nil
	}
	if want := ns.Annotations[preview.AnnotationCloneURL]; param("repo-url") != want {
		return fmt.Sprintf("param repo-url %q is not the pull request's head repository %q", param("repo-url"), want), true, nil
	}
	return "", true, nil
}

// credentials reads what the build needs: the PR namespace's git token (optional: public
// repositories fetch without one) and the registry push credential when one is configured.
func (c *Controller) credentials(ctx context.Context, cr *v1beta1.CustomRun) (*corev1.Secret, string, error) {
	var token, registry []byte
	s, err := c.Kube.CoreV1().Secrets(cr.Namespace).Get(ctx, preview.GitTokenSecret, metav1.GetOptions{})
	switch {
	case err == nil:
		token = s.Data["token"]
	case !apierrors.IsNotFound(err):
		return nil, "", fmt.Errorf("read git token of %s: %w", cr.Namespace, err)
	}
	p := c.Config.Preview
	if p.RegistryAuthSecret != "" {
		s, err := c.Kube.CoreV1().Secrets(p.SecretsNamespace).Get(ctx, p.RegistryAuthSecret, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, fmt.Sprintf("the registry credential %s/%s (preview.registryAuthSecret) does not exist", p.SecretsNamespace, p.RegistryAuthSecret), nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("read registry credential %s/%s: %w", p.SecretsNamespace, p.RegistryAuthSecret, err)
		}
		registry = s.Data[KeyRegistryAuth]
		if len(registry) == 0 {
			return nil, fmt.Sprintf("the registry credential %s/%s (preview.registryAuthSecret) has no %s key", p.SecretsNamespace, p.RegistryAuthSecret, KeyRegistryAuth), nil
		}
	}
	return credentialsSecret(cr, c.Config.Preview.BuildNamespace, token, registry), "", nil
}

func (c *Controller) deleteSecret(ctx context.Context, name string) error {
	err := c.Kube.CoreV1().Secrets(c.Config.Preview.BuildNamespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete build credentials %s/%s: %w", c.Config.Preview.BuildNamespace, name, err)
	}
	return nil
}

// orphanGrace: a credentials Secret is created just before its TaskRun; one without a TaskRun
// for this long was left by a reconcile that stopped in between.
const orphanGrace = 2 * time.Minute

// collect deletes builds whose CustomRun is gone (deleted with its PipelineRun or its PR
// namespace; ownerReferences cannot cross namespaces) and credentials whose build is gone.
// It reads only caches, so running it often costs nothing but the deletes.
func (c *Controller) collect(ctx context.Context) error {
	bns := c.Config.Preview.BuildNamespace
	sel := labels.SelectorFromSet(labels.Set{preview.LabelBuild: "true"})
	trs, err := c.taskRuns.TaskRuns(bns).List(sel)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, tr := range trs {
		ns, name := tr.Labels[preview.LabelRunNamespace], tr.Labels[preview.LabelCustomRun]
		cr, err := c.customRuns.CustomRuns(ns).Get(name)
		if err == nil && string(cr.UID) == tr.Labels[preview.LabelCustomRunUID] {
			live[tr.Name] = true
			continue
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		uid := tr.UID
		err = c.Tekton.TektonV1().TaskRuns(bns).Delete(ctx, tr.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete build %s/%s of a gone customrun: %w", bns, tr.Name, err)
		}
		c.Log.Info("deleted build of a gone customrun", zap.String("taskrun", tr.Name), zap.String("namespace", ns), zap.String("customrun", name))
	}
	secrets, err := c.secrets.Secrets(bns).List(sel)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		trName := TaskRunName(s.Labels[preview.LabelRunNamespace], s.Labels[preview.LabelCustomRun])
		if live[trName] || SecretName(trName) != s.Name {
			continue
		}
		if _, err := c.taskRuns.TaskRuns(bns).Get(trName); apierrors.IsNotFound(err) && c.Now().Sub(s.CreationTimestamp.Time) < orphanGrace {
			continue // its TaskRun is about to be created
		}
		if err := c.deleteSecret(ctx, s.Name); err != nil {
			return err
		}
		c.Log.Info("deleted build credentials no build needs", zap.String("secret", s.Name))
	}
	return nil
}

var resourceOf = map[string]schema.GroupVersionResource{
	"Namespace":      {Version: "v1", Resource: "namespaces"},
	"ServiceAccount": {Version: "v1", Resource: "serviceaccounts"},
	"NetworkPolicy":  {Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
	"Task":           {Group: "tekton.dev", Version: "v1", Resource: "tasks"},
}

// provision applies the builds namespace's objects when they changed (or, if periodic, when
// they were last applied ReprovisionEvery ago), and prunes the policies no longer configured.
func (c *Controller) provision(ctx context.Context, periodic bool) error {
	objs := namespaceObjects(c.Config.Preview, c.buildTask())
	h := sha256.New()
	for _, o := range objs {
		b, _ := json.Marshal(o)
		h.Write(b)
	}
	fp := hex.EncodeToString(h.Sum(nil))
	c.mu.Lock()
	fresh := c.provisioned == fp && (!periodic || c.Now().Sub(c.provisionAt) < c.ReprovisionEvery)
	c.mu.Unlock()
	if fresh {
		return nil
	}
	keep := map[string]bool{}
	for _, o := range objs {
		if err := c.apply(ctx, o); err != nil {
			return err
		}
		if m, ok := o.(metav1.Object); ok {
			keep[o.GetObjectKind().GroupVersionKind().Kind+"/"+m.GetName()] = true
		}
	}
	bns := c.Config.Preview.BuildNamespace
	policies, err := c.Kube.NetworkingV1().NetworkPolicies(bns).List(ctx, metav1.ListOptions{LabelSelector: preview.LabelBuild + "=true"})
	if err != nil {
		return fmt.Errorf("list policies of %s: %w", bns, err)
	}
	for _, np := range policies.Items {
		if keep["NetworkPolicy/"+np.Name] {
			continue
		}
		if err := c.Kube.NetworkingV1().NetworkPolicies(bns).Delete(ctx, np.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("prune policy %s/%s: %w", bns, np.Name, err)
		}
	}
	c.mu.Lock()
	c.provisioned, c.provisionAt = fp, c.Now()
	c.mu.Unlock()
	c.Log.Info("provisioned builds namespace", zap.String("namespace", bns), zap.Int("objects", len(objs)))
	return nil
}

func (c *Controller) apply(ctx context.Context, obj runtime.Object) error {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	m, ok := obj.(metav1.Object)
	if !ok {
		return fmt.Errorf("apply: %T has no object metadata", obj)
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", kind, m.GetName(), err)
	}
	force := true
	res := c.Dynamic.Resource(resourceOf[kind])
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
	if m.GetNamespace() != "" {
		_, err = res.Namespace(m.GetNamespace()).Patch(ctx, m.GetName(), types.ApplyPatchType, body, opts)
	} else {
		_, err = res.Patch(ctx, m.GetName(), types.ApplyPatchType, body, opts)
	}
	if err != nil {
		return fmt.Errorf("apply %s %s/%s: %w", kind, m.GetNamespace(), m.GetName(), err)
	}
	return nil
}
