package preview

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LinkStatus is how one link of the chain from a pull request to its preview stands.
type LinkStatus string

// Link statuses.
const (
	LinkOK      LinkStatus = "ok"
	LinkBroken  LinkStatus = "broken"  // something must be done
	LinkWaiting LinkStatus = "waiting" // in progress: nothing to do but wait
	LinkUnknown LinkStatus = "unknown" // the caller may not read what would tell
)

// Links of the chain, in order.
const (
	LinkDelivery   = "delivery recorded"
	LinkConfigured = "repository configured"
	LinkOpen       = "pull request open"
	LinkNotRemoved = "environment not removed"
	LinkTrusted    = "author trusted or approved"
	LinkRules      = "draft and label rules"
	LinkNotStopped = "not cancelled"
	LinkRun        = "run created"
	LinkQueue      = "queue"
	LinkPipeline   = "build and deploy"
	LinkHealth     = "preview healthy"
)

// Link is one step of the chain.
type Link struct {
	Name   string     `json:"name"`
	Status LinkStatus `json:"status"`
	Detail string     `json:"detail,omitempty"`
}

// Explanation answers "why is there no preview?": the chain from the pull request to its
// preview, link by link up to the first that is not ok, and what to do about it.
type Explanation struct {
	Ref       string `json:"ref"`
	Namespace string `json:"namespace,omitempty"`
	Links     []Link `json:"links"`
	// Stop is the first link that is not ok (empty: the preview is up).
	Stop string `json:"stop,omitempty"`
	// Fix says what to do about it.
	Fix string `json:"fix,omitempty"`
	URL string `json:"url,omitempty"`
}

// ExplainInput is what Explain reads: the PR namespace and/or its pending record, and the
// namespace's runs and their children.
type ExplainInput struct {
	Ref Ref
	// Namespace is the PR namespace; nil when there is none.
	Namespace *corev1.Namespace
	// Pending is the pending record (ConfigMap in the system namespace); nil when there is none.
	Pending *corev1.ConfigMap
	// Unreadable says why the record could not be read ("" when it could).
	Unreadable string
	Runs       []*pipelinev1.PipelineRun
	Children   map[string]Task
	Now        time.Time
}

// Explain walks the chain for a pull request.
func (c *Client) Explain(ctx context.Context, ref Ref) (*Explanation, error) {
	in := ExplainInput{Ref: ref, Now: c.o.Now()}
	var unreadable []string
	if ref.PR() {
		for _, name := range []string{NamespaceName(ref.Repo, ref.Number), HashedNamespaceName(ref.Repo, ref.Number)} {
			if in.Pending == nil {
				cm, err := c.kube.CoreV1().ConfigMaps(c.o.SystemNamespace).Get(ctx, name, metav1.GetOptions{})
				switch {
				case err == nil && cm.Labels[LabelPendingRecord] == "true" && strings.EqualFold(cm.Annotations[AnnotationRepo], ref.Repo):
					in.Pending = cm
				case apierrors.IsForbidden(err):
					unreadable = append(unreadable, "pending records in "+c.o.SystemNamespace)
				case err != nil && !apierrors.IsNotFound(err):
					return nil, wrap(err, "get pending record %s/%s", c.o.SystemNamespace, name)
				}
			}
		}
	}
	ns, err := c.resolve(ctx, ref)
	switch {
	case err == nil:
		in.Namespace = ns
	case KindOf(err) == KindForbidden:
		unreadable = append(unreadable, "its namespace")
	case KindOf(err) != KindNotFound:
		return nil, err
	case !ref.PR():
		return nil, err
	}
	if len(unreadable) > 0 && in.Namespace == nil && in.Pending == nil {
		in.Unreadable = "you may not read " + strings.Join(dedupe(unreadable), " or ")
	}
	if in.Namespace != nil {
		if in.Runs, err = c.runsOf(ctx, in.Namespace.Name); err != nil {
			return nil, err
		}
		in.Children, _ = c.childrenOf(ctx, in.Namespace.Name)
	}
	e := Explain(in)
	return &e, nil
}

// Explain is the pure walk of the chain (table- and golden-tested).
func Explain(in ExplainInput) Explanation {
	x := &explainer{e: Explanation{Ref: in.Ref.String()}}
	var ann map[string]string
	var created time.Time
	switch {
	case in.Namespace != nil:
		ann = in.Namespace.Annotations
		created = in.Namespace.CreationTimestamp.Time
		x.e.Namespace = in.Namespace.Name
		if in.Namespace.DeletionTimestamp == nil {
			x.ok(LinkDelivery, "namespace "+in.Namespace.Name+lastEvent(ann))
		} else {
			x.ok(LinkDelivery, "namespace "+in.Namespace.Name+" (being deleted)"+lastEvent(ann))
		}
	case in.Pending != nil:
		ann = in.Pending.Annotations
		x.ok(LinkDelivery, "pending record "+in.Pending.Namespace+"/"+in.Pending.Name+" (no environment)"+lastEvent(ann))
	case in.Unreadable != "":
		return x.stop(LinkDelivery, LinkUnknown, in.Unreadable,
			"ask an operator, or for RBAC to read the PR namespace (and pending records in the system namespace)")
	default:
		return x.stop(LinkDelivery, LinkBroken, "Catalyst has no record of "+in.Ref.String(),
			"check the GitHub App's webhook deliveries for a pull_request event of this PR and the trigger's logs; "+
				"the trigger's resync also records open PRs of configured repositories every preview.resyncInterval")
	}
	head := ann[AnnotationHeadSHA]
	gate := ann[AnnotationGate]
	if gate == GateUnconfigured {
		return x.stop(LinkConfigured, LinkBroken, ann[AnnotationRepo]+" is not in the trigger's configuration",
			"add it under repositories: in the configuration (name and chartPath at least)")
	}
	x.ok(LinkConfigured, ann[AnnotationRepo])
	if st := ann[AnnotationPRState]; st != PRStateOpen {
		return x.stop(LinkOpen, LinkBroken, "the pull request is "+cmp.Or(st, "in an unknown state")+closedAt(ann)+"; its environment is removed on close",
			"reopen the pull request to get a preview again")
	}
	x.ok(LinkOpen, "head "+abbrev(head))
	if RemovalRequested(ann) || gate == GateRemoved || (in.Namespace != nil && in.Namespace.DeletionTimestamp != nil) {
		detail := "the namespace is being deleted"
		if RemovalRequested(ann) {
			detail = fmt.Sprintf("removed (%s) by %s at %s", ann[AnnotationRemoveReason], cmp.Or(ann[AnnotationRemoveBy], "someone"), ann[AnnotationRemoveAt])
		}
		return x.stop(LinkNotRemoved, LinkBroken, detail, "push a commit or comment /retest on the pull request to deploy again")
	}
	x.ok(LinkNotRemoved, "")
	if gate == GateApproval {
		detail := fmt.Sprintf("@%s (%s) is not a collaborator and commit %s is not approved", ann[AnnotationAuthor], cmp.Or(ann[AnnotationAuthorAssociation], "NONE"), abbrev(head))
		if by := ann[AnnotationApprovalRequestBy]; by != "" {
			return x.stop(LinkTrusted, LinkWaiting, detail+"; the /ok-to-test of @"+by+" is being checked", "wait for the trigger to check @"+by+"'s permission")
		}
		return x.stop(LinkTrusted, LinkBroken, detail, "a collaborator with write access comments /ok-to-test on the pull request")
	}
	x.ok(LinkTrusted, trustDetail(ann))
	switch gate {
	case GateDraft:
		return x.stop(LinkRules, LinkBroken, "the pull request is a draft", "mark it ready for review (or set preview.deployDrafts)")
	case GateLabel:
		return x.stop(LinkRules, LinkBroken, "the pull request lacks the label preview.requireLabel names", "add that label to the pull request")
	}
	x.ok(LinkRules, "")
	if ann[AnnotationCancelSHA] != "" && ann[AnnotationCancelSHA] == head {
		return x.stop(LinkNotStopped, LinkBroken, "/cancel stopped commit "+abbrev(head), "comment /retest (or previewctl retry "+in.Ref.String()+") or push a commit")
	}
	x.ok(LinkNotStopped, "")
	if in.Namespace == nil {
		return x.stop(LinkRun, LinkWaiting, "the record is about to become a namespace", "wait a few seconds; if it stays, check the trigger's logs")
	}
	var latest *pipelinev1.PipelineRun
	for _, r := range in.Runs {
		if r.Labels[LabelKind] != KindCleanup && r.Labels[LabelSHA] == head && (latest == nil || attemptOf(r) > attemptOf(latest)) {
			latest = r
		}
	}
	if latest == nil {
		if in.Now.Sub(created) < time.Minute {
			return x.stop(LinkRun, LinkWaiting, "no run for "+abbrev(head)+" yet", "wait a few seconds")
		}
		return x.stop(LinkRun, LinkBroken, "the trigger created no run for "+abbrev(head),
			"check that the trigger runs and its logs for namespace "+in.Namespace.Name)
	}
	r := RunOf(latest, in.Children)
	x.ok(LinkRun, fmt.Sprintf("%s (attempt %d, %s)", r.Name, r.Attempt, cmp.Or(r.Cause, CauseEvent)))
	if r.State == RunQueued {
		if r.QueuePosition > 0 {
			return x.stop(LinkQueue, LinkWaiting, fmt.Sprintf("position %d in the queue", r.QueuePosition),
				"wait for a slot (preview.concurrency.global and perRepository bound running deployments)")
		}
		return x.stop(LinkQueue, LinkWaiting, "waiting for Tekton to start it", "wait; if it stays, check the Tekton controller")
	}
	x.ok(LinkQueue, "")
	switch r.State {
	case RunRunning:
		return x.stop(LinkPipeline, LinkWaiting, "task "+cmp.Or(r.CurrentTask, "?")+" running", "wait, or follow it: previewctl logs "+in.Ref.String()+" --follow")
	case RunCancelled, RunSuperseded:
		return x.stop(LinkPipeline, LinkBroken, "run "+r.Name+" was stopped ("+cmp.Or(r.StopReason, "cancelled")+")", "comment /retest or run previewctl retry "+in.Ref.String())
	case RunFailed:
		failed := failedTask(r)
		link := LinkPipeline
		if failed != nil && failed.Name == "healthcheck" {
			x.ok(LinkPipeline, "")
			link = LinkHealth
		}
		detail := r.Message
		if failed != nil {
			for _, d := range failed.Diagnostics {
				detail += "; " + FormatDiagnostic(d)
			}
		}
		fix := "fix the change and push; the logs: previewctl logs " + in.Ref.String()
		if failed != nil {
			fix += " --task " + failed.Name
		}
		if r.FailureClass == "infrastructure" {
			detail += " (infrastructure failure)"
			fix = "not the change's fault: previewctl retry " + in.Ref.String()
			if r.RetryAt != nil {
				fix = "an automatic retry is due at " + r.RetryAt.Format(time.RFC3339) + "; or previewctl retry " + in.Ref.String()
			}
		}
		return x.stop(link, LinkBroken, detail, fix)
	}
	x.ok(LinkPipeline, "")
	url := cmp.Or(r.URL, ann[AnnotationPreviewURL])
	x.e.URL = url
	x.ok(LinkHealth, "ready at "+url)
	return x.e
}

type explainer struct{ e Explanation }

func (x *explainer) ok(name, detail string) {
	x.e.Links = append(x.e.Links, Link{Name: name, Status: LinkOK, Detail: detail})
}

func (x *explainer) stop(name string, status LinkStatus, detail, fix string) Explanation {
	x.e.Links = append(x.e.Links, Link{Name: name, Status: status, Detail: detail})
	x.e.Stop, x.e.Fix = name, fix
	return x.e
}

func failedTask(r Run) *Task {
	for i := range r.Tasks {
		if r.Tasks[i].State == TaskFailed {
			return &r.Tasks[i]
		}
	}
	return nil
}

func trustDetail(ann map[string]string) string {
	if by := ann[AnnotationApprovedBy]; by != "" && ann[AnnotationApprovedSHA] != "" {
		return "approved by @" + by + " for " + abbrev(ann[AnnotationApprovedSHA])
	}
	return "@" + ann[AnnotationAuthor] + " (" + cmp.Or(ann[AnnotationAuthorAssociation], "trusted bot") + ")"
}

func lastEvent(ann map[string]string) string {
	if t := ann[AnnotationLastEvent]; t != "" {
		return ", last event " + t
	}
	return ""
}

func closedAt(ann map[string]string) string {
	if t := ann[AnnotationClosedAt]; t != "" {
		return " since " + t
	}
	return ""
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}
