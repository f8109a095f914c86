package githubapp

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// GitHub's secondary rate limits punish bursts of writes with a block of a minute or more
// ("You have exceeded a secondary rate limit"): no more than 80 content-generating requests
// per minute and 500 per hour, and no more than 900 points per minute per REST endpoint, a
// write costing 5 (180 writes a minute). A queue draining or a breaker closing would send such
// a burst at once. The pacer keeps each installation under those limits by counting its writes
// in sliding windows; a write that would cross one is not sent and the caller is told when to
// try again (it requeues, holding no worker). Best-effort writes (live progress) go only while
// every window is less than half used, so they never take the room a state change needs.

// writeClass is what a request counts against.
type writeClass int

const (
	classRead     writeClass = iota // not paced
	classComment                    // issue comments: content-generating, notifications
	classCheckRun                   // check runs: per-endpoint point limit
)

// limit is at most n requests in any period.
type limit struct {
	n      int
	period time.Duration
}

// pacer is the sliding-window write log of one installation. Not safe for concurrent use; the
// guard holds its lock.
type pacer struct {
	limits map[writeClass][]limit
	sent   map[writeClass][]time.Time // oldest first, within the longest period
}

func newPacer(p Policy) *pacer {
	return &pacer{
		limits: map[writeClass][]limit{
			classComment:  {{p.ContentPerMinute, time.Minute}, {p.ContentPerHour, time.Hour}},
			classCheckRun: {{p.WritesPerMinute, time.Minute}},
		},
		sent: map[writeClass][]time.Time{},
	}
}

// admit records a write of class at now when every window has room (half of it for a
// best-effort write); otherwise it says how long until there is room.
func (p *pacer) admit(class writeClass, now time.Time, bestEffort bool) (time.Duration, bool) {
	limits := p.limits[class]
	if len(limits) == 0 {
		return 0, true
	}
	longest := time.Duration(0)
	for _, l := range limits {
		longest = max(longest, l.period)
	}
	sent := p.sent[class]
	for len(sent) > 0 && !sent[0].After(now.Add(-longest)) {
		sent = sent[1:]
	}
	var wait time.Duration
	for _, l := range limits {
		room := l.n
		if bestEffort {
			room = l.n / 2
		}
		if room <= 0 {
			wait = max(wait, l.period)
			continue
		}
		in := 0
		for i := len(sent) - 1; i >= 0 && sent[i].After(now.Add(-l.period)); i-- {
			in++
		}
		if in >= room {
			// Room returns when the oldest write that must leave the window does.
			oldest := sent[len(sent)-in+(in-room)]
			wait = max(wait, oldest.Add(l.period).Sub(now))
		}
	}
	p.sent[class] = sent
	if wait > 0 {
		return wait, false
	}
	p.sent[class] = append(sent, now)
	return 0, true
}

// PacedError says a write was not sent because it would have crossed GitHub's secondary
// limits for this installation; nothing was sent. A required write is retried after Wait; a
// best-effort one (BestEffort) is simply dropped (IsDeferred).
type PacedError struct {
	InstallationID int64
	Wait           time.Duration
	BestEffort     bool
}

func (e *PacedError) Error() string {
	if e.BestEffort {
		return fmt.Sprintf("github write budget of installation %d is half used: best-effort write dropped", e.InstallationID)
	}
	return fmt.Sprintf("github write paced for installation %d (secondary limits): retry in %s", e.InstallationID, e.Wait.Round(time.Millisecond))
}

type bestEffortKey struct{}

// BestEffort marks the writes made with ctx as optional: they go out only while the
// installation's write budget is less than half used and are otherwise dropped with an error
// IsDeferred recognises, leaving the room to state changes.
func BestEffort(ctx context.Context) context.Context {
	return context.WithValue(ctx, bestEffortKey{}, true)
}

func isBestEffort(ctx context.Context) bool { v, _ := ctx.Value(bestEffortKey{}).(bool); return v }

// IsDeferred is true when a best-effort write was dropped to leave room for required ones.
func IsDeferred(err error) bool {
	var pe *PacedError
	return errors.As(err, &pe) && pe.BestEffort
}
