package ghsim

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	jwt "github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v62/github"
)

// identity is who is calling: the App (JWT), an installation (token), a
// user (personal access token), or nobody valid (err says what GitHub would
// answer with 401).
type identity struct {
	kind string // "app", "installation", "user" or "none"
	tok  *token
	err  string
}

func (id identity) installationID() int64 {
	if id.tok != nil && id.tok.inst != nil {
		return id.tok.inst.id
	}
	return 0
}

type token struct {
	value   string
	inst    *installation // nil for a personal access token
	user    string        // a personal access token's owner
	rate    *bucket       // a personal access token's owner's budget
	expires time.Time
	repos   map[string]bool // repository names the token is limited to; empty = all
	perms   permissionSet   // what the token may do (the installation's, or fewer when asked)
}

func (t *token) canAccess(r *repoRec) bool {
	if t != nil && t.user != "" {
		return true // every repository here is public or the user's
	}
	return t != nil && t.inst == r.inst && (len(t.repos) == 0 || t.repos[r.name])
}

func (s *Sim) identifyLocked(r *http.Request, rt *route) identity {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if rt.auth == authApp {
		if !strings.EqualFold(scheme, "bearer") {
			return identity{kind: "none", err: "A JSON web token could not be decoded"}
		}
		if err := s.verifyJWT(cred); err != nil {
			s.log.Debug("rejected app JWT")
			return identity{kind: "none", err: "A JSON web token could not be decoded"}
		}
		return identity{kind: "app"}
	}
	if cred == "" {
		return identity{kind: "none", err: "Requires authentication"}
	}
	if !strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer") {
		return identity{kind: "none", err: "Bad credentials"}
	}
	tok := s.tokens[cred]
	if tok == nil || !s.now().Before(tok.expires) {
		return identity{kind: "none", err: "Bad credentials"}
	}
	if tok.user != "" {
		return identity{kind: "user", tok: tok}
	}
	return identity{kind: "installation", tok: tok}
}

// PersonalToken returns a new personal access token of user (classic, repo
// scope), valid for a year: what `github.tokenFile` holds in development. It
// reads and comments like its user; GitHub refuses it for check runs, which
// only a GitHub App may write.
func (s *Sim) PersonalToken(login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userLocked(login)
	if s.userRates == nil {
		s.userRates = map[string]*bucket{}
	}
	if s.userRates[login] == nil {
		s.userRates[login] = &bucket{}
	}
	tok := &token{value: "ghp_" + randomString(36), user: login, rate: s.userRates[login], expires: s.now().Add(365 * 24 * time.Hour)}
	s.tokens[tok.value] = tok
	return tok.value
}

// author is who writes as this caller: a user token's owner, else the App's bot.
func (s *Sim) author(id identity) string {
	if id.kind == "user" {
		return id.tok.user
	}
	return s.BotLogin()
}

// verifyJWT checks what GitHub checks: RS256 signed by the App key, issuer
// is the App ID, an expiry at most ten minutes after issue. The times are
// judged on the wall clock because the signer (ghinstallation) uses it.
func (s *Sim) verifyJWT(raw string) error {
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		return err
	}
	if claims.Issuer != strconv.FormatInt(s.opts.AppID, 10) {
		return fmt.Errorf("issuer %q is not the App ID", claims.Issuer)
	}
	if claims.ExpiresAt == nil || claims.IssuedAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 10*time.Minute {
		return errors.New("expiry missing or too far after issue")
	}
	return nil
}

func (s *Sim) getApp(w http.ResponseWriter, r *http.Request, c *request) {
	writeJSON(w, http.StatusOK, &github.App{
		ID: github.Int64(s.opts.AppID), Slug: github.String(s.opts.AppSlug),
		NodeID: github.String(fmt.Sprintf("A_%d", s.opts.AppID)), Name: github.String(s.opts.AppSlug),
		HTMLURL:     github.String(s.htmlURL("/apps/%s", s.opts.AppSlug)),
		Permissions: appPermissions(),
		Events:      []string{"pull_request", "issue_comment", "check_run", "check_suite"},
	})
}

func (s *Sim) createAccessToken(w http.ResponseWriter, r *http.Request, c *request) {
	id, ok := pathInt(w, c, "installation_id")
	if !ok {
		return
	}
	inst := s.installations[id]
	if inst == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	var opts github.InstallationTokenOptions
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	// No options arrive as no body (ghinstallation) or "null" (go-github).
	if b := bytes.TrimSpace(body); len(b) > 0 && string(b) != "null" {
		if err := json.Unmarshal(body, &opts); err != nil {
			writeError(w, http.StatusBadRequest, "Problems parsing JSON")
			return
		}
	}
	perms, ok := permissionsOf(appPermissions()).restrict(opts.Permissions)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "The permissions requested are not granted to this installation.")
		return
	}
	tok := &token{value: "ghs_" + randomString(36), inst: inst, expires: s.now().Add(s.opts.TokenTTL), perms: perms}
	out := &github.InstallationToken{
		Token:       github.String(tok.value),
		ExpiresAt:   &github.Timestamp{Time: tok.expires.UTC().Truncate(time.Second)},
		Permissions: perms.api(),
	}
	if len(opts.Repositories) > 0 {
		tok.repos = map[string]bool{}
		for _, name := range opts.Repositories {
			rp := s.repos[inst.account+"/"+name]
			if rp == nil || rp.inst != inst {
				invalid(w, "InstallationToken", "repositories", "invalid")
				return
			}
			tok.repos[name] = true
			out.Repositories = append(out.Repositories, s.repoJSONLocked(rp))
		}
	}
	s.tokens[tok.value] = tok
	writeJSON(w, http.StatusCreated, out)
}

func (s *Sim) getRepoInstallation(w http.ResponseWriter, r *http.Request, c *request) {
	rp := s.repos[c.params["owner"]+"/"+c.params["repo"]]
	if rp == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	inst := s.installationJSONLocked(rp.inst)
	inst.AppID = github.Int64(s.opts.AppID)
	inst.AppSlug = github.String(s.opts.AppSlug)
	inst.Account = s.userLocked(rp.inst.account)
	inst.TargetType = github.String("Organization")
	inst.RepositorySelection = github.String("selected")
	writeJSON(w, http.StatusOK, inst)
}

const alphanum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	for i := range b {
		b[i] = alphanum[int(b[i])%len(alphanum)]
	}
	return string(b)
}
