package trigger

import (
	"context"
	"strconv"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/preview"
	"github.com/catalyst-preview/catalyst/trigger/record"
)

// Resync repairs what lost webhooks left behind: every open pull request of each configured
// repository is recorded as GitHub reports it, and environments whose pull request is no longer
// open are recorded as closed. Recording is ordered by updated_at, so a resync never undoes a
// newer webhook. Cached records that already match cost no API call.
func (c *Controller) Resync(ctx context.Context) {
	start := c.Now()
	failed := 0
	for _, repo := range c.Config.Repositories {
		if err := c.resyncRepo(ctx, repo); err != nil {
			failed++
			c.Log.Warn("resync of repository failed", zap.String("repo", repo.Name), zap.Error(err))
		}
	}
	result := "success"
	if failed > 0 {
		result = "error"
	}
	c.Metrics.resynced(result)
	c.Log.Info("resync finished", zap.Int("repositories", len(c.Config.Repositories)), zap.Int("failed", failed), zap.Duration("took", c.Now().Sub(start)))
}

func (c *Controller) resyncRepo(ctx context.Context, repo config.Repository) error {
	owner, name := splitOwnerRepo(repo.Name)
	records := c.recordsOf(repo.Name)
	inst := int64(0)
	for _, r := range records {
		if id, err := strconv.ParseInt(r.Ann[preview.AnnotationInstallationID], 10, 64); err == nil && id > 0 {
			inst = id
			break
		}
	}
	if inst == 0 {
		id, err := c.GitHub.InstallationFor(ctx, owner, name)
		if err != nil {
			return err
		}
		inst = id
	}
	gh, err := c.GitHub.For(inst)
	if err != nil {
		return err
	}
	prs, err := gh.ListOpenPullRequests(ctx, owner, name)
	if err != nil {
		return err
	}
	byNumber := map[int]prRecord{}
	for _, r := range records {
		byNumber[r.Number] = r
	}
	open := map[int]bool{}
	for _, pr := range prs {
		n := pr.GetNumber()
		open[n] = true
		state := record.StateOf(pr, nil)
		if r, ok := byNumber[n]; ok && upToDate(r, state) {
			continue
		}
		ev := record.Event{Type: "resync", Action: record.ActionUpdate, Repo: repo.Name, InstallationID: inst, Number: n, PR: state, At: state.UpdatedAt}
		out, err := c.store.Record(ctx, ev)
		if err != nil {
			return err
		}
		if !out.Changed {
			continue
		}
		c.Log.Info("resync recorded a pull request", zap.String("repo", repo.Name), zap.Int("pr", n), zap.String("sha", state.HeadSHA))
	}
	for n, r := range byNumber {
		if open[n] || r.Ann[preview.AnnotationPRState] != preview.PRStateOpen {
			continue
		}
		pr, err := gh.GetPullRequest(ctx, owner, name, n)
		if err != nil {
			return err
		}
		state := record.StateOf(pr, nil)
		action := record.ActionUpdate
		if state.State != preview.PRStateOpen {
			action = record.ActionClose
		}
		ev := record.Event{Type: "resync", Action: action, Repo: repo.Name, InstallationID: inst, Number: n, PR: state, At: state.UpdatedAt}
		if _, err := c.store.Record(ctx, ev); err != nil {
			return err
		}
		c.Log.Info("resync recorded a closed pull request", zap.String("repo", repo.Name), zap.Int("pr", n))
	}
	return nil
}

// recordsOf lists the cached records (namespaces and pending ConfigMaps) of a repository.
func (c *Controller) recordsOf(repo string) []prRecord {
	sel := labels.SelectorFromSet(labels.Set{preview.LabelRepo: preview.RepoLabelValue(repo)})
	var out []prRecord
	if nss, err := c.namespaces.List(sel); err == nil {
		for _, ns := range nss {
			if ns.DeletionTimestamp == nil {
				out = append(out, record.Of(ns.Name, ns.Labels, ns.Annotations))
			}
		}
	}
	if cms, err := c.pendings.ConfigMaps(c.SystemNamespace).List(sel); err == nil {
		for _, cm := range cms {
			out = append(out, record.Of(cm.Name, cm.Labels, cm.Annotations))
		}
	}
	return out
}

// upToDate: the record already holds this state of the pull request.
func upToDate(r prRecord, s *record.PRState) bool {
	recorded, err := time.Parse(time.RFC3339, r.Ann[preview.AnnotationHeadUpdatedAt])
	return err == nil && r.Ann[preview.AnnotationHeadSHA] == s.HeadSHA && !s.UpdatedAt.Truncate(time.Second).After(recorded) && r.Ann[preview.AnnotationPRState] == s.State
}
