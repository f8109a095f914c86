package trigger

import (
	"strings"
	"testing"

	"gotest.tools/v3/golden"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
)

// The PipelineRun and the namespace contents the trigger writes, as YAML a reviewer can read.
// Run `make update-golden` after an intended change.
func TestGoldenObjects(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) {
		c.Preview.AuxiliaryNamespaces = []string{"registry"}
		c.Preview.PipelineRunAnnotations = map[string]string{"cost-center": "previews"}
	})
	repoCfg, _ := cfg.Repository("acme/shop")
	ann := map[string]string{}
	_, _ = applyEvent(ann, Event{Type: "pull_request", Action: ActionUpdate, Repo: "acme/shop", Number: 42, InstallationID: 4242,
		PR: &PRState{HeadSHA: sha1, State: "open", CloneURL: "https://github.com/acme/shop.git", Author: "alice", AuthorAssociation: "MEMBER", UpdatedAt: testNow}}, testNow)
	ns := newNamespace("pr-shop-42", "acme/shop", 42, ann, cfg.Preview)
	rec := recordOf(ns.Name, ns.Labels, ns.Annotations)

	var docs []string
	add := func(o any) {
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	add(deployRun(rec, newRun{SHA: sha1, Attempt: 1, Cause: preview.CauseEvent}, cfg.Preview, repoCfg, true, testNow))
	add(cleanupRun(rec, cfg.Preview))
	for _, o := range desiredChildren(ns.Name, cfg.Preview, repoCfg, sources{}).Objects {
		add(o)
	}
	golden.Assert(t, strings.Join(docs, "---\n"), "objects.golden.yaml")
}
