package githubapp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"
)

func TestListOpenPullRequestsReadsAllPages(t *testing.T) {
	f := setup(t)
	const total = 250
	f.mux.HandleFunc("GET /repos/o/r/pulls", func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, r.URL.Query().Get("state"), "open")
		lo, hi := paginate(w, r, total)
		var page []*github.PullRequest
		for i := lo; i < hi; i++ {
			page = append(page, &github.PullRequest{Number: github.Int(i + 1)})
		}
		writeJSON(t, w, http.StatusOK, page)
	})
	prs, err := f.adapter(1).ListOpenPullRequests(t.Context(), "o", "r")
	assert.NilError(t, err)
	assert.Equal(t, len(prs), total)
	assert.Equal(t, prs[total-1].GetNumber(), total)
	assert.Equal(t, f.count("GET /repos/o/r/pulls"), 3, "per_page=100 means three pages")
}

func TestCollaboratorPermission(t *testing.T) {
	tests := map[string]struct {
		answer http.HandlerFunc
		want   string
		err    string
	}{
		"admin": {
			answer: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(t, w, http.StatusOK, &github.RepositoryPermissionLevel{Permission: github.String("admin")})
			},
			want: "admin",
		},
		"unknown user is none":  {answer: status(t, http.StatusNotFound), want: "none"},
		"forbidden is an error": {answer: status(t, http.StatusForbidden), err: "403"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := setup(t)
			f.mux.HandleFunc("GET /repos/o/r/collaborators/alice/permission", tc.answer)
			got, err := f.adapter(1).CollaboratorPermission(t.Context(), "o", "r", "alice")
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				assert.Assert(t, !IsRetryable(err))
				return
			}
			assert.NilError(t, err)
			assert.Equal(t, got, tc.want)
		})
	}
}

func TestCheckRuns(t *testing.T) {
	f := setup(t)
	const sha = "abc123"
	var created github.CreateCheckRunOptions
	var updated github.UpdateCheckRunOptions
	f.mux.HandleFunc("POST /repos/o/r/check-runs", func(w http.ResponseWriter, r *http.Request) {
		assert.NilError(t, json.NewDecoder(r.Body).Decode(&created))
		writeJSON(t, w, http.StatusCreated, &github.CheckRun{ID: github.Int64(77), Name: &created.Name, HeadSHA: &created.HeadSHA,
			ExternalID: created.ExternalID, Status: created.Status})
	})
	f.mux.HandleFunc("PATCH /repos/o/r/check-runs/77", func(w http.ResponseWriter, r *http.Request) {
		assert.NilError(t, json.NewDecoder(r.Body).Decode(&updated))
		writeJSON(t, w, http.StatusOK, &github.CheckRun{ID: github.Int64(77), Status: updated.Status, Conclusion: updated.Conclusion})
	})
	f.mux.HandleFunc("GET /repos/o/r/commits/"+sha+"/check-runs", func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, r.URL.Query().Get("check_name"), "preview")
		const total = 130
		lo, hi := paginate(w, r, total)
		res := &github.ListCheckRunsResults{Total: github.Int(total)}
		for i := lo; i < hi; i++ {
			res.CheckRuns = append(res.CheckRuns, &github.CheckRun{ID: github.Int64(int64(i)), ExternalID: github.String(fmt.Sprint("pr-", i))})
		}
		writeJSON(t, w, http.StatusOK, res)
	})

	a := f.adapter(1)
	run, err := a.CreateCheckRun(t.Context(), "o", "r", github.CreateCheckRunOptions{
		Name: "preview", HeadSHA: sha, ExternalID: github.String("pr-7"), Status: github.String("queued"),
	})
	assert.NilError(t, err)
	assert.Equal(t, run.GetID(), int64(77))
	assert.Equal(t, created.GetExternalID(), "pr-7")

	run, err = a.UpdateCheckRun(t.Context(), "o", "r", 77, github.UpdateCheckRunOptions{
		Name: "preview", Status: github.String("completed"), Conclusion: github.String("success"),
	})
	assert.NilError(t, err)
	assert.Equal(t, run.GetConclusion(), "success")
	assert.Equal(t, updated.GetConclusion(), "success")

	runs, err := a.ListCheckRunsForRef(t.Context(), "o", "r", sha, CheckRunFilter{Name: "preview", ExternalID: "pr-120"})
	assert.NilError(t, err)
	assert.Equal(t, len(runs), 1, "external_id found on the second page")
	assert.Equal(t, runs[0].GetID(), int64(120))
	all, err := a.ListCheckRunsForRef(t.Context(), "o", "r", sha, CheckRunFilter{Name: "preview"})
	assert.NilError(t, err)
	assert.Equal(t, len(all), 130)
}
