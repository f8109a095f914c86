package githubapp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// commentStore serves the issue-comment endpoints of PR o/r#7 from memory.
type commentStore struct {
	t        *testing.T
	mu       sync.Mutex
	next     int64
	comments []*github.IssueComment
	writes   []string // "POST", "PATCH 12", "DELETE 12"
}

func newCommentStore(f *fixture) *commentStore {
	s := &commentStore{t: f.t, next: 1000}
	f.mux.HandleFunc("GET /repos/o/r/issues/7/comments", s.list)
	f.mux.HandleFunc("POST /repos/o/r/issues/7/comments", s.create)
	f.mux.HandleFunc("GET /repos/o/r/issues/comments/{id}", s.get)
	f.mux.HandleFunc("PATCH /repos/o/r/issues/comments/{id}", s.edit)
	f.mux.HandleFunc("DELETE /repos/o/r/issues/comments/{id}", s.delete)
	return s
}

// add stores a comment by login (in creation order) and returns its ID.
func (s *commentStore) add(login, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(login, body)
}

func (s *commentStore) addLocked(login, body string) int64 {
	s.next++
	typ := "User"
	if login == testBot {
		typ = "Bot"
	}
	s.comments = append(s.comments, &github.IssueComment{
		ID:        github.Int64(s.next),
		Body:      github.String(body),
		User:      &github.User{Login: github.String(login), Type: github.String(typ)},
		CreatedAt: &github.Timestamp{Time: epoch.Add(time.Duration(s.next) * time.Second)},
		IssueURL:  github.String("https://api.github.com/repos/o/r/issues/7"),
	})
	return s.next
}

// find returns the index of the comment named in the path, or -1.
func (s *commentStore) find(r *http.Request) int {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return slices.IndexFunc(s.comments, func(c *github.IssueComment) bool { return c.GetID() == id })
}

func (s *commentStore) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lo, hi := paginate(w, r, len(s.comments))
	writeJSON(s.t, w, http.StatusOK, s.comments[lo:hi])
}

func (s *commentStore) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(r)
	if i < 0 {
		writeJSON(s.t, w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	writeJSON(s.t, w, http.StatusOK, s.comments[i])
}

func (s *commentStore) create(w http.ResponseWriter, r *http.Request) {
	var in github.IssueComment
	assert.NilError(s.t, json.NewDecoder(r.Body).Decode(&in))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(testBot, in.GetBody())
	s.writes = append(s.writes, "POST")
	writeJSON(s.t, w, http.StatusCreated, s.comments[len(s.comments)-1])
}

func (s *commentStore) edit(w http.ResponseWriter, r *http.Request) {
	var in github.IssueComment
	assert.NilError(s.t, json.NewDecoder(r.Body).Decode(&in))
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(r)
	if i < 0 {
		writeJSON(s.t, w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	s.comments[i].Body = in.Body
	s.writes = append(s.writes, "PATCH "+r.PathValue("id"))
	writeJSON(s.t, w, http.StatusOK, s.comments[i])
}

func (s *commentStore) delete(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(r)
	if i < 0 {
		writeJSON(s.t, w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	s.comments = slices.Delete(s.comments, i, i+1)
	s.writes = append(s.writes, "DELETE "+r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
}

type shownComment struct{ Login, Body string }

func (s *commentStore) state() []shownComment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]shownComment, 0, len(s.comments))
	for _, c := range s.comments {
		out = append(out, shownComment{c.GetUser().GetLogin(), c.GetBody()})
	}
	return out
}

func TestUpsertComment(t *testing.T) {
	marker := Marker("report")
	want := marker + "\nall green"
	old := marker + "\nbuilding"

	type seeded struct {
		store   *commentStore
		knownID int64
		ids     map[string]int64 // named comments, for expectations
	}
	tests := map[string]struct {
		seed func(s *commentStore) seeded
		// body passed in; the marker is prepended when absent
		body       string
		wantWrites func(ids map[string]int64) []string
		wantBot    []string // the bot's comments left, in order
		wantOthers int      // comments by other users left untouched
		wantID     string   // name of the comment whose ID is returned ("new" = created)
	}{
		"creates when there is none": {
			seed:       func(s *commentStore) seeded { s.add("alice", "hello"); return seeded{store: s} },
			body:       "all green",
			wantWrites: func(map[string]int64) []string { return []string{"POST"} },
			wantBot:    []string{want},
			wantOthers: 1,
			wantID:     "new",
		},
		"known ID unchanged costs no write": {
			seed: func(s *commentStore) seeded {
				id := s.add(testBot, want)
				return seeded{store: s, knownID: id, ids: map[string]int64{"mine": id}}
			},
			body:       want,
			wantWrites: func(map[string]int64) []string { return nil },
			wantBot:    []string{want},
			wantID:     "mine",
		},
		"known ID changed is edited in place": {
			seed: func(s *commentStore) seeded {
				id := s.add(testBot, old)
				return seeded{store: s, knownID: id, ids: map[string]int64{"mine": id}}
			},
			body:       want,
			wantWrites: func(ids map[string]int64) []string { return []string{fmt.Sprint("PATCH ", ids["mine"])} },
			wantBot:    []string{want},
			wantID:     "mine",
		},
		"known ID deleted by a user is recreated": {
			seed: func(s *commentStore) seeded {
				s.add("alice", "/retest")
				return seeded{store: s, knownID: 999999}
			},
			body:       want,
			wantWrites: func(map[string]int64) []string { return []string{"POST"} },
			wantBot:    []string{want},
			wantOthers: 1,
			wantID:     "new",
		},
		"another user's comment with the marker is ignored": {
			seed: func(s *commentStore) seeded {
				id := s.add("mallory", old) // quoting the marker does not make it ours
				return seeded{store: s, knownID: id}
			},
			body:       want,
			wantWrites: func(map[string]int64) []string { return []string{"POST"} },
			wantBot:    []string{want},
			wantOthers: 1,
			wantID:     "new",
		},
		"found on a later page unchanged costs no write": {
			seed: func(s *commentStore) seeded {
				for i := range 230 {
					s.add("alice", fmt.Sprint("chatter ", i))
				}
				id := s.add(testBot, want)
				return seeded{store: s, ids: map[string]int64{"mine": id}}
			},
			body:       want,
			wantWrites: func(map[string]int64) []string { return nil },
			wantBot:    []string{want},
			wantOthers: 230,
			wantID:     "mine",
		},
		"duplicates across pages: newest edited, older deleted": {
			seed: func(s *commentStore) seeded {
				ids := map[string]int64{}
				ids["oldest"] = s.add(testBot, old)
				s.add(testBot, "an unrelated bot comment without marker")
				for i := range 150 {
					s.add("alice", fmt.Sprint("chatter ", i))
				}
				ids["middle"] = s.add(testBot, old)
				for i := range 80 {
					s.add("bob", fmt.Sprint("more ", i))
				}
				ids["newest"] = s.add(testBot, old)
				return seeded{store: s, ids: ids}
			},
			body: want,
			wantWrites: func(ids map[string]int64) []string {
				return []string{fmt.Sprint("PATCH ", ids["newest"]), fmt.Sprint("DELETE ", ids["oldest"]), fmt.Sprint("DELETE ", ids["middle"])}
			},
			wantBot:    []string{"an unrelated bot comment without marker", want},
			wantOthers: 230,
			wantID:     "newest",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := setup(t)
			sd := tc.seed(newCommentStore(f))
			s := sd.store
			before := s.next

			id, err := f.adapter(1).UpsertComment(t.Context(), "o", "r", 7, marker, tc.body, sd.knownID)
			assert.NilError(t, err)

			switch tc.wantID {
			case "new":
				assert.Equal(t, id, before+1)
			default:
				assert.Equal(t, id, sd.ids[tc.wantID])
			}
			assert.DeepEqual(t, s.writes, tc.wantWrites(sd.ids))
			var bot []string
			others := 0
			for _, c := range s.state() {
				if c.Login == testBot {
					bot = append(bot, c.Body)
				} else {
					others++
				}
			}
			assert.DeepEqual(t, bot, tc.wantBot)
			assert.Equal(t, others, tc.wantOthers)

			// A second upsert with the returned ID is free.
			writes := len(s.writes)
			again, err := f.adapter(1).UpsertComment(t.Context(), "o", "r", 7, marker, tc.body, id)
			assert.NilError(t, err)
			assert.Equal(t, again, id)
			assert.Check(t, is.Len(s.writes, writes))
		})
	}
}

func TestUpsertCommentRejectsEmptyMarker(t *testing.T) {
	f := setup(t)
	_, err := f.adapter(1).UpsertComment(t.Context(), "o", "r", 7, "", "x", 0)
	assert.ErrorContains(t, err, "empty marker")
}

func TestOwnCommentsOrdersByCreation(t *testing.T) {
	at := func(sec int) *github.Timestamp {
		return &github.Timestamp{Time: epoch.Add(time.Duration(sec) * time.Second)}
	}
	c := func(id int64, login, body string, created *github.Timestamp) *github.IssueComment {
		return &github.IssueComment{ID: &id, User: &github.User{Login: &login}, Body: &body, CreatedAt: created}
	}
	m := Marker("x")
	got := ownComments([]*github.IssueComment{
		c(3, testBot, m, at(1)),
		c(1, testBot, m, at(5)),
		c(2, "alice", m, at(0)),
		c(4, testBot, "no marker", at(0)),
		c(5, testBot, m, at(1)),
	}, testBot, m)
	var ids []int64
	for _, g := range got {
		ids = append(ids, g.GetID())
	}
	assert.DeepEqual(t, ids, []int64{3, 5, 1})
}
