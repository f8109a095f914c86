package preview

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

func TestSelectGC(t *testing.T) {
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	env := func(name string, edit func(*Environment)) Environment {
		e := Environment{Namespace: name, Repo: "acme/shop", PR: 1, PRState: PRStateOpen, IdleSince: now.Add(-day)}
		if edit != nil {
			edit(&e)
		}
		return e
	}
	envs := []Environment{
		env("fresh", nil),
		env("idle", func(e *Environment) { e.IdleSince = now.Add(-10 * day) }),
		env("idle-kept", func(e *Environment) { e.IdleSince = now.Add(-10 * day); e.Kept = true }),
		env("closed", func(e *Environment) { e.PRState = PRStateMerged }),
		env("closed-kept", func(e *Environment) { e.PRState = PRStateClosed; e.Kept = true }),
		env("unconfigured", func(e *Environment) { e.Gate = GateUnconfigured }),
		env("broken", func(e *Environment) { e.Repo = "" }),
		env("idle-closed", func(e *Environment) { e.PRState = PRStateClosed; e.IdleSince = now.Add(-10 * day) }),
	}
	type pick struct{ Name, Reason string }
	tests := map[string]struct {
		o        GCOptions
		selected []pick
		kept     []string
	}{
		"default: closed and orphaned": {
			selected: []pick{{"closed", GCClosed}, {"closed-kept", GCClosed}, {"unconfigured", GCOrphan}, {"broken", GCOrphan}, {"idle-closed", GCClosed}},
		},
		"closed only": {
			o:        GCOptions{Closed: true},
			selected: []pick{{"closed", GCClosed}, {"closed-kept", GCClosed}, {"idle-closed", GCClosed}},
		},
		"orphans only": {
			o:        GCOptions{Orphans: true},
			selected: []pick{{"unconfigured", GCOrphan}, {"broken", GCOrphan}},
		},
		"idle only: the keep label exempts": {
			o:        GCOptions{Idle: 7 * day},
			selected: []pick{{"idle", GCIdle}, {"idle-closed", GCIdle}},
			kept:     []string{"idle-kept"},
		},
		"idle threshold not reached": {
			o: GCOptions{Idle: 30 * day},
		},
		"everything": {
			o: GCOptions{Closed: true, Orphans: true, Idle: 7 * day},
			selected: []pick{{"idle", GCIdle}, {"closed", GCClosed}, {"closed-kept", GCClosed}, {"unconfigured", GCOrphan},
				{"broken", GCOrphan}, {"idle-closed", GCClosed}},
			kept: []string{"idle-kept"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sel, kept := SelectGC(envs, tc.o, now)
			var got []pick
			for _, it := range sel {
				got = append(got, pick{it.Environment.Namespace, it.Reason})
			}
			var gotKept []string
			for _, it := range kept {
				gotKept = append(gotKept, it.Environment.Namespace)
				assert.Equal(t, it.Action, GCKept)
			}
			assert.DeepEqual(t, got, tc.selected)
			assert.DeepEqual(t, gotKept, tc.kept)
		})
	}
}
