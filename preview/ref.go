package preview

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Ref names an environment as people do: a pull request ("owner/repo#42", or its GitHub URL)
// or the namespace itself ("pr-shop-42").
type Ref struct {
	Repo      string // owner/repo; empty when the namespace was given
	Number    int
	Namespace string // empty when a pull request was given
}

func (r Ref) String() string {
	if r.Namespace != "" {
		return r.Namespace
	}
	return fmt.Sprintf("%s#%d", r.Repo, r.Number)
}

// PR says whether the reference names a pull request (rather than a namespace).
func (r Ref) PR() bool { return r.Repo != "" }

// GitHub's rules: owner [A-Za-z0-9-], repository [A-Za-z0-9._-].
var prRef = regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100})#([0-9]{1,9})$`)

// ParseRef reads "owner/repo#N", "https://github.com/owner/repo/pull/N" (any host) or a
// namespace name. Anything else is an Invalid error saying what is expected.
func ParseRef(s string) (Ref, error) {
	s = strings.TrimSpace(s)
	if m := prRef.FindStringSubmatch(s); m != nil {
		return prRefOf(m[1], m[2], m[3])
	}
	if u, err := url.Parse(s); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(parts) == 4 && (parts[2] == "pull" || parts[2] == "pulls") {
			if m := prRef.FindStringSubmatch(parts[0] + "/" + parts[1] + "#" + parts[3]); m != nil {
				return prRefOf(m[1], m[2], m[3])
			}
		}
		return Ref{}, newError(KindInvalid, nil, "%q is not a pull request URL (https://HOST/OWNER/REPO/pull/N)", s)
	}
	if strings.ContainsAny(s, "/#") {
		return Ref{}, newError(KindInvalid, nil, "%q is not a pull request: expected OWNER/REPO#NUMBER, e.g. acme/shop#42", s)
	}
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		return Ref{}, newError(KindInvalid, nil, "%q is neither OWNER/REPO#NUMBER nor a namespace name", s)
	}
	return Ref{Namespace: s}, nil
}

func prRefOf(owner, repo, number string) (Ref, error) {
	n, _ := strconv.Atoi(number)
	if repo == "." || repo == ".." {
		return Ref{}, newError(KindInvalid, nil, "%q is not a repository name", repo)
	}
	if n <= 0 {
		return Ref{}, newError(KindInvalid, nil, "%s/%s#%s is not a pull request: numbers start at 1", owner, repo, number)
	}
	return Ref{Repo: owner + "/" + repo, Number: n}, nil
}
