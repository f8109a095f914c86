package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func key(c byte) []byte { return []byte(strings.Repeat(string(c), 32)) }

func TestSealer(t *testing.T) {
	oldKeys, err := newSealer([][]byte{key('a')})
	assert.NilError(t, err)
	rotated, err := newSealer([][]byte{key('b'), key('a')})
	assert.NilError(t, err)
	newOnly, err := newSealer([][]byte{key('b')})
	assert.NilError(t, err)

	sealed, err := oldKeys.seal("catalyst-session", Session{User: "alice"})
	assert.NilError(t, err)
	var s Session
	assert.Check(t, rotated.open("catalyst-session", sealed, &s), "a rotated key set still opens old cookies")
	assert.Check(t, is.Equal(s.User, "alice"))
	assert.Check(t, is.ErrorIs(newOnly.open("catalyst-session", sealed, &s), errBadCookie), "a retired key no longer opens")
	assert.Check(t, is.ErrorIs(oldKeys.open("catalyst-login", sealed, &s), errBadCookie), "a value sealed for one cookie is not another")
	tampered := []byte(sealed)
	tampered[len(tampered)/2] ^= 1
	assert.Check(t, is.ErrorIs(oldKeys.open("catalyst-session", string(tampered), &s), errBadCookie))

	_, err = newSealer([][]byte{[]byte("short")})
	assert.Check(t, is.ErrorContains(err, "at least 32"))
	_, err = newSealer(nil)
	assert.Check(t, is.ErrorContains(err, "at least one"))
}

// A session with many groups spans several cookies and reads back whole; one too large for
// maxChunks cookies is refused rather than truncated; a shorter session expires leftovers.
func TestCookieChunks(t *testing.T) {
	sealer, err := newSealer([][]byte{key('a')})
	assert.NilError(t, err)
	jar := cookieJar{sealer: sealer}
	groups := func(n int) []string {
		var g []string
		for i := range n {
			g = append(g, fmt.Sprintf("some-rather-long-group-name-%04d", i))
		}
		return g
	}
	big := Session{User: "alice", Groups: groups(150)}
	rec := httptest.NewRecorder()
	assert.NilError(t, jar.set(rec, httptest.NewRequest(http.MethodGet, "/", nil), sessionCookie, big, time.Hour))
	cookies := rec.Result().Cookies()
	assert.Check(t, len(cookies) > 1, "split over %d cookies", len(cookies))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range cookies {
		assert.Check(t, len(c.String()) < 4096, c.Name)
		req.AddCookie(c)
	}
	var got Session
	assert.NilError(t, jar.get(req, sessionCookie, &got))
	assert.Check(t, is.DeepEqual(got.Groups, big.Groups))

	rec = httptest.NewRecorder()
	assert.NilError(t, jar.set(rec, req, sessionCookie, Session{User: "alice"}, time.Hour))
	expired := 0
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			expired++
		}
	}
	assert.Check(t, is.Equal(expired, len(cookies)-1), "the chunks of the longer session are expired")

	err = jar.set(httptest.NewRecorder(), req, sessionCookie, Session{User: "alice", Groups: groups(1000)}, time.Hour)
	assert.Check(t, is.ErrorContains(err, "too many groups"))
}

func TestIdentityValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		id      Identity
		wantErr string
	}{
		"user and groups":    {id: Identity{User: "alice@example.com", Groups: []string{"team-a"}}},
		"no user":            {id: Identity{Groups: []string{"team-a"}}, wantErr: "no user name"},
		"system user":        {id: Identity{User: "system:admin"}, wantErr: "reserved"},
		"system group":       {id: Identity{User: "a", Groups: []string{"team-a", "system:masters"}}, wantErr: `group "system:masters" is reserved`},
		"serviceaccount-ish": {id: Identity{User: "system:serviceaccount:kube-system:default"}, wantErr: "reserved"},
	} {
		err := tc.id.Validate()
		if tc.wantErr == "" {
			assert.Check(t, is.Nil(err), name)
			continue
		}
		assert.Check(t, is.ErrorContains(err, tc.wantErr), name)
	}
}
