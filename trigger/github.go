package trigger

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-github/v62/github"

	"github.com/catalyst-preview/catalyst/githubapp"
	"github.com/catalyst-preview/catalyst/preview"
)

// GitHub is what the trigger asks of one installation: reads for resync and approvals, an
// installation token for the pipeline's git fetch, and the notices that have no PipelineRun to
// report on. githubapp.Adapter implements it.
type GitHub interface {
	ListOpenPullRequests(ctx context.Context, owner, repo string) ([]*github.PullRequest, error)
	GetPullRequest(ctx context.Context, owner, repo string, number int) (*github.PullRequest, error)
	CollaboratorPermission(ctx context.Context, owner, repo, login string) (string, error)
	InstallationToken(ctx context.Context, installationID int64, repos []string) (*github.InstallationToken, error)
	UpsertComment(ctx context.Context, owner, repo string, number int, marker, body string, knownID int64) (int64, error)
}

// GitHubClients hands out per-installation clients and finds a repository's installation.
type GitHubClients interface {
	For(installationID int64) (GitHub, error)
	InstallationFor(ctx context.Context, owner, repo string) (int64, error)
}

// NoticeMarker identifies the trigger's own comment; the reporter uses a different marker.
const NoticeMarker = "<!-- catalyst-preview:notice -->"

// writePermissions may approve an untrusted pull request with /ok-to-test.
var writePermissions = map[string]bool{"admin": true, "maintain": true, "write": true}

// notice is the trigger's PR comment for a pull request that has no PipelineRun to report on.
type notice struct {
	Key  string // stored in the record, so the same notice is never posted twice
	Body string
}

func unconfiguredNotice(repo, docsURL string) notice {
	return notice{
		Key: "unconfigured",
		Body: NoticeMarker + "\n" +
			"### Catalyst Preview: repository not configured\n\n" +
			"The Catalyst Preview GitHub App is installed on `" + repo + "`, but the repository is not in Catalyst's configuration, " +
			"so this pull request gets no preview environment.\n\n" +
			"To enable previews, add an entry under `repositories:` with at least `name: " + repo + "` and the `chartPath` of the Helm chart to deploy. " +
			"See the setup guide: " + docsURL + "\n",
	}
}

func approvalNotice(author, association, sha string, sticky bool) notice {
	again := "A later push needs a new `/ok-to-test`."
	if sticky {
		again = "The approval also covers later pushes."
	}
	if association == "" {
		association = "NONE"
	}
	return notice{
		Key: "approval:" + sha,
		Body: NoticeMarker + "\n" +
			"### Catalyst Preview: waiting for approval\n\n" +
			fmt.Sprintf("@%s is not a collaborator of this repository (association `%s`), so commit `%s` is not deployed yet.\n\n", author, association, short(sha)) +
			"A collaborator with write access can comment `/ok-to-test` to build and deploy it. " + again + "\n",
	}
}

// approvalNoticeFor is the notice for a PR waiting for approval, unless a refusal for the same
// commit is already shown (it says the commit is still waiting, and says why).
func approvalNoticeFor(ann map[string]string, sticky bool) (notice, bool) {
	sha := ann[preview.AnnotationHeadSHA]
	shown := ann[preview.AnnotationNotice]
	if strings.HasPrefix(shown, "denied:") && strings.HasSuffix(shown, ":"+sha) {
		return notice{}, false
	}
	return approvalNotice(ann[preview.AnnotationAuthor], ann[preview.AnnotationAuthorAssociation], sha, sticky), true
}

func approvedNotice(by, sha string) notice {
	return notice{
		Key: "approved:" + sha,
		Body: NoticeMarker + "\n" +
			"### Catalyst Preview: approved\n\n" +
			fmt.Sprintf("@%s approved commit `%s` with `/ok-to-test`; the preview is being deployed. Progress is reported in the Checks tab and in the preview comment.\n", by, short(sha)),
	}
}

func deniedNotice(by, sha string) notice {
	return notice{
		Key: "denied:" + by + ":" + sha,
		Body: NoticeMarker + "\n" +
			"### Catalyst Preview: approval not accepted\n\n" +
			fmt.Sprintf("@%s commented `/ok-to-test`, but only collaborators with write access can approve a deployment. Commit `%s` is still waiting.\n", by, short(sha)),
	}
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func splitOwnerRepo(full string) (string, string) {
	owner, repo, _ := strings.Cut(full, "/")
	return owner, repo
}

// ClientsFrom adapts githubapp's client cache to what the trigger needs.
func ClientsFrom(c *githubapp.Clients) GitHubClients { return appClients{c} }

type appClients struct{ *githubapp.Clients }

func (a appClients) For(installationID int64) (GitHub, error) {
	return a.ForInstallation(installationID)
}
