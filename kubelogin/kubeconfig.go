package kubelogin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ExecAPIVersion is the exec credential API kubectl and the plugin speak.
const ExecAPIVersion = "client.authentication.k8s.io/v1"

// KubeconfigOptions say where and how `previewctl login` records the user.
type KubeconfigOptions struct {
	// Path of the kubeconfig file to change; clientcmd's default ($KUBECONFIG's first file, else
	// ~/.kube/config) when empty.
	Path string
	// User is the kubeconfig user entry to write ("oidc" when empty). An existing entry of that
	// name is replaced; nothing else in the file is.
	User string
	// Cluster the new context points at; the current context's cluster when empty. No context
	// is written when there is neither (the user entry alone is still useful with --user).
	Cluster string
	// Context is the name of the context written and made current; "<user>@<cluster>" when
	// empty. Its namespace is the current context's.
	Context string
	// Command is the exec plugin, previewctl's own executable when empty; Args come before the
	// token flags ("token" when nil). Env is passed to it.
	Command string
	Args    []string
	Env     map[string]string
}

// WriteKubeconfig records p as a kubeconfig user whose credentials come from the exec plugin
// `previewctl token` (which reads the token cache), adds a context for it and makes it
// current. It returns the context's name ("" when none was written). The file's other entries
// are kept; a new file is readable by its owner only.
func WriteKubeconfig(p Provider, o KubeconfigOptions) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	path := o.Path
	if path == "" {
		path = rules.GetDefaultFilename()
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if errors.Is(err, os.ErrNotExist) {
		cfg, err = clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return "", fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if o.User == "" {
		o.User = "oidc"
	}
	if o.Command == "" {
		if o.Command, err = os.Executable(); err != nil {
			return "", fmt.Errorf("kubeconfig: the path of previewctl for the exec plugin: %w", err)
		}
	}
	if o.Args == nil {
		o.Args = []string{"token"}
	}
	exec := &clientcmdapi.ExecConfig{
		APIVersion:      ExecAPIVersion,
		Command:         o.Command,
		Args:            append(append([]string{}, o.Args...), p.Flags()...),
		InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
		InstallHint:     "previewctl signs you in with your identity provider: see the README's \"Signing in\" section.",
	}
	for _, k := range sortedKeys(o.Env) {
		exec.Env = append(exec.Env, clientcmdapi.ExecEnvVar{Name: k, Value: o.Env[k]})
	}
	cfg.AuthInfos[o.User] = &clientcmdapi.AuthInfo{Exec: exec}

	namespace := ""
	if cur := cfg.Contexts[cfg.CurrentContext]; cur != nil {
		if o.Cluster == "" {
			o.Cluster = cur.Cluster
		}
		namespace = cur.Namespace
	}
	name := ""
	if o.Cluster != "" {
		if _, ok := cfg.Clusters[o.Cluster]; !ok {
			return "", fmt.Errorf("kubeconfig %s has no cluster %q", path, o.Cluster)
		}
		name = o.Context
		if name == "" {
			name = o.User + "@" + o.Cluster
		}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: o.Cluster, AuthInfo: o.User, Namespace: namespace}
		cfg.CurrentContext = name
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return name, nil
}
