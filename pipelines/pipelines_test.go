package pipelines_test

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"

	"github.com/catalyst-preview/catalyst/pipelines"
	"github.com/catalyst-preview/catalyst/tasks"
)

func TestEveryFileIsOneValidPipeline(t *testing.T) {
	names, err := fs.Glob(pipelines.FS, "*.yaml")
	assert.NilError(t, err)
	assert.DeepEqual(t, names, []string{"cleanup.yaml", "preview.yaml"})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			data, err := pipelines.FS.ReadFile(name)
			assert.NilError(t, err)
			p, err := pipelines.Decode(data)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(p.Name, "catalyst-"+strings.TrimSuffix(name, ".yaml")))
			p.SetDefaults(t.Context())
			if ferr := p.Validate(t.Context()); ferr != nil {
				t.Fatalf("Tekton validation: %v", ferr)
			}
		})
	}
}

func TestDecodeRejectsUnknownFields(t *testing.T) {
	cases := map[string]struct {
		yaml string
		want string
	}{
		"unknown task field": {
			yaml: "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: x}\nspec:\n  tasks:\n  - name: a\n    taskref: {name: b}\n",
			want: `unknown field "spec.tasks[0].taskref"`,
		},
		"wrong api version": {
			yaml: "apiVersion: tekton.dev/v1beta1\nkind: Pipeline\nmetadata: {name: x}\nspec: {}\n",
			want: "apiVersion tekton.dev/v1",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := pipelines.Decode([]byte(tc.yaml))
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// The trigger passes these params by these names (issue 4's contract).
func TestPreviewParamsCoverTheContract(t *testing.T) {
	p, ok := pipelines.Get(pipelines.Preview)
	assert.Assert(t, ok)
	type want struct {
		required bool
		def      string
	}
	contract := map[string]want{
		pipelines.ParamRepoURL:      {required: true},
		pipelines.ParamRevision:     {required: true},
		pipelines.ParamPRNumber:     {required: true},
		pipelines.ParamImage:        {required: true},
		pipelines.ParamChartPath:    {required: true},
		pipelines.ParamValuesFile:   {def: ""},
		pipelines.ParamPreviewHost:  {required: true},
		pipelines.ParamHealthPath:   {def: "/healthz"},
		pipelines.ParamDockerfile:   {def: "Dockerfile"},
		pipelines.ParamContext:      {def: "."},
		pipelines.ParamURLScheme:    {def: "https"},
		pipelines.ParamStepImage:    {required: true},
		pipelines.ParamBuilderImage: {def: "docker.io/moby/buildkit:v0.23.2-rootless"},
		pipelines.ParamGitImage:     {def: "docker.io/alpine/git:2.49.1"},
		pipelines.ParamReleaseName:  {def: "preview"},
	}
	for name, w := range contract {
		ps := paramSpec(p.Spec.Params, name)
		if !assert.Check(t, ps != nil, "param %s missing", name) {
			continue
		}
		assert.Check(t, is.Equal(ps.Type, v1.ParamTypeString), name)
		if w.required {
			assert.Check(t, ps.Default == nil, "%s must have no default: the trigger always passes it", name)
			continue
		}
		if assert.Check(t, ps.Default != nil, "%s needs a default", name) {
			assert.Check(t, is.Equal(ps.Default.StringVal, w.def), name)
		}
	}
	// Every other param is optional.
	for _, ps := range p.Spec.Params {
		if _, ok := contract[ps.Name]; !ok {
			assert.Check(t, ps.Default != nil, "extra param %s must have a default", ps.Name)
		}
	}

	c, ok := pipelines.Get(pipelines.Cleanup)
	assert.Assert(t, ok)
	assert.Check(t, paramSpec(c.Spec.Params, pipelines.ParamReleaseName) != nil)
	assert.Check(t, paramSpec(c.Spec.Params, pipelines.ParamStepImage) != nil)
}

func TestTaskNamesOrderAndTimeouts(t *testing.T) {
	p, _ := pipelines.Get(pipelines.Preview)
	assert.DeepEqual(t, taskNames(p), []string{pipelines.TaskBuild, pipelines.TaskDeploy, pipelines.TaskHealthcheck})
	assert.DeepEqual(t, pipelineTask(p, pipelines.TaskDeploy).RunAfter, []string{pipelines.TaskBuild})
	assert.DeepEqual(t, pipelineTask(p, pipelines.TaskHealthcheck).RunAfter, []string{pipelines.TaskDeploy})
	c, _ := pipelines.Get(pipelines.Cleanup)
	assert.DeepEqual(t, taskNames(c), []string{pipelines.TaskCleanup})

	refs := map[string]string{pipelines.TaskBuild: tasks.Build, pipelines.TaskDeploy: tasks.Deploy,
		pipelines.TaskHealthcheck: tasks.Healthcheck, pipelines.TaskCleanup: tasks.Cleanup}
	for _, pl := range pipelines.All() {
		var total time.Duration
		for _, pt := range pl.Spec.Tasks {
			name, ok := pipelines.TaskOf(pt)
			assert.Check(t, ok && name == refs[pt.Name], "%s/%s references %v", pl.Name, pt.Name, pt.TaskRef)
			assert.Check(t, pt.Timeout != nil && pt.Timeout.Duration > 0, "%s/%s needs a timeout", pl.Name, pt.Name)
			if pt.Timeout != nil {
				total += pt.Timeout.Duration
			}
		}
		assert.Check(t, total <= time.Hour, "%s: task timeouts add up to %s, above Tekton's default 1h pipeline timeout", pl.Name, total)
	}
}

// Every taskRef names a Task in tasks/, every Task in tasks/ is used, the params a pipeline task
// passes are the ones its Task declares, and the Task's required params are all passed.
func TestTaskRefsResolveAndParamsMatch(t *testing.T) {
	used := map[string]bool{}
	for _, p := range pipelines.All() {
		for _, pt := range p.Spec.Tasks {
			t.Run(p.Name+"/"+pt.Name, func(t *testing.T) {
				name, _ := pipelines.TaskOf(pt)
				task, ok := tasks.Get(name)
				assert.Assert(t, ok, "taskRef %v has no file in tasks/", pt.TaskRef)
				used[task.Name] = true
				passed := map[string]bool{}
				for _, param := range pt.Params {
					passed[param.Name] = true
					assert.Check(t, paramSpec(task.Spec.Params, param.Name) != nil, "param %s is not declared by %s", param.Name, task.Name)
				}
				for _, ps := range task.Spec.Params {
					if ps.Default == nil {
						assert.Check(t, passed[ps.Name], "required param %s of %s is not passed", ps.Name, task.Name)
					}
				}
			})
		}
	}
	for _, task := range tasks.All() {
		assert.Check(t, used[task.Name], "task %s is referenced by no pipeline", task.Name)
	}
}

var (
	paramRefRE  = regexp.MustCompile(`\$\(params\.([^)\[]+)(\[\*\])?\)`)
	resultRefRE = regexp.MustCompile(`\$\(tasks\.([^.)]+)\.results\.([^.)\[]+)\)`)
)

func TestReferencesResolve(t *testing.T) {
	for _, name := range []string{"preview.yaml", "cleanup.yaml"} {
		t.Run(name, func(t *testing.T) {
			data, err := pipelines.FS.ReadFile(name)
			assert.NilError(t, err)
			p, err := pipelines.Decode(data)
			assert.NilError(t, err)
			declared := p.Spec.Params.GetNames()
			used := map[string]bool{}
			for _, m := range paramRefRE.FindAllStringSubmatch(string(data), -1) {
				used[m[1]] = true
				assert.Check(t, slices.Contains(declared, m[1]), "$(params.%s) is not declared", m[1])
			}
			for _, d := range declared {
				assert.Check(t, used[d], "param %s is declared but never used", d)
			}
			for _, m := range resultRefRE.FindAllStringSubmatch(string(data), -1) {
				pt := pipelineTask(p, m[1])
				if !assert.Check(t, pt != nil, "%s: no pipeline task %s", m[0], m[1]) {
					continue
				}
				name, _ := pipelines.TaskOf(*pt)
				task, _ := tasks.Get(name)
				assert.Check(t, hasResult(task, m[2]), "%s: task %s declares no result %s", m[0], task.Name, m[2])
			}
		})
	}
}

func TestPreviewResults(t *testing.T) {
	p, _ := pipelines.Get(pipelines.Preview)
	want := map[string]string{
		pipelines.ResultURL:             "$(tasks.deploy.results.url)",
		pipelines.ResultImageDigest:     "$(tasks.build.results.image-digest)",
		pipelines.ResultReleaseRevision: "$(tasks.deploy.results.release-revision)",
	}
	got := map[string]string{}
	for _, r := range p.Spec.Results {
		got[r.Name] = r.Value.StringVal
	}
	assert.DeepEqual(t, got, want)
}

// The contract as the trigger and reporter see it; `make update-golden` rewrites it.
func TestContractGolden(t *testing.T) {
	var b strings.Builder
	for _, p := range pipelines.All() {
		fmt.Fprintf(&b, "Pipeline %s\n  params:\n", p.Name)
		for _, ps := range p.Spec.Params {
			def := "(required)"
			if ps.Default != nil {
				def = fmt.Sprintf("default %q", ps.Default.StringVal)
			}
			fmt.Fprintf(&b, "    %-18s %s\n", ps.Name, def)
		}
		fmt.Fprintf(&b, "  tasks:\n")
		for _, pt := range p.Spec.Tasks {
			ref := pt.TaskRef.Name
			if pt.TaskRef.APIVersion != "" {
				name, _ := pipelines.TaskOf(pt)
				ref = pt.TaskRef.APIVersion + "/" + string(pt.TaskRef.Kind) + " (runs " + name + ")"
			}
			fmt.Fprintf(&b, "    %-12s taskRef %-22s timeout %-6s runAfter %v\n", pt.Name, ref, pt.Timeout.Duration, pt.RunAfter)
		}
		if len(p.Spec.Results) > 0 {
			fmt.Fprintf(&b, "  results:\n")
		}
		for _, r := range p.Spec.Results {
			fmt.Fprintf(&b, "    %-18s %s\n", r.Name, r.Value.StringVal)
		}
	}
	for _, task := range tasks.All() {
		fmt.Fprintf(&b, "Task %s\n  params:\n", task.Name)
		for _, ps := range task.Spec.Params {
			def := "(required)"
			if ps.Default != nil {
				def = fmt.Sprintf("default %q", ps.Default.StringVal)
			}
			fmt.Fprintf(&b, "    %-18s %s\n", ps.Name, def)
		}
		var results []string
		for _, r := range task.Spec.Results {
			results = append(results, r.Name)
		}
		sort.Strings(results)
		fmt.Fprintf(&b, "  results: %v\n  steps:\n", results)
		for _, s := range task.Spec.Steps {
			fmt.Fprintf(&b, "    %-12s image %-24s timeout %s\n", s.Name, s.Image, s.Timeout.Duration)
		}
	}
	golden.Assert(t, b.String(), "contract.golden")
}

func paramSpec(specs v1.ParamSpecs, name string) *v1.ParamSpec {
	for i := range specs {
		if specs[i].Name == name {
			return &specs[i]
		}
	}
	return nil
}

func taskNames(p *v1.Pipeline) []string {
	var out []string
	for _, pt := range p.Spec.Tasks {
		out = append(out, pt.Name)
	}
	return out
}

func pipelineTask(p *v1.Pipeline, name string) *v1.PipelineTask {
	for i := range p.Spec.Tasks {
		if p.Spec.Tasks[i].Name == name {
			return &p.Spec.Tasks[i]
		}
	}
	return nil
}

func hasResult(task *v1.Task, name string) bool {
	for _, r := range task.Spec.Results {
		if r.Name == name {
			return true
		}
	}
	return false
}
