package tasks_test

import (
	"encoding/pem"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/catalyst-preview/catalyst/step"
	"github.com/catalyst-preview/catalyst/tasks"
)

// Limits of the default LimitRange of a preview namespace.
var (
	maxCPU    = resource.MustParse("4")
	maxMemory = resource.MustParse("8Gi")
)

func files(t *testing.T) map[string][]byte {
	t.Helper()
	names, err := fs.Glob(tasks.FS, "*.yaml")
	assert.NilError(t, err)
	out := map[string][]byte{}
	for _, n := range names {
		data, err := tasks.FS.ReadFile(n)
		assert.NilError(t, err)
		out[n] = data
	}
	return out
}

func TestEveryFileIsOneValidTask(t *testing.T) {
	for name, data := range files(t) {
		t.Run(name, func(t *testing.T) {
			task, err := tasks.Decode(data)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(name, strings.TrimPrefix(task.Name, "catalyst-")+".yaml"), "one task per file, named after it")
			task.SetDefaults(t.Context())
			if ferr := task.Validate(t.Context()); ferr != nil {
				t.Fatalf("Tekton validation: %v", ferr)
			}
		})
	}
	assert.Equal(t, len(tasks.All()), len(files(t)))
}

func TestDecodeRejectsUnknownFields(t *testing.T) {
	cases := map[string]struct {
		yaml string
		want string
	}{
		"unknown spec field": {
			yaml: "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: x}\nspec:\n  stepz: []\n",
			want: `unknown field "stepz"`,
		},
		"unknown step field": {
			yaml: "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: x}\nspec:\n  steps:\n  - name: a\n    image: b\n    scripts: c\n",
			want: `unknown field "scripts"`,
		},
		"field in the wrong case": {
			yaml: "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: x}\nspec:\n  steps:\n  - name: a\n    image: b\n    computeresources: {}\n",
			want: `unknown field "spec.steps[0].computeresources"`,
		},
		"duplicate field": {
			yaml: "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: x}\nspec:\n  steps:\n  - name: a\n    image: b\n    image: c\n",
			want: `"image" already set`,
		},
		"wrong kind": {
			yaml: "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: x}\nspec: {}\n",
			want: "kind Task",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := tasks.Decode([]byte(tc.yaml))
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

var paramRefRE = regexp.MustCompile(`\$\(params\.([^)\[]+)(\[\*\])?\)`)

func TestParamReferencesAreDeclared(t *testing.T) {
	for name, data := range files(t) {
		t.Run(name, func(t *testing.T) {
			task, err := tasks.Decode(data)
			assert.NilError(t, err)
			declared := task.Spec.Params.GetNames()
			used := map[string]bool{}
			for _, m := range paramRefRE.FindAllStringSubmatch(string(data), -1) {
				used[m[1]] = true
				assert.Check(t, slices.Contains(declared, m[1]), "$(params.%s) is not declared", m[1])
			}
			for _, p := range declared {
				assert.Check(t, used[p], "param %s is declared but never used", p)
			}
		})
	}
}

// Params reach scripts through env, never by substitution into the script text, where a
// crafted value (a branch name, a path from the repository's config) would become shell code.
func TestScriptsTakeParamsFromEnv(t *testing.T) {
	for _, task := range tasks.All() {
		for _, s := range task.Spec.Steps {
			assert.Check(t, !strings.Contains(s.Script, "$(params."), "%s step %s substitutes a param into its script", task.Name, s.Name)
		}
	}
}

func TestDeclaredResultsAreWritten(t *testing.T) {
	for _, task := range tasks.All() {
		t.Run(task.Name, func(t *testing.T) {
			written := map[string]bool{}
			for _, s := range task.Spec.Steps {
				for _, r := range task.Spec.Results {
					if strings.Contains(s.Script, fmt.Sprintf("$(results.%s.path)", r.Name)) {
						written[r.Name] = true
					}
				}
				if len(s.Args) > 0 && slices.Contains(s.Args, "--results-dir="+step.DefaultResultsDir) {
					for _, r := range step.SubcommandResults[s.Args[0]] {
						written[r] = true
					}
				}
			}
			for _, r := range task.Spec.Results {
				assert.Check(t, written[r.Name], "result %s is declared but no step writes it", r.Name)
			}
		})
	}
}

// Every step running the step image passes flags that preview-step accepts, and they validate
// once the params are substituted with realistic values.
func TestStepImageArgsParse(t *testing.T) {
	values := map[string]string{
		"context.taskRun.namespace":       "pr-web-1",
		"params.release-name":             "preview",
		"params.chart-path":               "charts/example-app",
		"params.values-file":              "",
		"params.image":                    "registry.local:5000/acme/web:pr-1-0123456789ab",
		"params.image-digest":             "sha256:" + strings.Repeat("a", 64),
		"params.values-overlay":           `{"ingress":{"enabled":true,"hosts":[{"host":"${preview.host}","paths":[{"path":"/","pathType":"Prefix"}]}]},"image":{"tag":"${image.pinnedTag}"}}`,
		"params.dependency-build":         "true",
		"params.pr-number":                "1",
		"params.ca-bundle":                testCA(t),
		"params.insecure-skip-tls-verify": "false",
		"params.preview-host":             "1-web.preview.example.com",
		"params.url-scheme":               "https",
		"params.ingress-class":            "",
		"params.deploy-timeout":           "10m",
		"params.revision":                 strings.Repeat("0123456789", 4),
		"params.url":                      "https://1-web.preview.example.com",
		"params.health-path":              "/healthz",
		"params.connect-to":               "",
		"params.health-timeout":           "5m",
		"params.cleanup-timeout":          "5m",
	}
	ref := regexp.MustCompile(`\$\(([^)]+)\)`)
	n := 0
	for _, task := range tasks.All() {
		for _, s := range task.Spec.Steps {
			if s.Image != "$(params.step-image)" {
				continue
			}
			n++
			// Once with realistic values, once with every param that has a default at it.
			for _, variant := range []string{"values", "defaults"} {
				t.Run(task.Name+"/"+s.Name+"/"+variant, func(t *testing.T) {
					assert.Assert(t, len(s.Args) > 0)
					assert.Check(t, is.DeepEqual(s.Command, []string{"preview-step"}))
					sub, err := step.NewSubcommand(s.Args[0])
					assert.NilError(t, err)
					fs := pflag.NewFlagSet(s.Args[0], pflag.ContinueOnError)
					sub.AddFlags(fs)
					var args []string
					for _, a := range s.Args[1:] {
						args = append(args, ref.ReplaceAllStringFunc(a, func(m string) string {
							key := m[2 : len(m)-1]
							if name, ok := strings.CutPrefix(key, "params."); ok && variant == "defaults" {
								for _, p := range task.Spec.Params {
									if p.Name == name && p.Default != nil {
										return p.Default.StringVal
									}
								}
							}
							v, ok := values[key]
							assert.Check(t, ok, "no test value for %s", m)
							return v
						}))
					}
					assert.NilError(t, fs.Parse(args))
					assert.Check(t, is.Len(fs.Args(), 0))
					assert.NilError(t, sub.Validate())
				})
			}
		}
	}
	assert.Equal(t, n, 3, "deploy, healthcheck and cleanup run the step image")
}

// testCA is the PEM certificate of a throwaway TLS server.
func testCA(t *testing.T) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

func TestStepsFitTheLimitRange(t *testing.T) {
	for _, task := range tasks.All() {
		for _, s := range task.Spec.Steps {
			t.Run(task.Name+"/"+s.Name, func(t *testing.T) {
				r := s.ComputeResources
				for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					req, okReq := r.Requests[res]
					lim, okLim := r.Limits[res]
					assert.Assert(t, okReq && okLim, "%s request and limit must be set", res)
					assert.Check(t, req.Cmp(lim) <= 0, "%s request %s above limit %s", res, req.String(), lim.String())
				}
				assert.Check(t, r.Limits.Cpu().Cmp(maxCPU) <= 0, "cpu limit above the LimitRange max")
				assert.Check(t, r.Limits.Memory().Cmp(maxMemory) <= 0, "memory limit above the LimitRange max")
			})
		}
	}
}

func TestStepsRunAsNonRootWithATimeout(t *testing.T) {
	for _, task := range tasks.All() {
		for _, s := range task.Spec.Steps {
			t.Run(task.Name+"/"+s.Name, func(t *testing.T) {
				sc := s.SecurityContext
				assert.Assert(t, sc != nil)
				assert.Check(t, sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)
				assert.Check(t, sc.RunAsUser != nil && *sc.RunAsUser != 0)
				assert.Check(t, s.Timeout != nil && s.Timeout.Duration > 0, "step needs a timeout")
				// Without command or script Tekton asks the registry for the image's entrypoint.
				assert.Check(t, len(s.Command) > 0 || s.Script != "", "step needs command or script")
			})
		}
	}
}

// The two fetch steps are one script kept in two Tasks (the trigger copies Tasks only, so no
// StepAction); the git token comes from the optional Secret, never from a param.
func TestFetchIsIdenticalAndTokenComesFromTheSecret(t *testing.T) {
	var scripts []string
	for _, name := range []string{tasks.Build, tasks.Deploy} {
		task, ok := tasks.Get(name)
		assert.Assert(t, ok)
		fetch := stepNamed(task, "fetch")
		assert.Assert(t, fetch != nil, "%s has no fetch step", name)
		assert.Check(t, is.Equal(task.Spec.Steps[0].Name, "fetch"), "fetch runs first")
		scripts = append(scripts, fetch.Script)

		var vol *corev1.Volume
		for i := range task.Spec.Volumes {
			if task.Spec.Volumes[i].Name == "git-token" {
				vol = &task.Spec.Volumes[i]
			}
		}
		assert.Assert(t, vol != nil && vol.Secret != nil)
		want := "catalyst-git-token" // the PR namespace's token
		if name == tasks.Build {
			want = "$(params.credentials-secret)" // the build's own copy in the builds namespace
		}
		assert.Check(t, is.Equal(vol.Secret.SecretName, want))
		assert.Check(t, vol.Secret.Optional != nil && *vol.Secret.Optional, "public repositories have no token")
		for _, p := range task.Spec.Params {
			assert.Check(t, !strings.Contains(p.Name, "token"), "param %s: tokens never travel as params", p.Name)
		}
		for _, v := range task.Spec.Volumes {
			assert.Check(t, v.PersistentVolumeClaim == nil, "no PVCs in preview namespaces")
		}
		assert.Check(t, is.Len(task.Spec.Workspaces, 0), "tasks fetch their own source")
	}
	assert.Equal(t, scripts[0], scripts[1])
}

func stepNamed(task *v1.Task, name string) *v1.Step {
	for i := range task.Spec.Steps {
		if task.Spec.Steps[i].Name == name {
			return &task.Spec.Steps[i]
		}
	}
	return nil
}
