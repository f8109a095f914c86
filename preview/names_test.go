package preview

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestNamespaceName(t *testing.T) {
	tests := map[string]struct {
		repo string
		pr   int
		want string
	}{
		"readable":           {repo: "acme/shop", pr: 42, want: "pr-shop-42"},
		"upper case":         {repo: "Acme/Shop", pr: 7, want: "pr-shop-7"},
		"dashes kept":        {repo: "acme/web-frontend", pr: 1, want: "pr-web-frontend-1"},
		"dots get a hash":    {repo: "acme/my.site", pr: 3, want: "pr-my-site-" + stableHash("acme/my.site") + "-3"},
		"underscores hashed": {repo: "acme/my_site", pr: 3, want: "pr-my-site-" + stableHash("acme/my_site") + "-3"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, NamespaceName(tc.repo, tc.pr), tc.want)
		})
	}
}

// Property: over many generated repository names, every namespace name is a valid DNS-1123
// label of at most 63 characters, and no two repositories share one.
func TestNamespaceNameProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._"
	randomName := func(max int) string {
		n := 1 + rng.IntN(max)
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	// Hand-picked adversarial names: collisions after rewriting, long names sharing a prefix.
	repos := []string{"acme/my.site", "acme/my_site", "acme/my-site", "acme/MY-SITE", "acme/--", "acme/...", "acme/_",
		"acme/" + strings.Repeat("a", 100), "acme/" + strings.Repeat("a", 99) + "b", "other/shop", "acme/shop", "acme/9lives"}
	for range 20000 {
		repos = append(repos, randomName(39)+"/"+randomName(100))
	}
	readable := map[string]string{} // readable name -> repo (lower-case full name)
	hashed := map[string]string{}
	for _, repo := range repos {
		for _, pr := range []int{1, 42, 99999} {
			for kind, name := range map[string]string{"readable": NamespaceName(repo, pr), "hashed": HashedNamespaceName(repo, pr)} {
				assert.Check(t, is.Len(validation.IsDNS1123Label(name), 0), "%s name %q of %s#%d", kind, name, repo, pr)
				assert.Check(t, len(name) <= 63)
				assert.Check(t, strings.HasPrefix(name, "pr-") && strings.HasSuffix(name, fmt.Sprintf("-%d", pr)), name)
			}
			key := strings.ToLower(repo)
			// Hashed names never collide across repositories.
			if prev, ok := hashed[HashedNamespaceName(repo, pr)]; ok && prev != key {
				t.Fatalf("hashed name %s shared by %s and %s", HashedNamespaceName(repo, pr), prev, key)
			}
			hashed[HashedNamespaceName(repo, pr)] = key
			// Readable names collide only between owners of the same clean repository name,
			// which the trigger resolves by falling back to the hashed name.
			r := NamespaceName(repo, pr)
			if prev, ok := readable[r]; ok && prev != key {
				_, a := SplitRepo(prev)
				_, b := SplitRepo(key)
				assert.Check(t, a == b, "readable name %s shared by %s and %s", r, prev, key)
			}
			readable[r] = key
		}
	}
}

func TestRepoLabelValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	seen := map[string]string{}
	for i := range 5000 {
		repo := fmt.Sprintf("owner%d/%s", rng.IntN(50), strings.Repeat("x", rng.IntN(120))+fmt.Sprint(i%97))
		v := RepoLabelValue(repo)
		assert.Check(t, is.Len(validation.IsValidLabelValue(v), 0), "%q", v)
		if prev, ok := seen[v]; ok && prev != strings.ToLower(repo) {
			t.Fatalf("label %s shared by %s and %s", v, prev, repo)
		}
		seen[v] = strings.ToLower(repo)
	}
	assert.Equal(t, RepoLabelValue("acme/shop"), "acme.shop")
}

func TestPipelineRunName(t *testing.T) {
	assert.Equal(t, PipelineRunName(KindDeploy, "4F1C2D3E5A6B7C8D9E0F", 2), "deploy-4f1c2d3e5a6b-2")
	assert.Equal(t, PipelineRunName(KindCleanup, "4f1c2d3e5a6b7c8d9e0f", 1), "cleanup-4f1c2d3e5a6b")
	assert.Equal(t, PreviewHost("acme/shop", 42, "preview.example.com"), "42-shop.preview.example.com")
}
