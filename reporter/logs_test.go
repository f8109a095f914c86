package reporter

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestMask(t *testing.T) {
	key := "-----BEGIN KEY-----\nMIIEowIBAAKCAQEA\n-----END KEY-----\n"
	tests := map[string]struct {
		text    string
		secrets []string
		want    string
	}{
		"value":                    {text: "password=hunter2 ok", secrets: secretForms("hunter2\n"), want: "password=*** ok"},
		"every occurrence":         {text: "a hunter2 b hunter2", secrets: []string{"hunter2"}, want: "a *** b ***"},
		"longest first":            {text: "token abcd-efgh", secrets: []string{"abcd", "abcd-efgh"}, want: "token ***"},
		"multi-line value by line": {text: "key line MIIEowIBAAKCAQEA leaked", secrets: secretForms(key), want: "key line *** leaked"},
		"too short to mask":        {text: "a b c", secrets: []string{"a", "b c"}, want: "a b c"},
		"no secrets":               {text: "plain", want: "plain"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, mask(tc.text, tc.secrets), tc.want)
		})
	}
}

// The excerpt falls back to the TaskRun's message when the log cannot be read, says why, and
// masks secrets in both.
func TestExcerptFallback(t *testing.T) {
	f := fixtures["failed-unclassified-log-unreadable"]
	r := f.report(t)
	assert.Assert(t, r.Excerpt != nil)
	assert.Check(t, !r.Excerpt.FromLog)
	assert.Check(t, is.Contains(r.Excerpt.Missing, `pods "pod-gone" not found`))
	assert.Check(t, is.Contains(r.Excerpt.Text, `"step-helm" exited with code 3: Error`))
	assert.Check(t, is.Contains(r.Excerpt.Text, "helm: UPGRADE FAILED"), "the step's termination message")

	ok := fixtures["failed-application"].report(t)
	assert.Check(t, ok.Excerpt.FromLog)
	assert.Check(t, is.Contains(ok.Excerpt.Text, "postgres://shop:***@db"))
}
