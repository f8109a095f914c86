package ghsim

import (
	"testing"

	"github.com/google/go-github/v62/github"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/golden"
)

func TestConversationString(t *testing.T) {
	s, _ := newSim(t, Options{})
	ctx := t.Context()
	d, err := s.OpenPR(ctx, testRepo, PROptions{Author: "alice", Title: "Add cart", Labels: []string{"preview"}})
	assert.NilError(t, err)
	_, err = s.Comment(ctx, testRepo, 1, "alice", "/retest")
	assert.NilError(t, err)
	gh := installationClient(t, s, s.InstallationID("acme"))
	_, _, err = gh.Issues.CreateComment(ctx, "acme", "shop", 1, &github.IssueComment{
		Body: github.String("<!-- catalyst-preview:report -->\n### Preview ready\nhttps://1-shop.preview.example"),
	})
	assert.NilError(t, err)
	for _, name := range []string{"preview", "preview"} { // the older run is hidden
		_, _, err = gh.Checks.CreateCheckRun(ctx, "acme", "shop", github.CreateCheckRunOptions{
			Name: name, HeadSHA: d.HeadSHA, DetailsURL: github.String("https://console.example/pr/1"),
			Conclusion: github.String("success"),
			Output:     &github.CheckRunOutput{Title: github.String("Preview ready"), Summary: github.String("ok")},
		})
		assert.NilError(t, err)
	}

	conv, err := s.Conversation(testRepo, 1)
	assert.NilError(t, err)
	golden.Assert(t, conv.String(), "conversation.golden")
}
