package trigger

import (
	"encoding/json"
	"strings"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/pipelines"
	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/trigger/netpol"
	"github.com/catalyst-preview/catalyst/trigger/record"
)

// The PipelineRun and the namespace contents the trigger writes, as YAML a reviewer can read.
// Run `make update-golden` after an intended change.
func TestGoldenObjects(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) {
		c.Preview.AuxiliaryNamespaces = []string{"registry"}
		c.Preview.PipelineRunAnnotations = map[string]string{"cost-center": "previews"}
		c.Preview.Egress.Git = []config.EgressTarget{{CIDR: "140.82.112.0/20", Ports: []string{"443"}}}
	})
	repoCfg, _ := cfg.Repository("acme/shop")
	ann := map[string]string{}
	_, _ = record.Apply(ann, record.Event{Type: "pull_request", Action: record.ActionUpdate, Repo: "acme/shop", Number: 42, InstallationID: 4242,
		PR: &record.PRState{HeadSHA: sha1, State: "open", CloneURL: "https://github.com/acme/shop.git", Author: "alice", AuthorAssociation: "MEMBER", UpdatedAt: testNow}}, testNow)
	ns := record.NewNamespace("pr-shop-42", "acme/shop", 42, ann, cfg.Preview)
	rec := record.Of(ns.Name, ns.Labels, ns.Annotations)

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
	src := sources{
		APIServer: netpol.APIServerTargets([]string{"10.0.0.1"}, 443, []string{"192.168.1.10"}, 6443),
		Secrets: []*corev1.Secret{{
			ObjectMeta: metav1.ObjectMeta{Name: "shop-db", Namespace: "catalyst-secrets", UID: "6b1f0c4e-1d2c-4c57-9d0e-3f1a2b3c4d5e", ResourceVersion: "4711"},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"password": []byte("hunter2")},
		}},
	}
	for _, o := range desiredChildren(ns.Name, cfg.Preview, repoCfg, src).Objects {
		add(o)
	}
	golden.Assert(t, strings.Join(docs, "---\n"), "objects.golden.yaml")
}

// Every parameter the trigger passes is declared by the pipeline it runs (Tekton would refuse
// the run otherwise), and every required one is passed.
func TestParamsMatchThePipelines(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) {
		c.Preview.BuilderImage, c.Preview.GitImage, c.Preview.HealthConnectTo = "b", "g", "ingress:80"
		c.Preview.HealthCABundle = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"
		c.Repositories[0].Values = map[string]any{"ingress": map[string]any{"host": "${preview.host}"}}
		c.Repositories[0].DependencyBuild = true
	})
	repoCfg, _ := cfg.Repository("acme/shop")
	rec := prRecord{Name: "pr-shop-42", Repo: "acme/shop", Number: 42, Ann: map[string]string{}}
	for _, run := range []*pipelinev1.PipelineRun{
		deployRun(rec, newRun{SHA: sha1, Attempt: 1}, cfg.Preview, repoCfg, false, testNow),
		cleanupRun(rec, cfg.Preview),
	} {
		pl, ok := pipelines.Get(run.Spec.PipelineRef.Name)
		assert.Assert(t, ok, "pipeline %s is embedded", run.Spec.PipelineRef.Name)
		declared := map[string]bool{}
		for _, p := range pl.Spec.Params {
			declared[p.Name] = true
		}
		passed := map[string]bool{}
		for _, p := range run.Spec.Params {
			assert.Check(t, declared[p.Name], "%s passes %q, which %s does not declare", run.Name, p.Name, pl.Name)
			passed[p.Name] = true
		}
		for _, p := range pl.Spec.Params {
			if p.Default == nil {
				assert.Check(t, passed[p.Name], "%s does not pass required param %q", run.Name, p.Name)
			}
		}
	}
}

// The repository's overlay reaches the deploy task as JSON that decodes to the configured tree,
// placeholders untouched (the step renders them with the run's facts, the digest included);
// the health CA bundle and the skip-verify opt-in reach the health check.
func TestDeployRunPassesOverlayAndHealthTLS(t *testing.T) {
	overlay := map[string]any{
		"ingress": map[string]any{"enabled": true, "hosts": []any{map[string]any{"host": "${preview.host}", "paths": []any{map[string]any{"path": "/", "pathType": "Prefix"}}}}},
		"image":   map[string]any{"tag": "${image.pinnedTag}", "note": "a<b & c>d"},
	}
	params := func(mutate func(*config.Config)) map[string]string {
		cfg := testConfig(t, mutate)
		repoCfg, _ := cfg.Repository("acme/shop")
		rec := prRecord{Name: "pr-shop-42", Repo: "acme/shop", Number: 42, Ann: map[string]string{}}
		out := map[string]string{}
		for _, p := range deployRun(rec, newRun{SHA: sha1, Attempt: 1}, cfg.Preview, repoCfg, false, testNow).Spec.Params {
			out[p.Name] = p.Value.StringVal
		}
		return out
	}
	got := params(func(c *config.Config) {
		c.Repositories[0].Values = overlay
		c.Repositories[0].DependencyBuild = true
		c.Preview.HealthCABundle = "PEM"
	})
	var decoded map[string]any
	assert.NilError(t, json.Unmarshal([]byte(got[pipelines.ParamValuesOverlay]), &decoded))
	assert.DeepEqual(t, decoded, overlay)
	assert.Check(t, strings.Contains(got[pipelines.ParamValuesOverlay], `"a<b & c>d"`), "readable in the PipelineRun: %s", got[pipelines.ParamValuesOverlay])
	assert.Equal(t, got[pipelines.ParamDependencyBuild], "true")
	assert.Equal(t, got[pipelines.ParamHealthCABundle], "PEM")
	_, skip := got[pipelines.ParamHealthInsecureSkipVerify]
	assert.Check(t, !skip)

	// Unset, nothing is passed: the pipeline's defaults (the default overlay, no CA) apply.
	got = params(func(c *config.Config) { c.Preview.HealthInsecureSkipVerify = true })
	for _, p := range []string{pipelines.ParamValuesOverlay, pipelines.ParamDependencyBuild, pipelines.ParamHealthCABundle} {
		_, ok := got[p]
		assert.Check(t, !ok, "%s passed", p)
	}
	assert.Equal(t, got[pipelines.ParamHealthInsecureSkipVerify], "true")
}
