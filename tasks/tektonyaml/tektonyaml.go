// Package tektonyaml decodes the project's embedded Tekton YAML strictly and keeps it as a
// catalog by name; the pipelines and tasks packages are catalogs of it.
package tektonyaml

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Decode strictly decodes one object of the given apiVersion and kind: unknown fields,
// differently-cased field names and duplicate keys are errors, and the object must be named.
func Decode[T any](data []byte, apiVersion, kind string, typeOf func(*T) metav1.TypeMeta, nameOf func(*T) string) (*T, error) {
	var obj T
	if err := yaml.UnmarshalStrict(data, &obj); err != nil {
		return nil, err
	}
	if err := caseSensitiveStrict(data, new(T)); err != nil {
		return nil, err
	}
	if tm := typeOf(&obj); tm.APIVersion != apiVersion || tm.Kind != kind {
		return nil, fmt.Errorf("want apiVersion %s kind %s, got %s %s", apiVersion, kind, tm.APIVersion, tm.Kind)
	}
	if nameOf(&obj) == "" {
		return nil, fmt.Errorf("%s has no metadata.name", kind)
	}
	return &obj, nil
}

// Load decodes every *.yaml file of fsys with decode, by name; dir only names files in errors.
func Load[T any](fsys fs.FS, dir string, decode func([]byte) (*T, error), nameOf func(*T) string) (map[string]*T, error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	out := map[string]*T{}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		obj, err := decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", dir, f, err)
		}
		name := nameOf(obj)
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s/%s: a second object named %q", dir, f, name)
		}
		out[name] = obj
	}
	return out, nil
}

// Sorted returns copies of the catalog's objects, sorted by name.
func Sorted[T any](m map[string]*T, deepCopy func(*T) *T) []*T {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*T, 0, len(m))
	for _, n := range names {
		out = append(out, deepCopy(m[n]))
	}
	return out
}

// caseSensitiveStrict catches what yaml.UnmarshalStrict lets through: encoding/json matches
// field names case-insensitively, so "taskref" would silently fill taskRef. The API server
// would drop such a field; here it is an error.
func caseSensitiveStrict(data []byte, into any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, into)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}
