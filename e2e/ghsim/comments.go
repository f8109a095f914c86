package ghsim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/google/go-github/v62/github"
)

// addCommentLocked stores a comment by login on issue (PR) number.
func (s *Sim) addCommentLocked(r *repoRec, number int, login, body string) *github.IssueComment {
	id := s.newIDLocked()
	now := &github.Timestamp{Time: s.now().UTC()}
	assoc := associationLocked(r, login)
	if login == s.BotLogin() {
		assoc = "NONE"
	}
	c := &github.IssueComment{
		ID: github.Int64(id), NodeID: github.String(fmt.Sprintf("IC_%d", id)),
		Body: github.String(body), User: s.userLocked(login),
		CreatedAt: now, UpdatedAt: now, AuthorAssociation: github.String(assoc),
		URL:      github.String(s.apiURL("/repos/%s/issues/comments/%d", r.fullName(), id)),
		HTMLURL:  github.String(s.htmlURL("/%s/pull/%d#issuecomment-%d", r.fullName(), number, id)),
		IssueURL: github.String(s.apiURL("/repos/%s/issues/%d", r.fullName(), number)),
	}
	r.comments = append(r.comments, c)
	r.commentIssue[id] = number
	return c
}

func (r *repoRec) issueComments(number int) []*github.IssueComment {
	var out []*github.IssueComment
	for _, c := range r.comments {
		if r.commentIssue[c.GetID()] == number {
			out = append(out, c)
		}
	}
	return out
}

func (r *repoRec) commentIndex(id int64) int {
	return slices.IndexFunc(r.comments, func(c *github.IssueComment) bool { return c.GetID() == id })
}

func issueNumber(w http.ResponseWriter, c *request) (int, bool) {
	n, err := strconv.Atoi(c.params["issue_number"])
	if err != nil || c.repo.pulls[n] == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return 0, false
	}
	return n, true
}

func (s *Sim) listComments(w http.ResponseWriter, r *http.Request, c *request) {
	n, ok := issueNumber(w, c)
	if !ok {
		return
	}
	all := c.repo.issueComments(n)
	lo, hi := s.paginate(w, r, len(all))
	writeJSON(w, http.StatusOK, all[lo:hi])
}

func (s *Sim) createComment(w http.ResponseWriter, r *http.Request, c *request) {
	n, ok := issueNumber(w, c)
	if !ok {
		return
	}
	var in github.IssueComment
	if !decodeBody(w, r, &in) {
		return
	}
	if !commentBody(w, in.GetBody()) {
		return
	}
	// Installation tokens write as the App's bot user.
	writeJSON(w, http.StatusCreated, s.addCommentLocked(c.repo, n, s.author(c.id), in.GetBody()))
}

// MaxCommentLength is the longest comment body GitHub accepts, in characters.
const MaxCommentLength = 65536

func commentBody(w http.ResponseWriter, body string) bool {
	switch {
	case body == "":
		invalid(w, "IssueComment", "body", "missing_field")
		return false
	case utf8.RuneCountInString(body) > MaxCommentLength:
		tooLong(w, "IssueComment", "data", "unprocessable", fmt.Sprintf("Body is too long (maximum is %d characters)", MaxCommentLength))
		return false
	}
	return true
}

func (s *Sim) commentByPath(w http.ResponseWriter, c *request) int {
	id, ok := pathInt(w, c, "comment_id")
	if !ok {
		return -1
	}
	i := c.repo.commentIndex(id)
	if i < 0 {
		writeError(w, http.StatusNotFound, "Not Found")
	}
	return i
}

func (s *Sim) getComment(w http.ResponseWriter, r *http.Request, c *request) {
	if i := s.commentByPath(w, c); i >= 0 {
		writeJSON(w, http.StatusOK, c.repo.comments[i])
	}
}

func (s *Sim) editComment(w http.ResponseWriter, r *http.Request, c *request) {
	i := s.commentByPath(w, c)
	if i < 0 {
		return
	}
	var in github.IssueComment
	if !decodeBody(w, r, &in) {
		return
	}
	if !commentBody(w, in.GetBody()) {
		return
	}
	cm := c.repo.comments[i]
	cm.Body = in.Body
	cm.UpdatedAt = &github.Timestamp{Time: s.now().UTC()}
	writeJSON(w, http.StatusOK, cm)
}

func (s *Sim) deleteComment(w http.ResponseWriter, r *http.Request, c *request) {
	i := s.commentByPath(w, c)
	if i < 0 {
		return
	}
	s.removeCommentLocked(c.repo, i)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) removeCommentLocked(r *repoRec, i int) {
	delete(r.commentIssue, r.comments[i].GetID())
	r.comments = slices.Delete(r.comments, i, i+1)
}
