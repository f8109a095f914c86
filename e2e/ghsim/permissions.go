package ghsim

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/google/go-github/v62/github"
)

// appPermissions are the simulated App's permissions, as its installations grant them.
func appPermissions() *github.InstallationPermissions {
	return &github.InstallationPermissions{
		Checks: github.String("write"), Issues: github.String("write"),
		PullRequests: github.String("read"), Contents: github.String("read"), Metadata: github.String("read"),
	}
}

// permissionSet is a token's permissions by name ("checks" → "write").
type permissionSet map[string]string

// permissionsOf reads every permission set in p, by its JSON name.
func permissionsOf(p *github.InstallationPermissions) permissionSet {
	out := permissionSet{}
	raw, err := json.Marshal(p)
	if err == nil {
		_ = json.Unmarshal(raw, &out)
	}
	return out
}

func (p permissionSet) api() *github.InstallationPermissions {
	get := func(name string) *string {
		if v, ok := p[name]; ok {
			return github.String(v)
		}
		return nil
	}
	return &github.InstallationPermissions{
		Checks: get("checks"), Issues: get("issues"), PullRequests: get("pull_requests"),
		Contents: get("contents"), Metadata: get("metadata"),
	}
}

// restrict returns the permissions a token asked for, or ok=false when it asked for more than
// the installation has (GitHub answers 422). Metadata read comes with every token.
func (p permissionSet) restrict(requested *github.InstallationPermissions) (permissionSet, bool) {
	if requested == nil {
		return p, true
	}
	out := permissionSet{"metadata": "read"}
	for name, level := range permissionsOf(requested) {
		if rank(level) == 0 || rank(level) > rank(p[name]) {
			return nil, false
		}
		out[name] = level
	}
	return out, true
}

// allows: need is "name:level", alternatives separated by "|" (issue comments on a pull
// request accept issues or pull_requests).
func (p permissionSet) allows(need string) bool {
	if need == "" {
		return true
	}
	for _, alt := range strings.Split(need, "|") {
		name, level, _ := strings.Cut(alt, ":")
		if rank(p[name]) >= rank(level) {
			return true
		}
	}
	return false
}

func rank(level string) int {
	switch level {
	case "read":
		return 1
	case "write":
		return 2
	}
	return 0
}

// forbiddenByPermissions is GitHub's answer to a token without the route's permission.
func forbiddenByPermissions(w http.ResponseWriter) {
	writeJSON(w, http.StatusForbidden, errorBody{
		Message:          "Resource not accessible by integration",
		DocumentationURL: "https://docs.github.com/rest",
	})
}
