package previewmcp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/catalyst-preview/catalyst/preview"
)

// confirmationTTL bounds how long a confirmation token stays good: long enough for a person
// to read the question, short enough that an old token found in a transcript is worthless.
const confirmationTTL = 5 * time.Minute

// DeleteInput selects delete_preview_environment.
type DeleteInput struct {
	Environment  string `json:"environment" jsonschema:"the environment: OWNER/REPO#N, the pull request's URL, or its namespace (pr-REPO-N)"`
	Confirmation string `json:"confirmation,omitempty" jsonschema:"the confirmation token of a first call that answered status confirmation_required; pass it only after the user agreed"`
}

// Delete statuses.
const (
	DeleteRequested            = "requested"             // the removal is recorded; the trigger carries it out
	DeleteConfirmationRequired = "confirmation_required" // ask the user, then call again with the token
	DeleteDeclined             = "declined"              // the user said no: nothing was done
)

// DeleteOutput says what happened.
type DeleteOutput struct {
	Status      string `json:"status" jsonschema:"requested, confirmation_required or declined"`
	Environment string `json:"environment"`
	Namespace   string `json:"namespace"`
	SHA         string `json:"sha,omitempty"`
	// Confirmation is the token to call again with, once the user agreed; it is bound to the
	// environment, its head commit and the caller, and expires at ExpiresAt.
	Confirmation string     `json:"confirmation,omitempty"`
	ExpiresAt    *time.Time `json:"expiresAt,omitempty"`
	Message      string     `json:"message"`
}

func (s *server) delete(ctx context.Context, req *mcp.CallToolRequest, in DeleteInput) (*mcp.CallToolResult, *DeleteOutput, error) {
	r, err := ref(in.Environment)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.client(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	// What the user confirms: the environment as the caller sees it now.
	d, err := c.Get(ctx, r, preview.GetOptions{Runs: 1})
	if err != nil {
		return nil, nil, toolError(err)
	}
	out := &DeleteOutput{Environment: d.Ref().String(), Namespace: d.Namespace, SHA: d.HeadSHA}
	question := fmt.Sprintf("Delete the preview environment of %s (namespace %s, commit %.7s, %s)? Its runs stop, the cleanup runs and the namespace is deleted; a later push or retry brings it back.",
		out.Environment, d.Namespace, d.HeadSHA, d.State)

	ask, err := s.confirm(req, "delete", in.Confirmation, question, "Delete "+out.Environment, d.Namespace, d.HeadSHA)
	switch {
	case err != nil:
		return nil, nil, err
	case ask.input != nil:
		return ask.input, nil, nil
	case ask.token != "":
		out.Status, out.Confirmation, out.ExpiresAt = DeleteConfirmationRequired, ask.token, ask.expires
		out.Message = question + " Ask the user; if they agree, call " + ToolDelete + " again with this confirmation token."
		return nil, out, nil
	case ask.declined != "":
		out.Status = DeleteDeclined
		out.Message = "The user did not confirm (" + ask.declined + "): nothing was deleted."
		return nil, out, nil
	}
	res, err := c.Delete(ctx, r, preview.DeleteOptions{})
	if err != nil {
		return nil, nil, toolError(err)
	}
	out.Status, out.Namespace, out.SHA = DeleteRequested, res.Namespace, res.SHA
	out.Message = "Removal requested: the trigger stops the runs, runs the cleanup and deletes the namespace. get_preview_environment shows the progress."
	return nil, out, nil
}

// asked is where a confirmation stands: go ahead (zero), ask through the client (input),
// hand a token to the agent (token), or the user declined.
type asked struct {
	input    *mcp.CallToolResult
	token    string
	expires  *time.Time
	declined string
}

// confirm decides whether the user confirmed op on what. A client that can ask its user gets
// an input request (MCP elicitation, as a multi round-trip request whose state is a token
// bound to op, what and the caller, so a retry cannot confirm something else); the answer
// comes back with the retried call. Otherwise the agent gets a token to call again with once
// the user agreed.
func (s *server) confirm(req *mcp.CallToolRequest, op, token, question, title string, what ...string) (asked, error) {
	caller := s.o.Caller(req)
	if resp, ok := req.Params.InputResponses["confirm"]; ok {
		if err := s.checkToken(req.Params.RequestState, op, caller, what...); err != nil {
			return asked{}, err
		}
		res, ok := resp.(*mcp.ElicitResult)
		if !ok || res == nil {
			return asked{}, fmt.Errorf("%s: the confirmation answer is not an elicitation result", preview.KindInvalid)
		}
		if res.Action != "accept" || res.Content["confirm"] != true {
			return asked{declined: cmpOr(res.Action, "no")}, nil
		}
		return asked{}, nil
	}
	if token != "" {
		return asked{}, s.checkToken(token, op, caller, what...)
	}
	exp := s.o.Now().Add(confirmationTTL).UTC().Truncate(time.Second)
	tok := s.token(exp, op, caller, what...)
	if elicits(req) {
		return asked{input: &mcp.CallToolResult{
			InputRequests: mcp.InputRequestMap{"confirm": &mcp.ElicitParams{
				Message: question,
				RequestedSchema: map[string]any{
					"type":       "object",
					"properties": map[string]any{"confirm": map[string]any{"type": "boolean", "title": title}},
					"required":   []string{"confirm"},
				},
			}},
			RequestState: tok,
		}}, nil
	}
	return asked{token: tok, expires: &exp}, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// elicits says whether the client can ask its user (form elicitation).
func elicits(req *mcp.CallToolRequest) bool {
	caps := req.ClientCapabilities()
	return caps != nil && caps.Elicitation != nil && (caps.Elicitation.Form != nil || caps.Elicitation.URL == nil)
}

// token is "<unix expiry>.<HMAC>" over the operation, the expiry, the caller and what is
// confirmed (a namespace and its head commit; gc's selection): it confirms this operation on
// this, for this caller, for a while.
func (s *server) token(exp time.Time, op, caller string, what ...string) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + s.mac(op, e, caller, what)
}

func (s *server) mac(op, exp, caller string, what []string) string {
	h := hmac.New(sha256.New, s.o.Secret)
	h.Write([]byte(strings.Join(append([]string{op, exp, caller}, what...), "\x00")))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func (s *server) checkToken(token, op, caller string, what ...string) error {
	tool := map[string]string{"delete": ToolDelete, "gc": ToolGC}[op]
	e, sig, ok := strings.Cut(token, ".")
	unix, err := strconv.ParseInt(e, 10, 64)
	if !ok || err != nil || !hmac.Equal([]byte(sig), []byte(s.mac(op, e, caller, what))) {
		return fmt.Errorf("%s: the confirmation token is not for this (another environment, a push since, another selection?) or not for you: call %s without it to get a new one", preview.KindInvalid, tool)
	}
	if s.o.Now().After(time.Unix(unix, 0)) {
		return fmt.Errorf("%s: the confirmation token expired: call %s without it to get a new one", preview.KindInvalid, tool)
	}
	return nil
}
