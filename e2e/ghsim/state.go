package ghsim

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-github/v62/github"
)

type userRec struct {
	id    int64
	login string
	bot   bool
}

type installation struct {
	id      int64
	account string
	rate    bucket
}

type repoRec struct {
	id            int64
	owner, name   string
	inst          *installation
	defaultBranch string
	nextNumber    int
	pulls         map[int]*github.PullRequest
	issueIDs      map[int]int64                          // PR number → ID of its issue
	comments      []*github.IssueComment                 // in creation order
	commentIssue  map[int64]int                          // comment ID → issue number
	checkRuns     []*github.CheckRun                     // in creation order
	annotations   map[int64][]*github.CheckRunAnnotation // check run ID → annotations, in the order sent
	suites        map[string]*github.CheckSuite
	collaborators map[string]string // login → admin|write|read
	pushes        map[int]int       // PR number → pushes, for SHAs
}

func (r *repoRec) fullName() string { return r.owner + "/" + r.name }

// Repo describes a repository added to the simulator.
type Repo struct {
	Owner, Name    string
	FullName       string
	ID             int64
	InstallationID int64
}

// AddRepo adds a public repository "owner/name", installed with the App
// through its owner's installation (created on first use). Adding it again
// returns the existing one.
func (s *Sim) AddRepo(fullName string) (Repo, error) {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return Repo{}, fmt.Errorf("ghsim: repo %q: want owner/name", fullName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[fullName]
	if !ok {
		inst := s.byOwner[owner]
		if inst == nil {
			inst = &installation{id: s.newIDLocked(), account: owner}
			s.installations[inst.id] = inst
			s.byOwner[owner] = inst
		}
		r = &repoRec{
			id: s.newIDLocked(), owner: owner, name: name, inst: inst, defaultBranch: "main",
			pulls: map[int]*github.PullRequest{}, issueIDs: map[int]int64{}, commentIssue: map[int64]int{},
			suites: map[string]*github.CheckSuite{}, collaborators: map[string]string{owner: "admin"},
			pushes: map[int]int{},
		}
		s.repos[fullName] = r
	}
	return Repo{Owner: owner, Name: name, FullName: fullName, ID: r.id, InstallationID: r.inst.id}, nil
}

// InstallationID returns the installation of an owner's account, 0 if the
// owner has no repository in the simulator.
func (s *Sim) InstallationID(owner string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.byOwner[owner]; i != nil {
		return i.id
	}
	return 0
}

// SetCollaborator gives login a permission on a repo: "admin", "write",
// "read", or "" to remove. Everyone else reads (public repository).
func (s *Sim) SetCollaborator(fullName, login, permission string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repoLocked(fullName)
	if err != nil {
		return err
	}
	if permission == "" {
		delete(r.collaborators, login)
	} else {
		r.collaborators[login] = permission
	}
	return nil
}

func (s *Sim) repoLocked(fullName string) (*repoRec, error) {
	r, ok := s.repos[fullName]
	if !ok {
		return nil, fmt.Errorf("ghsim: unknown repo %q", fullName)
	}
	return r, nil
}

func (s *Sim) pullLocked(fullName string, number int) (*repoRec, *github.PullRequest, error) {
	r, err := s.repoLocked(fullName)
	if err != nil {
		return nil, nil, err
	}
	pr, ok := r.pulls[number]
	if !ok {
		return nil, nil, fmt.Errorf("ghsim: unknown pull request %s#%d", fullName, number)
	}
	return r, pr, nil
}

func (s *Sim) userLocked(login string) *github.User {
	u, ok := s.users[login]
	if !ok {
		u = &userRec{id: s.newIDLocked(), login: login, bot: strings.HasSuffix(login, "[bot]")}
		s.users[login] = u
	}
	typ := "User"
	if u.bot {
		typ = "Bot"
	}
	return &github.User{
		ID: github.Int64(u.id), NodeID: github.String(fmt.Sprintf("U_%d", u.id)), Login: github.String(login),
		Type: github.String(typ), URL: github.String(s.apiURL("/users/%s", login)),
		HTMLURL: github.String(s.htmlURL("/%s", login)),
	}
}

func (s *Sim) repoJSONLocked(r *repoRec) *github.Repository {
	return &github.Repository{
		ID: github.Int64(r.id), NodeID: github.String(fmt.Sprintf("R_%d", r.id)),
		Name: github.String(r.name), FullName: github.String(r.fullName()), Owner: s.userLocked(r.owner),
		Private: github.Bool(false), DefaultBranch: github.String(r.defaultBranch),
		URL:      github.String(s.apiURL("/repos/%s", r.fullName())),
		HTMLURL:  github.String(s.htmlURL("/%s", r.fullName())),
		CloneURL: github.String(s.htmlURL("/%s.git", r.fullName())),
	}
}

// forkJSONLocked is the head repository of a fork PR: the author's copy.
func (s *Sim) forkJSONLocked(r *repoRec, author string) *github.Repository {
	full := author + "/" + r.name
	return &github.Repository{
		ID: github.Int64(s.newIDLocked()), Name: github.String(r.name), FullName: github.String(full),
		Owner: s.userLocked(author), Fork: github.Bool(true), Private: github.Bool(false),
		URL: github.String(s.apiURL("/repos/%s", full)), HTMLURL: github.String(s.htmlURL("/%s", full)),
		CloneURL: github.String(s.htmlURL("/%s.git", full)),
	}
}

func (s *Sim) installationJSONLocked(i *installation) *github.Installation {
	return &github.Installation{ID: github.Int64(i.id), NodeID: github.String(fmt.Sprintf("I_%d", i.id))}
}

// associationLocked derives author_association the way GitHub shows it.
func associationLocked(r *repoRec, login string) string {
	switch {
	case login == r.owner:
		return "OWNER"
	case r.collaborators[login] != "":
		return "COLLABORATOR"
	default:
		return "NONE"
	}
}

// fakeSHA is deterministic so that runs (and golden files) are repeatable.
func fakeSHA(parts ...any) string {
	sum := sha1.Sum([]byte(fmt.Sprint(parts...)))
	return hex.EncodeToString(sum[:])
}

// clone deep-copies a go-github value so callers never share the
// simulator's state.
func clone[T any](v *T) *T {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("ghsim: clone %T: %v", v, err))
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("ghsim: clone %T: %v", v, err))
	}
	return out
}
