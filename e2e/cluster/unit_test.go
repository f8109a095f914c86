package cluster

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"sigs.k8s.io/yaml"
)

// requireVersion returns the version of module in the go.mod at path.
func requireVersion(t *testing.T, path, module string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	assert.NilError(t, err)
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindSubmatch(data)
	assert.Assert(t, m != nil, "%s does not require %s", path, module)
	return string(m[1])
}

func TestToolVersionsMatchRootModule(t *testing.T) {
	root, err := RepoRoot()
	assert.NilError(t, err)
	tools := filepath.Join(root, "e2e", "tools")
	rootMod := filepath.Join(root, "go.mod")

	assert.Equal(t, requireVersion(t, filepath.Join(tools, "tekton", "go.mod"), "github.com/tektoncd/pipeline"), TektonVersion)
	assert.Equal(t, requireVersion(t, rootMod, "github.com/tektoncd/pipeline"), TektonVersion,
		"the harness must run the Tekton release the product compiles against")
	assert.Equal(t, requireVersion(t, filepath.Join(tools, "kubernetes", "go.mod"), "k8s.io/kubernetes"), KubernetesVersion)
	// client libraries v0.X.Y go with Kubernetes v1.X.Y
	assert.Equal(t, requireVersion(t, rootMod, "k8s.io/client-go"), "v0"+strings.TrimPrefix(KubernetesVersion, "v1"))
	assert.Equal(t, requireVersion(t, filepath.Join(tools, "kwok", "go.mod"), "sigs.k8s.io/kwok"), "v0.8.0")
	assert.Equal(t, requireVersion(t, filepath.Join(tools, "etcd", "go.mod"), "go.etcd.io/etcd/server/v3"), "v3.6.12")
}

func TestStagesParseAndUseEveryAnnotation(t *testing.T) {
	for name, data := range map[string][]byte{"node.yaml": nodeStages, "pod.yaml": podStages} {
		for i, doc := range bytes.Split(data, []byte("\n---\n")) {
			var stage struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			assert.NilError(t, yaml.Unmarshal(doc, &stage), "%s document %d", name, i)
			assert.Check(t, is.Equal(stage.Kind, "Stage"), "%s document %d", name, i)
			assert.Check(t, stage.Metadata.Name != "", "%s document %d", name, i)
		}
	}
	for _, key := range []string{AnnotationDelay, AnnotationFail, AnnotationFailReason, AnnotationResults,
		AnnotationHold, AnnotationEvict, AnnotationImagePullFailure} {
		// each key is read by a jq selector or a Go template, with the per-task key first
		jq := strings.Contains(string(podStages), `$a["`+key+`." + $t] // $a["`+key+`"]`)
		tpl := strings.Contains(string(podStages), `(print "`+key+`." $t)) (index $a "`+key+`")`)
		assert.Check(t, jq || tpl, "stages/pod.yaml does not read %s", key)
	}
}

func TestResultsMessage(t *testing.T) {
	assert.Equal(t, ResultsMessage(map[string]string{"url": "https://x.test", "digest": "sha256:1"}),
		`[{"key":"digest","value":"sha256:1","type":1},{"key":"url","value":"https://x.test","type":1}]`)
	assert.Equal(t, ResultsMessage(nil), `[]`)
	assert.Equal(t, ForTask(AnnotationFail, "deploy"), "e2e.catalyst.dev/fail.deploy")
}

func TestCRILog(t *testing.T) {
	ts := time.Date(2026, 11, 28, 20, 0, 0, 5, time.UTC)
	assert.Equal(t, string(criLog(ts, "one\ntwo\npartial")),
		"2026-11-28T20:00:00.000000005Z stdout F one\n"+
			"2026-11-28T20:00:00.000000005Z stdout F two\n"+
			"2026-11-28T20:00:00.000000005Z stdout P partial\n")
}

func TestKubeLDFlagsStampVersion(t *testing.T) {
	f := kubeLDFlags()
	for _, want := range []string{
		"-X k8s.io/component-base/version.gitVersion=" + KubernetesVersion,
		"-X k8s.io/component-base/version.gitMinor=37",
		"-X k8s.io/client-go/pkg/version.gitVersion=" + KubernetesVersion,
	} {
		assert.Check(t, is.Contains(f, want))
	}
}
