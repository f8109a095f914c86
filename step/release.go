package step

import (
	"errors"
	"fmt"
	"regexp"
	"sort"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage/driver"
	"sigs.k8s.io/yaml"
)

// objectRef names one object of a release manifest.
type objectRef struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string // empty: the release namespace
	Source     string // the template that rendered it ("app/templates/web.yaml"), from Helm's "# Source:" line
}

func (o objectRef) String() string { return o.Kind + "/" + o.Name }

// manifestObjects lists the objects of a rendered release manifest, in manifest order.
func manifestObjects(manifest string) ([]objectRef, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var out []objectRef
	for _, k := range keys {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(docs[k]), &head); err != nil {
			return nil, fmt.Errorf("parse release manifest: %w", err)
		}
		if head.Kind == "" {
			continue
		}
		source := ""
		if m := sourceRE.FindStringSubmatch(docs[k]); m != nil {
			source = m[1]
		}
		out = append(out, objectRef{APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name, Namespace: head.Metadata.Namespace, Source: source})
	}
	return out, nil
}

var sourceRE = regexp.MustCompile(`(?m)^# Source: (\S+)`)

// ErrReleaseNotFound is returned when the namespace has no release of the given name.
var ErrReleaseNotFound = errors.New("release not found")

// currentRelease returns the newest revision of a release.
func currentRelease(cfg *action.Configuration, name string) (*release.Release, error) {
	rel, err := cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrReleaseNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read release %q: %w", name, err)
	}
	return rel, nil
}

// releaseObjects reads the release and returns the objects of its manifest.
func (r *Runner) releaseObjects(name string) ([]objectRef, error) {
	cfg, err := r.Kube.helm(r.Log)
	if err != nil {
		return nil, err
	}
	rel, err := currentRelease(cfg, name)
	if err != nil {
		return nil, err
	}
	return manifestObjects(rel.Manifest)
}

// workloadsOf keeps the objects whose availability the health check waits for.
func workloadsOf(objs []objectRef) []objectRef {
	var out []objectRef
	for _, o := range objs {
		if o.APIVersion == "apps/v1" && (o.Kind == "Deployment" || o.Kind == "StatefulSet") {
			out = append(out, o)
		}
	}
	return out
}
