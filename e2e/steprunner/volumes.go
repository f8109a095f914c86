package steprunner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// volume is one pod volume as a local folder.
type volume struct {
	dir string
	// token is set for a volume holding a ServiceAccount token (the kube-api-access-* volume
	// every pod gets unless automountServiceAccountToken is false): the token file's name.
	token string
}

// volumes materialises the pod's volumes as local folders, as the kubelet mounts them:
// emptyDirs empty; Secrets, ConfigMaps and downward API files written; a projected
// ServiceAccount token requested from the TokenRequest API for the pod's ServiceAccount and
// bound to the pod. Other kinds (PVCs, hostPath) are empty folders.
func (r *Runner) volumes(ctx context.Context, pod *corev1.Pod, dir string) (map[string]volume, error) {
	out := map[string]volume{}
	for _, v := range pod.Spec.Volumes {
		vd := filepath.Join(dir, "volumes", v.Name)
		if err := os.MkdirAll(vd, 0o755); err != nil {
			return nil, err
		}
		vol := volume{dir: vd}
		var err error
		switch {
		case v.Secret != nil:
			err = r.secretFiles(ctx, pod.Namespace, vd, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional)
		case v.ConfigMap != nil:
			err = r.configMapFiles(ctx, pod.Namespace, vd, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional)
		case v.DownwardAPI != nil:
			err = downwardFiles(pod, vd, v.DownwardAPI.Items)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				switch {
				case src.Secret != nil:
					err = r.secretFiles(ctx, pod.Namespace, vd, src.Secret.Name, src.Secret.Items, src.Secret.Optional)
				case src.ConfigMap != nil:
					err = r.configMapFiles(ctx, pod.Namespace, vd, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
				case src.DownwardAPI != nil:
					err = downwardFiles(pod, vd, src.DownwardAPI.Items)
				case src.ServiceAccountToken != nil:
					err = r.tokenFile(ctx, pod, filepath.Join(vd, src.ServiceAccountToken.Path), src.ServiceAccountToken)
					vol.token = src.ServiceAccountToken.Path
				}
				if err != nil {
					break
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		out[v.Name] = vol
	}
	return out, nil
}

func (r *Runner) secretFiles(ctx context.Context, ns, dir, name string, items []corev1.KeyToPath, optional *bool) error {
	s, err := r.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil
	}
	if err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	return writeItems(dir, data, items)
}

func (r *Runner) configMapFiles(ctx context.Context, ns, dir, name string, items []corev1.KeyToPath, optional *bool) error {
	cm, err := r.kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil
	}
	if err != nil {
		return fmt.Errorf("configmap %s: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return writeItems(dir, data, items)
}

func writeItems(dir string, data map[string][]byte, items []corev1.KeyToPath) error {
	if len(items) == 0 {
		for k := range data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("no key %s", it.Key)
		}
		if err := writeFile(filepath.Join(dir, it.Path), v); err != nil {
			return err
		}
	}
	return nil
}

func downwardFiles(pod *corev1.Pod, dir string, items []corev1.DownwardAPIVolumeFile) error {
	for _, it := range items {
		if it.FieldRef == nil {
			continue // resourceFieldRef: no limits to report here
		}
		v, err := fieldValue(pod, it.FieldRef.FieldPath)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, it.Path), []byte(v)); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// tokenFile asks the TokenRequest API for a token of the pod's ServiceAccount, bound to the
// pod (it stops working when the pod is deleted), as the kubelet does for a projected token.
func (r *Runner) tokenFile(ctx context.Context, pod *corev1.Pod, path string, src *corev1.ServiceAccountTokenProjection) error {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tok, err := r.kube.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for serviceaccount %s/%s: %w", pod.Namespace, sa, err)
	}
	return writeFile(path, []byte(tok.Status.Token))
}

// kubeconfig writes, for a step that mounts a ServiceAccount token volume, a kubeconfig that
// uses exactly what an in-cluster client reads from that volume (token, ca.crt, namespace).
// In a pod, client-go reads them from /var/run/secrets/kubernetes.io/serviceaccount, a fixed
// path a local process cannot have; $KUBECONFIG pointing at this file is the same identity.
func (r *Runner) kubeconfig(path, tokenDir, tokenFile string) error {
	ns, _ := os.ReadFile(filepath.Join(tokenDir, "namespace"))
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["in-cluster"] = &clientcmdapi.Cluster{Server: r.server, CertificateAuthority: filepath.Join(tokenDir, "ca.crt")}
	cfg.AuthInfos["serviceaccount"] = &clientcmdapi.AuthInfo{TokenFile: filepath.Join(tokenDir, tokenFile)}
	cfg.Contexts["in-cluster"] = &clientcmdapi.Context{Cluster: "in-cluster", AuthInfo: "serviceaccount", Namespace: strings.TrimSpace(string(ns))}
	cfg.CurrentContext = "in-cluster"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}
