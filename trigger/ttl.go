package trigger

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/preview"
)

// TTLMarker identifies the TTL's warning comment: a comment of its own (a new comment notifies
// the pull request's people; an edit of another would not), edited rather than re-posted when
// a later idle period warns again.
const TTLMarker = "<!-- catalyst-preview:ttl -->"

// ttlActor is recorded as who asked for an idle environment's removal.
const ttlActor = "catalyst (ttl)"

// reconcileTTL applies preview.ttl to an open pull request's environment: one warning comment
// preview.ttlWarning before removal, then a removal request, which the next reconcile carries
// out like previewctl delete. It adds its annotation changes to meta and says when to look again.
func (c *Controller) reconcileTTL(ctx context.Context, ns *corev1.Namespace, rec prRecord, meta map[string]*string, log *zap.Logger) (time.Duration, error) {
	p := preview.TTLPolicy{TTL: c.Config.Preview.TTL.Duration, Warn: c.Config.Preview.TTLWarning.Duration}
	now := c.Now()
	d := preview.DecideTTL(p, rec.Ann, ns.Labels, ns.CreationTimestamp.Time, now)
	head := rec.Ann[preview.AnnotationHeadSHA]
	switch {
	case d.ClearWarning:
		meta[preview.AnnotationTTLWarnedSHA], meta[preview.AnnotationTTLWarnedAt], meta[preview.AnnotationTTLRemoveAt] = nil, nil, nil
	case d.Warn:
		// The cache may not show a warning posted a moment ago: ask the apiserver before posting.
		live, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		if err != nil {
			return 0, fmt.Errorf("get namespace %s: %w", ns.Name, err)
		}
		if again := preview.DecideTTL(p, live.Annotations, live.Labels, live.CreationTimestamp.Time, now); !again.Warn {
			return time.Second, nil
		}
		gh, err := c.githubFor(rec)
		if err != nil {
			return 0, err
		}
		known, _ := strconv.ParseInt(rec.Ann[preview.AnnotationTTLCommentID], 10, 64)
		owner, repo := splitOwnerRepo(rec.Repo)
		body := ttlWarning(rec, preview.IdleSince(rec.Ann, ns.CreationTimestamp.Time), d.RemoveAt, p.TTL)
		id, err := gh.UpsertComment(ctx, owner, repo, rec.Number, TTLMarker, body, known)
		if err != nil {
			return 0, fmt.Errorf("post the TTL warning on %s#%d: %w", rec.Repo, rec.Number, err)
		}
		warnedAt, removeAt, idStr := now.UTC().Format(time.RFC3339), d.RemoveAt.UTC().Format(time.RFC3339), strconv.FormatInt(id, 10)
		meta[preview.AnnotationTTLWarnedSHA] = &head
		meta[preview.AnnotationTTLWarnedAt] = &warnedAt
		meta[preview.AnnotationTTLRemoveAt] = &removeAt
		meta[preview.AnnotationTTLCommentID] = &idStr
		log.Info("warned of idle removal", zap.Time("removeAt", d.RemoveAt))
	case d.Remove:
		for k, v := range preview.RemovalRequest(head, ttlActor, preview.RemoveReasonIdle, now) {
			meta[k] = v
		}
		log.Info("idle environment expired: removal requested")
	}
	if d.Next.IsZero() {
		return 0, nil
	}
	return max(d.Next.Sub(now), time.Second), nil
}

// ttlWarning is the warning comment.
func ttlWarning(rec prRecord, idleSince, removeAt time.Time, ttl time.Duration) string {
	ref := rec.Repo + "#" + strconv.Itoa(rec.Number)
	return TTLMarker + "\n" +
		"### Catalyst Preview: this preview will be removed\n\n" +
		fmt.Sprintf("No commit has been pushed to this pull request since %s, so its preview environment (`%s`) will be removed at **%s** (idle limit `preview.ttl`: %s).\n\n",
			stamp(idleSince), rec.Name, stamp(removeAt), days(ttl)) +
		fmt.Sprintf("To keep it, push a commit, or have an operator run `previewctl keep %s` (the label `%s=true` on the namespace). ", ref, preview.LabelKeep) +
		"After the removal, a push or `/retest` deploys the pull request again.\n"
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// days says a TTL as people do: "7 days", "36h0m0s" when not whole days.
func days(d time.Duration) string {
	switch {
	case d == 24*time.Hour:
		return "1 day"
	case d > 0 && d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	return d.String()
}
