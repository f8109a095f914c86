package trigger

import (
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/poll"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/preview"
)

// An environment without a push for preview.ttl gets one warning comment preview.ttlWarning
// before, then is removed through the same path as previewctl delete (cleanup run, namespace
// deleted). Its record stays, so a resync does not bring it back; a push does. A kept
// environment is left alone.
func TestIntegrationIdleTTL(t *testing.T) {
	s := newStack(t, stackOptions{configure: func(c *config.Config) {
		c.Preview.TTL = &metav1.Duration{Duration: 6 * time.Second}
		c.Preview.TTLWarning = &metav1.Duration{Duration: 3 * time.Second}
	}})
	ctx := t.Context()
	keep := func(ns string, on bool) {
		t.Helper()
		value := `"true"`
		if !on {
			value = "null"
		}
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			_, err := s.kube.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(`{"metadata":{"labels":{"`+preview.LabelKeep+`":`+value+`}}}`), metav1.PatchOptions{})
			switch {
			case apierrors.IsNotFound(err):
				return poll.Continue("namespace %s not created yet", ns)
			case err != nil:
				return poll.Error(err)
			}
			return poll.Success()
		}, poll.WithTimeout(30*time.Second), poll.WithDelay(100*time.Millisecond))
	}
	// Both start kept, so that however slow the machine, nothing expires before it deployed.
	kept := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	keptNS := s.namespaceOf(kept.Number)
	keep(keptNS, true)
	d := s.open(ghsim.PROptions{Author: "alice", AuthorAssociation: "MEMBER"})
	ns := s.namespaceOf(d.Number)
	keep(ns, true)
	s.waitRun(ns, preview.PipelineRunName(preview.KindDeploy, d.HeadSHA, 1), reason("Succeeded"))

	// Unkept, the idle time applies again: a warning first, the removal a full lead time later.
	keep(ns, false)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if n := len(ttlComments(s, d.Number)); n != 1 {
			return poll.Continue("%d TTL warnings on #%d", n, d.Number)
		}
		return poll.Success()
	}, poll.WithTimeout(60*time.Second), poll.WithDelay(200*time.Millisecond))
	s.waitRun(ns, preview.PipelineRunName(preview.KindCleanup, d.HeadSHA, 1), nil)
	s.waitNamespaceGone(ns)

	warnings := ttlComments(s, d.Number)
	assert.Equal(t, len(warnings), 1, "one warning, posted once")
	assert.Assert(t, strings.Contains(warnings[0], "(`"+ns+"`) will be removed at"), warnings[0])
	assert.Equal(t, len(ttlComments(s, kept.Number)), 0, "a kept environment is not warned")
	_, err := s.kube.CoreV1().Namespaces().Get(ctx, keptNS, metav1.GetOptions{})
	assert.NilError(t, err, "a kept environment stays")

	rec, err := s.kube.CoreV1().ConfigMaps(s.system).Get(ctx, ns, metav1.GetOptions{})
	assert.NilError(t, err, "the record is kept as a pending record")
	assert.Equal(t, rec.Annotations[preview.AnnotationGate], preview.GateRemoved)
	assert.Equal(t, rec.Annotations[preview.AnnotationRemoveReason], preview.RemoveReasonIdle)
	assert.Equal(t, rec.Annotations[preview.AnnotationProvisionedHash], "", "a new namespace provisions afresh")

	// Resync records open pull requests from GitHub: the removal holds, nothing is recreated.
	s.ctrl.Resync(ctx)
	_, err = s.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	assert.Assert(t, apierrors.IsNotFound(err), "resync brought the environment back: %v", err)

	// A push is activity: the pull request deploys again.
	push, err := s.sim.Push(ctx, s.repo, d.Number)
	assert.NilError(t, err)
	keep(ns, true) // not expire again before the test looked
	s.waitRun(ns, preview.PipelineRunName(preview.KindDeploy, push.HeadSHA, 1), reason("Succeeded"))
}

func ttlComments(s *stack, number int) []string {
	var out []string
	for _, c := range s.sim.Comments(s.repo, number) {
		if strings.Contains(c.GetBody(), TTLMarker) {
			out = append(out, c.GetBody())
		}
	}
	return out
}
