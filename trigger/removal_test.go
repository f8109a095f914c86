package trigger

import (
	"testing"
	"time"

	"gotest.tools/v3/golden"
)

func TestTTLWarningGolden(t *testing.T) {
	rec := prRecord{Name: "pr-shop-42", Repo: "acme/shop", Number: 42}
	body := ttlWarning(rec, testNow.Add(-6*24*time.Hour), testNow.Add(24*time.Hour), 7*24*time.Hour)
	golden.Assert(t, body, "ttl-warning.golden.md")
}
