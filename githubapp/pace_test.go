package githubapp

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestPacerWindows(t *testing.T) {
	p := newPacer(Policy{ContentPerMinute: 4, ContentPerHour: 6, WritesPerMinute: 3}.withDefaults())
	now := epoch
	for i := range 4 {
		_, ok := p.admit(classComment, now.Add(time.Duration(i)*time.Second), false)
		assert.Assert(t, ok, "write %d", i)
	}
	wait, ok := p.admit(classComment, now.Add(10*time.Second), false)
	assert.Assert(t, !ok, "the fifth write in a minute waits")
	assert.Equal(t, wait, 50*time.Second, "until the first leaves the minute")
	_, ok = p.admit(classComment, now.Add(61*time.Second), false)
	assert.Assert(t, ok)
	_, ok = p.admit(classComment, now.Add(62*time.Second), false)
	assert.Assert(t, ok, "six in the hour")
	wait, ok = p.admit(classComment, now.Add(2*time.Minute+3*time.Second), false)
	assert.Assert(t, !ok, "the hour is full")
	assert.Equal(t, wait, time.Hour-2*time.Minute-3*time.Second)

	_, ok = p.admit(classRead, now, false)
	assert.Assert(t, ok, "reads are not paced")
	_, ok = p.admit(classCheckRun, now, true)
	assert.Assert(t, ok, "best effort while the window is less than half used")
	_, ok = p.admit(classCheckRun, now, true)
	assert.Assert(t, !ok, "best effort stops at half")
	_, ok = p.admit(classCheckRun, now, false)
	assert.Assert(t, ok, "room is left to required writes")
}

// A burst of comment writes beyond the minute's budget is not sent: the adapter answers with a
// wait, and a best-effort write is dropped without a request.
func TestCommentWritesArePacedPerInstallation(t *testing.T) {
	f := setup(t, withPolicy(Policy{ContentPerMinute: 2, ContentPerHour: 100}))
	f.mux.HandleFunc("POST /repos/o/r/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, http.StatusCreated, &github.IssueComment{ID: github.Int64(1)})
	})
	a := f.adapter(1)
	for range 2 {
		_, err := a.createComment(t.Context(), "o", "r", 7, "x")
		assert.NilError(t, err)
	}
	_, err := a.createComment(t.Context(), "o", "r", 7, "x")
	d, ok := RetryAfter(err)
	assert.Assert(t, ok, "%v", err)
	assert.Equal(t, d, time.Minute)
	assert.Check(t, !IsDeferred(err))
	_, err = a.createComment(BestEffort(t.Context()), "o", "r", 7, "x")
	assert.Check(t, IsDeferred(err), "%v", err)
	assert.Equal(t, f.count("POST /repos/o/r/issues/7/comments"), 2, "nothing sent past the budget")
	_, err = f.adapter(2).createComment(t.Context(), "o", "r", 7, "x")
	assert.NilError(t, err, "another installation has its own budget")
	f.clock.Advance(time.Minute)
	_, err = a.createComment(t.Context(), "o", "r", 7, "x")
	assert.NilError(t, err)
	var pe *PacedError
	assert.Check(t, !errors.As(err, &pe))
}

// A known comment is edited without being read first; one that is gone is found or recreated.
func TestUpsertKnownComment(t *testing.T) {
	f := setup(t)
	s := newCommentStore(f)
	marker := Marker("report")
	id := s.add(testBot, marker+"\nold")
	got, err := f.adapter(1).UpsertKnownComment(t.Context(), "o", "r", 7, marker, "new", id)
	assert.NilError(t, err)
	assert.Equal(t, got, id)
	assert.Equal(t, f.count("GET /repos/o/r/issues/comments/"+itoa(id)), 0, "no read before the edit")
	assert.DeepEqual(t, s.writes, []string{"PATCH " + itoa(id)})

	got, err = f.adapter(1).UpsertKnownComment(context.Background(), "o", "r", 7, marker, "newer", 999999)
	assert.NilError(t, err)
	assert.Equal(t, got, id, "the bot's comment is found by its marker")
	assert.Check(t, is.Len(s.state(), 1))
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
