// Package tektonyaml keeps the project's embedded Tekton YAML as catalogs by name, decoded
// strictly; the pipelines and tasks packages are catalogs of it.
package tektonyaml

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Object is a Tekton type such as v1.Pipeline or v1.Task, through its pointer.
type Object[T any] interface {
	*T
	GetName() string
	GetObjectKind() schema.ObjectKind
	DeepCopy() *T
}

// Catalog holds every object of one kind embedded in a folder, one per *.yaml file.
type Catalog[T any, P Object[T]] struct {
	dir        string
	apiVersion string
	kind       string
	load       func() (map[string]*T, error)
}

// NewCatalog reads fsys lazily, once; dir only names files in errors.
func NewCatalog[T any, P Object[T]](fsys fs.FS, dir, apiVersion, kind string) *Catalog[T, P] {
	c := &Catalog[T, P]{dir: dir, apiVersion: apiVersion, kind: kind}
	c.load = sync.OnceValues(func() (map[string]*T, error) { return c.loadAll(fsys) })
	return c
}

// Decode strictly decodes one object: unknown fields, differently-cased field names and
// duplicate keys are errors, and the object must be of the catalog's kind and named.
func (c *Catalog[T, P]) Decode(data []byte) (*T, error) {
	var obj T
	if err := yaml.UnmarshalStrict(data, &obj); err != nil {
		return nil, err
	}
	if err := caseSensitiveStrict(data, new(T)); err != nil {
		return nil, err
	}
	gvk := P(&obj).GetObjectKind().GroupVersionKind()
	if gvk.GroupVersion().String() != c.apiVersion || gvk.Kind != c.kind {
		return nil, fmt.Errorf("want apiVersion %s kind %s, got %s %s", c.apiVersion, c.kind, gvk.GroupVersion(), gvk.Kind)
	}
	if P(&obj).GetName() == "" {
		return nil, fmt.Errorf("%s has no metadata.name", c.kind)
	}
	return &obj, nil
}

// All returns copies of every object, sorted by name. The embedded YAML is checked by the
// packages' tests, so a decode error here is a build defect and panics.
func (c *Catalog[T, P]) All() []*T {
	m := c.mustLoad()
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*T, 0, len(m))
	for _, n := range names {
		out = append(out, P(m[n]).DeepCopy())
	}
	return out
}

// Get returns a copy of the object named name.
func (c *Catalog[T, P]) Get(name string) (*T, bool) {
	obj, ok := c.mustLoad()[name]
	if !ok {
		return nil, false
	}
	return P(obj).DeepCopy(), true
}

func (c *Catalog[T, P]) mustLoad() map[string]*T {
	m, err := c.load()
	if err != nil {
		panic(err)
	}
	return m
}

func (c *Catalog[T, P]) loadAll(fsys fs.FS) (map[string]*T, error) {
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
		obj, err := c.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", c.dir, f, err)
		}
		name := P(obj).GetName()
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s/%s: a second %s named %q", c.dir, f, c.kind, name)
		}
		out[name] = obj
	}
	return out, nil
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
