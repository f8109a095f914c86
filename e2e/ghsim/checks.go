package ghsim

import (
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"slices"

	"github.com/google/go-github/v62/github"
)

var (
	validStatus     = []string{"queued", "in_progress", "completed", "waiting", "requested", "pending"}
	validConclusion = []string{"action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out"}
	shaPattern      = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// suiteLocked returns the App's check suite of a commit, creating it.
func (s *Sim) suiteLocked(r *repoRec, sha string) *github.CheckSuite {
	if cs, ok := r.suites[sha]; ok {
		return cs
	}
	id := s.newIDLocked()
	now := &github.Timestamp{Time: s.now().UTC()}
	cs := &github.CheckSuite{
		ID: github.Int64(id), NodeID: github.String(fmt.Sprintf("CS_%d", id)), HeadSHA: github.String(sha),
		URL:       github.String(s.apiURL("/repos/%s/check-suites/%d", r.fullName(), id)),
		Status:    github.String("queued"),
		CreatedAt: now, UpdatedAt: now,
		App: s.appRefLocked(),
	}
	for _, pr := range r.pulls {
		if pr.GetHead().GetSHA() == sha {
			cs.HeadBranch = github.String(pr.GetHead().GetRef())
		}
	}
	r.suites[sha] = cs
	return cs
}

func (s *Sim) appRefLocked() *github.App {
	return &github.App{ID: github.Int64(s.opts.AppID), Slug: github.String(s.opts.AppSlug), Name: github.String(s.opts.AppSlug)}
}

// prRefsLocked lists the open PRs whose head is sha, in the short form
// GitHub embeds in check runs and suites.
func (s *Sim) prRefsLocked(r *repoRec, sha string) []*github.PullRequest {
	var out []*github.PullRequest
	for _, pr := range r.pulls {
		if pr.GetState() == "open" && pr.GetHead().GetSHA() == sha {
			out = append(out, &github.PullRequest{
				ID: pr.ID, Number: pr.Number, URL: pr.URL,
				Head: &github.PullRequestBranch{Ref: pr.Head.Ref, SHA: pr.Head.SHA},
				Base: &github.PullRequestBranch{Ref: pr.Base.Ref, SHA: pr.Base.SHA},
			})
		}
	}
	slices.SortFunc(out, func(a, b *github.PullRequest) int { return cmp.Compare(a.GetNumber(), b.GetNumber()) })
	return out
}

// MaxCheckRunOutput is the largest check run output summary or text GitHub
// accepts: its docs say 65535 characters, its check counts bytes.
const MaxCheckRunOutput = 65535

func checkOutput(w http.ResponseWriter, o *github.CheckRunOutput) bool {
	if o == nil {
		return true
	}
	if o.GetTitle() == "" {
		invalid(w, "CheckRun", "output.title", "missing_field")
		return false
	}
	if o.GetSummary() == "" {
		invalid(w, "CheckRun", "output.summary", "missing_field")
		return false
	}
	// GitHub takes at most 50 annotations per request, each with a path, start and end
	// lines, a level and a message.
	if len(o.Annotations) > 50 {
		invalid(w, "CheckRun", "output.annotations", "too_many")
		return false
	}
	for _, a := range o.Annotations {
		if a.GetPath() == "" || a.StartLine == nil || a.EndLine == nil || a.GetMessage() == "" ||
			!slices.Contains([]string{"notice", "warning", "failure"}, a.GetAnnotationLevel()) {
			invalid(w, "CheckRun", "output.annotations", "invalid")
			return false
		}
	}
	for field, v := range map[string]string{"summary": o.GetSummary(), "text": o.GetText()} {
		if len(v) > MaxCheckRunOutput {
			tooLong(w, "CheckRun", field, "custom", fmt.Sprintf("%s exceeds a maximum bytesize of %d", field, MaxCheckRunOutput))
			return false
		}
	}
	return true
}

// keepAnnotations stores a request's annotations apart, as GitHub does: they add to the
// run's (never replace), and the run shows only their count.
func keepAnnotations(r *repoRec, run *github.CheckRun, o *github.CheckRunOutput) {
	if o == nil {
		return
	}
	if r.annotations == nil {
		r.annotations = map[int64][]*github.CheckRunAnnotation{}
	}
	r.annotations[run.GetID()] = append(r.annotations[run.GetID()], o.Annotations...)
	o.AnnotationsCount = github.Int(len(r.annotations[run.GetID()]))
	o.Annotations = nil // stored apart on GitHub; not returned
}

func (s *Sim) createCheckRun(w http.ResponseWriter, r *http.Request, c *request) {
	var in github.CreateCheckRunOptions
	if !decodeBody(w, r, &in) {
		return
	}
	switch {
	case in.Name == "":
		invalid(w, "CheckRun", "name", "missing_field")
		return
	case in.HeadSHA == "":
		invalid(w, "CheckRun", "head_sha", "missing_field")
		return
	case in.Status != nil && !slices.Contains(validStatus, in.GetStatus()):
		invalid(w, "CheckRun", "status", "invalid")
		return
	case in.Conclusion != nil && !slices.Contains(validConclusion, in.GetConclusion()):
		invalid(w, "CheckRun", "conclusion", "invalid")
		return
	case in.GetStatus() == "completed" && in.Conclusion == nil:
		invalid(w, "CheckRun", "conclusion", "missing_field")
		return
	}
	if !checkOutput(w, in.Output) {
		return
	}
	now := &github.Timestamp{Time: s.now().UTC()}
	id := s.newIDLocked()
	run := &github.CheckRun{
		ID: github.Int64(id), NodeID: github.String(fmt.Sprintf("CR_%d", id)),
		Name: github.String(in.Name), HeadSHA: github.String(in.HeadSHA),
		ExternalID: in.ExternalID, DetailsURL: in.DetailsURL, Output: in.Output,
		Status: github.String(cmp.Or(in.GetStatus(), "queued")), Conclusion: in.Conclusion,
		StartedAt: cmp.Or(in.StartedAt, now), CompletedAt: in.CompletedAt,
		URL:          github.String(s.apiURL("/repos/%s/check-runs/%d", c.repo.fullName(), id)),
		HTMLURL:      github.String(s.htmlURL("/%s/runs/%d", c.repo.fullName(), id)),
		CheckSuite:   &github.CheckSuite{ID: s.suiteLocked(c.repo, in.HeadSHA).ID},
		App:          s.appRefLocked(),
		PullRequests: s.prRefsLocked(c.repo, in.HeadSHA),
	}
	if run.Conclusion != nil {
		run.Status = github.String("completed")
		run.CompletedAt = cmp.Or(run.CompletedAt, now)
	}
	keepAnnotations(c.repo, run, in.Output)
	c.repo.checkRuns = append(c.repo.checkRuns, run)
	writeJSON(w, http.StatusCreated, run)
}

func (s *Sim) checkRunByPath(w http.ResponseWriter, c *request) *github.CheckRun {
	id, ok := pathInt(w, c, "check_run_id")
	if !ok {
		return nil
	}
	for _, run := range c.repo.checkRuns {
		if run.GetID() == id {
			return run
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
	return nil
}

func (s *Sim) getCheckRun(w http.ResponseWriter, r *http.Request, c *request) {
	if run := s.checkRunByPath(w, c); run != nil {
		writeJSON(w, http.StatusOK, run)
	}
}

func (s *Sim) updateCheckRun(w http.ResponseWriter, r *http.Request, c *request) {
	run := s.checkRunByPath(w, c)
	if run == nil {
		return
	}
	var in github.UpdateCheckRunOptions
	if !decodeBody(w, r, &in) {
		return
	}
	switch {
	case in.Status != nil && !slices.Contains(validStatus, in.GetStatus()):
		invalid(w, "CheckRun", "status", "invalid")
		return
	case in.Conclusion != nil && !slices.Contains(validConclusion, in.GetConclusion()):
		invalid(w, "CheckRun", "conclusion", "invalid")
		return
	case in.GetStatus() == "completed" && in.Conclusion == nil && run.Conclusion == nil:
		invalid(w, "CheckRun", "conclusion", "missing_field")
		return
	}
	if !checkOutput(w, in.Output) {
		return
	}
	// go-github always sends "name"; an empty one means unchanged.
	if in.Name != "" {
		run.Name = github.String(in.Name)
	}
	run.DetailsURL = cmp.Or(in.DetailsURL, run.DetailsURL)
	run.ExternalID = cmp.Or(in.ExternalID, run.ExternalID)
	keepAnnotations(c.repo, run, in.Output)
	run.Output = cmp.Or(in.Output, run.Output)
	now := &github.Timestamp{Time: s.now().UTC()}
	switch {
	case in.Conclusion != nil:
		run.Status, run.Conclusion = github.String("completed"), in.Conclusion
		run.CompletedAt = cmp.Or(in.CompletedAt, now)
	case in.Status != nil && in.GetStatus() != "completed":
		// Moving back to queued/in_progress (a re-run) clears the result.
		run.Status, run.Conclusion, run.CompletedAt = in.Status, nil, nil
	}
	writeJSON(w, http.StatusOK, run)
}

func (s *Sim) listCheckRunsForRef(w http.ResponseWriter, r *http.Request, c *request) {
	sha := c.params["ref"]
	if !shaPattern.MatchString(sha) {
		// A branch name: resolve through the PR that has it as head.
		for _, pr := range c.repo.pulls {
			if pr.GetHead().GetRef() == sha {
				sha = pr.GetHead().GetSHA()
			}
		}
	}
	q := r.URL.Query()
	var runs []*github.CheckRun
	latest := map[string]bool{}
	// Newest first, like GitHub; "latest" keeps the newest run per name.
	for i := len(c.repo.checkRuns) - 1; i >= 0; i-- {
		run := c.repo.checkRuns[i]
		if run.GetHeadSHA() != sha {
			continue
		}
		// "latest" is decided before the other filters: an older completed
		// run does not reappear because the newest one is still queued.
		if q.Get("filter") != "all" {
			if latest[run.GetName()] {
				continue
			}
			latest[run.GetName()] = true
		}
		switch {
		case q.Get("check_name") != "" && run.GetName() != q.Get("check_name"),
			q.Get("status") != "" && run.GetStatus() != q.Get("status"),
			q.Get("app_id") != "" && q.Get("app_id") != itoa(s.opts.AppID):
			continue
		}
		runs = append(runs, run)
	}
	lo, hi := s.paginate(w, r, len(runs))
	writeJSON(w, http.StatusOK, &github.ListCheckRunsResults{Total: github.Int(len(runs)), CheckRuns: runs[lo:hi]})
}
