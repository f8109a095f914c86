package preview

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"
)

// maxNameLength is the limit of a DNS-1123 label, which namespace names must be.
const maxNameLength = 63

// hashLength is the length of the stable suffix that keeps cut or rewritten names apart.
const hashLength = 6

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NamespaceName is the readable namespace of a pull request: pr-{repo}-{number}.
//
// {repo} is the repository name lower-cased. When the name is not already a clean DNS-1123
// fragment (dots, underscores, leading digits are fine on GitHub but not here) or when the
// result would exceed 63 characters, the rewritten fragment is cut and followed by a short hash
// of the full "owner/repo", so two repositories whose names rewrite to the same text stay apart.
// Two repositories of different owners with the same clean name share this readable name; the
// trigger detects that when provisioning and falls back to HashedNamespaceName.
func NamespaceName(fullRepo string, pr int) string {
	_, name := SplitRepo(fullRepo)
	lower := strings.ToLower(name)
	slug := sanitize(lower)
	suffix := "-" + strconv.Itoa(pr)
	if slug == lower && len("pr-")+len(slug)+len(suffix) <= maxNameLength {
		return "pr-" + slug + suffix
	}
	return HashedNamespaceName(fullRepo, pr)
}

// HashedNamespaceName is pr-{repo cut}-{hash of owner/repo}-{number}: unique per repository
// (up to the hash), always at most 63 characters.
func HashedNamespaceName(fullRepo string, pr int) string {
	_, name := SplitRepo(fullRepo)
	suffix := "-" + stableHash(strings.ToLower(fullRepo)) + "-" + strconv.Itoa(pr)
	slug := sanitize(strings.ToLower(name))
	room := maxNameLength - len("pr-") - len(suffix)
	if len(slug) > room {
		slug = strings.TrimRight(slug[:room], "-")
	}
	if slug == "" {
		return "pr" + suffix
	}
	return "pr-" + slug + suffix
}

// RepoLabelValue is "owner.repo" made label-safe (63 characters of [a-z0-9._-], alphanumeric at
// both ends), with a hash when it had to be cut so that it stays unique.
func RepoLabelValue(fullRepo string) string {
	owner, name := SplitRepo(fullRepo)
	v := strings.ToLower(owner + "." + name)
	var b strings.Builder
	for _, r := range v {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	v = strings.Trim(b.String(), "._-")
	if v == strings.ToLower(owner+"."+name) && len(v) <= maxNameLength {
		return v
	}
	h := stableHash(strings.ToLower(fullRepo))
	room := maxNameLength - len(h) - 1
	if len(v) > room {
		v = strings.TrimRight(v[:room], "._-")
	}
	return strings.TrimLeft(v+"-"+h, "._-")
}

// SplitRepo splits "owner/repo"; a name without a slash is all repo.
func SplitRepo(fullRepo string) (owner, name string) {
	if i := strings.IndexByte(fullRepo, '/'); i >= 0 {
		return fullRepo[:i], fullRepo[i+1:]
	}
	return "", fullRepo
}

// PipelineRunName is the deterministic name of the run for one SHA and attempt, so that a
// redelivered webhook or a second reconcile finds the run instead of creating another.
func PipelineRunName(kind, sha string, attempt int) string {
	if kind == KindCleanup {
		return "cleanup-" + shortSHA(sha)
	}
	return fmt.Sprintf("deploy-%s-%d", shortSHA(sha), attempt)
}

// ReleaseName is the helm release every preview namespace holds.
const ReleaseName = "preview"

// PreviewHost is {pr}-{repo}.{domain}, with the repo fragment rewritten like namespace names.
func PreviewHost(fullRepo string, pr int, domain string) string {
	ns := NamespaceName(fullRepo, pr)
	frag := strings.TrimSuffix(strings.TrimPrefix(ns, "pr-"), "-"+strconv.Itoa(pr))
	return strconv.Itoa(pr) + "-" + frag + "." + domain
}

func shortSHA(sha string) string {
	if len(sha) > 12 {
		return strings.ToLower(sha[:12])
	}
	return strings.ToLower(sha)
}

// sanitize maps s to a DNS-1123 fragment: [a-z0-9-], no leading, trailing or repeated dashes.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}

func stableHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return lowerBase32.EncodeToString(sum[:])[:hashLength]
}

// ImageRef is the image a pull request's head is built as: {registry}/{repo}:pr-{n}-{sha12},
// the repository name lower-cased as image references require. The build controller refuses
// to push anything else, so a build can only ever overwrite its own pull request's tags.
func ImageRef(registry, fullRepo string, pr int, sha string) string {
	_, name := SplitRepo(fullRepo)
	tag := "pr-" + strconv.Itoa(pr) + "-" + sha
	if len(sha) > 12 {
		tag = "pr-" + strconv.Itoa(pr) + "-" + sha[:12]
	}
	return strings.TrimSuffix(registry, "/") + "/" + strings.ToLower(name) + ":" + tag
}
