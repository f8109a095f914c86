package preview

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

func TestDecideTTL(t *testing.T) {
	push := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	created := push.Add(-time.Hour)
	day := 24 * time.Hour
	policy := TTLPolicy{TTL: 7 * day, Warn: day}
	record := func(kv ...string) map[string]string {
		ann := map[string]string{AnnotationHeadSHA: "aaa", AnnotationHeadSeenAt: push.Format(time.RFC3339Nano)}
		for i := 0; i+1 < len(kv); i += 2 {
			ann[kv[i]] = kv[i+1]
		}
		return ann
	}
	warned := func(sha string, at time.Time) map[string]string {
		return record(AnnotationTTLWarnedSHA, sha, AnnotationTTLWarnedAt, at.Format(time.RFC3339))
	}
	kept := map[string]string{LabelKeep: "true"}
	tests := map[string]struct {
		policy TTLPolicy
		ann    map[string]string
		labels map[string]string
		now    time.Time
		want   TTLDecision
	}{
		"off": {policy: TTLPolicy{}, ann: record(), now: push.Add(100 * day), want: TTLDecision{}},
		"fresh: look again when the warning is due": {
			policy: policy, ann: record(), now: push.Add(time.Hour),
			want: TTLDecision{RemoveAt: push.Add(7 * day), Next: push.Add(6 * day)},
		},
		"warning due": {
			policy: policy, ann: record(), now: push.Add(6 * day),
			want: TTLDecision{Warn: true, RemoveAt: push.Add(7 * day), Next: push.Add(7 * day)},
		},
		"warned, not yet expired": {
			policy: policy, ann: warned("aaa", push.Add(6*day)), now: push.Add(6*day + time.Hour),
			want: TTLDecision{RemoveAt: push.Add(7 * day), Next: push.Add(7 * day)},
		},
		"warned and expired: remove": {
			policy: policy, ann: warned("aaa", push.Add(6*day)), now: push.Add(7 * day),
			want: TTLDecision{Remove: true, RemoveAt: push.Add(7 * day)},
		},
		"expired long ago but never warned: warn first, remove a full warning later": {
			policy: policy, ann: record(), now: push.Add(30 * day),
			want: TTLDecision{Warn: true, RemoveAt: push.Add(31 * day), Next: push.Add(31 * day)},
		},
		"warned late (trigger was down): the warning still gets its full lead": {
			policy: policy, ann: warned("aaa", push.Add(6*day+20*time.Hour)), now: push.Add(7*day + time.Hour),
			want: TTLDecision{RemoveAt: push.Add(7*day + 20*time.Hour), Next: push.Add(7*day + 20*time.Hour)},
		},
		"a push after the warning starts a new idle period": {
			policy: policy, ann: record(AnnotationHeadSHA, "bbb", AnnotationTTLWarnedSHA, "aaa", AnnotationTTLWarnedAt, push.Add(-day).Format(time.RFC3339)),
			now:  push.Add(time.Hour),
			want: TTLDecision{RemoveAt: push.Add(7 * day), Next: push.Add(6 * day)},
		},
		"kept: never removed": {
			policy: policy, ann: record(), labels: kept, now: push.Add(30 * day), want: TTLDecision{},
		},
		"kept after the warning: the warning is forgotten": {
			policy: policy, ann: warned("aaa", push.Add(6*day)), labels: kept, now: push.Add(30 * day),
			want: TTLDecision{ClearWarning: true},
		},
		"no push recorded: counts from the namespace's creation": {
			policy: policy, ann: map[string]string{AnnotationHeadSHA: "aaa"}, now: created.Add(6 * day),
			want: TTLDecision{Warn: true, RemoveAt: created.Add(7 * day), Next: created.Add(7 * day)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.DeepEqual(t, DecideTTL(tc.policy, tc.ann, tc.labels, created, tc.now), tc.want)
		})
	}
}

func TestRemovalRequested(t *testing.T) {
	tests := map[string]struct {
		ann  map[string]string
		want bool
	}{
		"none":                         {ann: map[string]string{AnnotationHeadSHA: "aaa"}},
		"for the head":                 {ann: map[string]string{AnnotationHeadSHA: "aaa", AnnotationRemoveSHA: "aaa"}, want: true},
		"superseded by a push":         {ann: map[string]string{AnnotationHeadSHA: "bbb", AnnotationRemoveSHA: "aaa"}},
		"record without head (orphan)": {ann: map[string]string{AnnotationRemoveSHA: "-"}, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, RemovalRequested(tc.ann), tc.want)
		})
	}
}

func TestRetestLiftsRemoval(t *testing.T) {
	ann := map[string]string{AnnotationHeadSHA: "aaa", AnnotationCancelSHA: "aaa"}
	RemovalRequest("aaa", "alice", RemoveReasonDelete, time.Unix(0, 0)).Apply(ann)
	assert.Assert(t, RemovalRequested(ann))
	RetestRequest("aaa", "bob", "n1").Apply(ann)
	assert.Assert(t, !RemovalRequested(ann))
	assert.DeepEqual(t, ann, map[string]string{AnnotationHeadSHA: "aaa", AnnotationRetestSHA: "aaa", AnnotationRetestNonce: "n1", AnnotationRetestBy: "bob"})
}
