package preview

import "time"

// TTLPolicy is the idle time limit of environments (config preview.ttl and preview.ttlWarning).
type TTLPolicy struct {
	TTL  time.Duration // idle time after the last push; 0: environments never expire
	Warn time.Duration // the PR gets one warning comment this long before removal
}

// TTLDecision is what the TTL asks of one environment now.
type TTLDecision struct {
	// Warn: post the warning comment now, announcing removal at RemoveAt.
	Warn bool
	// Remove: the environment expired and its warning is old enough: request its removal.
	Remove bool
	// ClearWarning: the namespace is kept; forget the warning, so that unkeeping it warns again.
	ClearWarning bool
	// RemoveAt is when the environment goes (zero: never).
	RemoveAt time.Time
	// Next is when to look again (zero: only on the next change).
	Next time.Time
}

// DecideTTL applies the idle TTL to one open PR's environment. Removal always follows a warning
// by at least p.Warn, even when the TTL was shortened or the keep label removed late: nobody
// loses an environment without having been told.
func DecideTTL(p TTLPolicy, ann, labels map[string]string, created, now time.Time) TTLDecision {
	var d TTLDecision
	warnedSHA := ann[AnnotationTTLWarnedSHA]
	head := ann[AnnotationHeadSHA]
	if p.TTL <= 0 {
		return d
	}
	if Kept(labels) {
		d.ClearWarning = warnedSHA != ""
		return d
	}
	expiry := IdleSince(ann, created).Add(p.TTL)
	warnedAt, err := time.Parse(time.RFC3339, ann[AnnotationTTLWarnedAt])
	if warnedSHA == "" || warnedSHA != head || err != nil {
		warnAt := expiry.Add(-p.Warn)
		if now.Before(warnAt) {
			d.RemoveAt, d.Next = expiry, warnAt
			return d
		}
		d.Warn = true
		d.RemoveAt = later(expiry, now.Add(p.Warn))
		d.Next = d.RemoveAt
		return d
	}
	d.RemoveAt = later(expiry, warnedAt.Add(p.Warn))
	if now.Before(d.RemoveAt) {
		d.Next = d.RemoveAt
		return d
	}
	d.Remove = true
	return d
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
