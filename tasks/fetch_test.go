package tasks_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/catalyst-preview/catalyst/tasks"
)

// gitRepo makes a repository with two commits; the second one is reachable only from
// refs/pull/7/head, like a pull request head on GitHub. It returns the repo and both SHAs.
func gitRepo(t *testing.T) (dir, mainSHA, prSHA string) {
	t.Helper()
	dir = t.TempDir()
	g := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.test"}, args...)...)
		out, err := cmd.CombinedOutput()
		assert.NilError(t, err, string(out))
		return strings.TrimSpace(string(out))
	}
	g("init", "-q", "-b", "main")
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	g("add", ".")
	g("commit", "-q", "-m", "main")
	mainSHA = g("rev-parse", "HEAD")
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "pr.txt"), []byte("change\n"), 0o644))
	g("add", ".")
	g("commit", "-q", "-m", "pr")
	prSHA = g("rev-parse", "HEAD")
	g("update-ref", "refs/pull/7/head", prSHA)
	g("reset", "-q", "--hard", mainSHA)
	return dir, mainSHA, prSHA
}

// The fetch step's script, run with sh against a local repository (paths moved to a temp dir).
func TestFetchScript(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	task, ok := tasks.Get(tasks.Deploy)
	assert.Assert(t, ok)
	script := stepNamed(task, "fetch").Script
	repo, mainSHA, prSHA := gitRepo(t)
	const token = "ghs_not-a-real-token-0123456789"
	cases := map[string]struct {
		revision string
		token    bool
		wantErr  string
		wantOut  string
		wantFile string
	}{
		"main commit":           {revision: mainSHA, wantOut: "fetched file://"},
		"pull request head":     {revision: prSHA, wantFile: "pr.txt"},
		"with a token":          {revision: mainSHA, token: true},
		"not a SHA":             {revision: "main", wantErr: "is not a 40-hex commit SHA"},
		"short SHA":             {revision: mainSHA[:12], wantErr: "is not a 40-hex commit SHA"},
		"unknown commit":        {revision: strings.Repeat("0", 40), wantErr: "is not in file://"},
		"shell in the revision": {revision: "$(touch /tmp/pwned)", wantErr: "is not a 40-hex commit SHA"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			src, tokenDir := filepath.Join(tmp, "source"), filepath.Join(tmp, "git")
			assert.NilError(t, os.MkdirAll(tokenDir, 0o755))
			if tc.token {
				assert.NilError(t, os.WriteFile(filepath.Join(tokenDir, "token"), []byte(token), 0o444))
			}
			s := strings.ReplaceAll(script, "/workspace/source", src)
			s = strings.ReplaceAll(s, "/var/run/catalyst/git", tokenDir)
			cmd := exec.Command("sh", "-c", s)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmp, "REPO_URL=file://" + repo, "REVISION=" + tc.revision, "PR_NUMBER=7",
				"GIT_CONFIG_NOSYSTEM=1"}
			out, err := cmd.CombinedOutput()
			assert.Check(t, !strings.Contains(string(out), token), "token in the log")
			if tc.wantErr != "" {
				assert.Check(t, err != nil)
				assert.Check(t, is.Contains(string(out), tc.wantErr))
				return
			}
			assert.NilError(t, err, string(out))
			head, err := exec.Command("git", "-C", src, "rev-parse", "HEAD").Output()
			assert.NilError(t, err)
			assert.Check(t, is.Equal(strings.TrimSpace(string(head)), tc.revision))
			assert.Check(t, is.Contains(string(out), tc.wantOut))
			if tc.wantFile != "" {
				_, err := os.Stat(filepath.Join(src, tc.wantFile))
				assert.Check(t, err)
			}
			if tc.token {
				// git gets the token from the helper, which reads the mounted file.
				fill := exec.Command("git", "-C", src, "credential", "fill")
				fill.Env = cmd.Env
				fill.Stdin = strings.NewReader("protocol=https\nhost=github.com\n\n")
				cred, err := fill.Output()
				assert.NilError(t, err)
				assert.Check(t, is.Contains(string(cred), "username=x-access-token\npassword="+token+"\n"))
				cfg, err := os.ReadFile(filepath.Join(src, ".git", "config"))
				assert.NilError(t, err)
				assert.Check(t, !strings.Contains(string(cfg), token), "token written to .git/config")
			}
		})
	}
}
