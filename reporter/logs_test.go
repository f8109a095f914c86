package reporter

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestMask(t *testing.T) {
	key := "-----BEGIN KEY-----\nMIIEowIBAAKCAQEA\n-----END KEY-----\n"
	const token = "ghs_s3cr3t/t0ken+x=="
	docker := `{"auths":{"registry.example.com":{"username":"bot","password":"r3g-pa55word","auth":"` +
		base64.StdEncoding.EncodeToString([]byte("bot:r3g-pa55word")) + `"}}}`
	tests := map[string]struct {
		text    string
		secrets []string
		want    string
	}{
		"value":                    {text: "password=hunter2 ok", secrets: secretForms("hunter2\n"), want: "password=*** ok"},
		"base64":                   {text: "X-Auth: " + base64.StdEncoding.EncodeToString([]byte(token)), secrets: secretForms(token), want: "X-Auth: ***"},
		"base64 of echo (newline)": {text: "b64 " + base64.StdEncoding.EncodeToString([]byte(token+"\n")), secrets: secretForms(token), want: "b64 ***"},
		"url-encoded":              {text: "https://x/?t=" + url.QueryEscape(token) + "&a=1", secrets: secretForms(token), want: "https://x/?t=***&a=1"},
		"json-escaped":             {text: `{"token":"` + strings.ReplaceAll(token, "/", `\/`) + `"} {"k":"a\"b\\c-long"}`, secrets: append(secretForms(token), secretForms(`a"b\c-long`)...), want: `{"token":"***"} {"k":"***"}`},
		"ansi inside a value":      {text: "token ghs_s3\x1b[31mcr3t/t0ken+x== ok", secrets: secretForms(token), want: "token *** ok"},
		"dockerconfigjson strings": {text: "login bot r3g-pa55word " + base64.StdEncoding.EncodeToString([]byte("bot:r3g-pa55word")), secrets: secretForms(docker), want: "login bot *** ***"},
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
