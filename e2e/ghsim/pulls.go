package ghsim

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"

	"github.com/google/go-github/v62/github"
)

func (s *Sim) listPulls(w http.ResponseWriter, r *http.Request, c *request) {
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "open"
	}
	var prs []*github.PullRequest
	for _, pr := range c.repo.pulls {
		if state == "all" || pr.GetState() == state {
			prs = append(prs, pr)
		}
	}
	// GitHub's default order: newest first.
	desc := r.URL.Query().Get("direction") != "asc"
	slices.SortFunc(prs, func(a, b *github.PullRequest) int {
		if desc {
			return cmp.Compare(b.GetNumber(), a.GetNumber())
		}
		return cmp.Compare(a.GetNumber(), b.GetNumber())
	})
	lo, hi := s.paginate(w, r, len(prs))
	writeJSON(w, http.StatusOK, prs[lo:hi])
}

func (s *Sim) getPull(w http.ResponseWriter, r *http.Request, c *request) {
	n, err := strconv.Atoi(c.params["pull_number"])
	pr := c.repo.pulls[n]
	if err != nil || pr == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, pr)
}

func (s *Sim) getPermission(w http.ResponseWriter, r *http.Request, c *request) {
	login := c.params["username"]
	perm := c.repo.collaborators[login]
	if perm == "" {
		perm = "read" // anyone can read a public repository
	}
	// role_name is in GitHub's answer though go-github v62 does not model it.
	out := struct {
		*github.RepositoryPermissionLevel
		RoleName string `json:"role_name"`
	}{&github.RepositoryPermissionLevel{Permission: github.String(perm), User: s.userLocked(login)}, perm}
	writeJSON(w, http.StatusOK, out)
}
