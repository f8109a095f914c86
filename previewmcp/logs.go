package previewmcp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/catalyst-preview/catalyst/preview"
)

// Bounds of one get_preview_logs answer: an agent's context is small and a build log is not.
// The answer carries the lines twice (structured, and as text for clients that read only
// text), so each copy gets less than half of maxLogBytes.
const (
	maxLogBytes = 256 << 10
	copyBudget  = 120 << 10
	maxTail     = 2000
	defaultTail = 500
)

// LogsInput selects get_preview_logs.
type LogsInput struct {
	Environment string `json:"environment" jsonschema:"the environment: OWNER/REPO#N, the pull request's URL, or its namespace (pr-REPO-N)"`
	Run         string `json:"run,omitempty" jsonschema:"a PipelineRun by name (get_preview_environment lists them); default: the head commit's latest attempt"`
	Task        string `json:"task,omitempty" jsonschema:"only this pipeline task: build, deploy or healthcheck"`
	App         bool   `json:"app,omitempty" jsonschema:"read the application's containers instead of the pipeline's"`
	Tail        int    `json:"tail,omitempty" jsonschema:"only the last N lines (default 500, at most 2000)"`
	Since       string `json:"since,omitempty" jsonschema:"only lines newer than this duration, such as 10m or 1h"`
}

// LogsOutput is a bounded piece of a log.
type LogsOutput struct {
	Lines []preview.LogLine `json:"lines"`
	// Truncated: older lines were left out to stay within the tail and the size bound.
	Truncated bool `json:"truncated"`
	// Bytes is the size of the lines returned, as JSON.
	Bytes int `json:"bytes"`
}

func (s *server) logs(ctx context.Context, req *mcp.CallToolRequest, in LogsInput) (*mcp.CallToolResult, *LogsOutput, error) {
	r, err := ref(in.Environment)
	if err != nil {
		return nil, nil, err
	}
	tail := in.Tail
	switch {
	case tail < 0:
		return nil, nil, fmt.Errorf("%s: tail must be positive, got %d", preview.KindInvalid, tail)
	case tail == 0:
		tail = defaultTail
	case tail > maxTail:
		tail = maxTail
	}
	var since time.Duration
	if in.Since != "" {
		if since, err = time.ParseDuration(in.Since); err != nil || since <= 0 {
			return nil, nil, fmt.Errorf("%s: since must be a positive duration such as 10m, got %q", preview.KindInvalid, in.Since)
		}
	}
	c, err := s.client(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	o := preview.LogOptions{Run: in.Run, Task: in.Task, App: in.App}
	if in.App {
		o.Tail, o.Since = int64(tail), since // bounded at the source too
	}
	b := &bounded{tail: tail, maxBytes: copyBudget}
	cutoff := time.Time{}
	if since > 0 {
		cutoff = s.o.Now().Add(-since)
	}
	err = c.Logs(ctx, r, o, func(l preview.LogLine) error {
		if !cutoff.IsZero() && !l.Time.IsZero() && l.Time.Before(cutoff) {
			return nil
		}
		b.add(l)
		return nil
	})
	if err != nil {
		return nil, nil, toolError(err)
	}
	out := b.output()
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: out.text()}}}, out, nil
}

// text is the log as `previewctl logs` prints it, for clients that read text content only.
func (o *LogsOutput) text() string {
	var sb strings.Builder
	if o.Truncated {
		sb.WriteString("[older lines left out]\n")
	}
	for _, l := range o.Lines {
		switch {
		case l.Note:
			sb.WriteString("# ")
		case l.Task != "":
			fmt.Fprintf(&sb, "[%s : %s] ", l.Task, l.Step)
		case l.Pod != "":
			fmt.Fprintf(&sb, "[%s/%s] ", l.Pod, l.Container)
		}
		sb.WriteString(l.Line)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// bounded keeps the last lines of a log within a line count and a byte size: a ring of at
// most tail lines, dropping the oldest while the text is over maxBytes.
type bounded struct {
	tail, maxBytes int
	lines          []preview.LogLine
	sizes          []int
	bytes          int
	dropped        bool
}

func (b *bounded) add(l preview.LogLine) {
	if len(l.Line) > b.maxBytes/2 { // one huge line: keep its end, as a tail would
		l.Line = strings.ToValidUTF8(l.Line[len(l.Line)-b.maxBytes/2:], "")
		b.dropped = true
	}
	b.lines = append(b.lines, l)
	b.sizes = append(b.sizes, size(l))
	b.bytes += b.sizes[len(b.sizes)-1]
	for len(b.lines) > b.tail || b.bytes > b.maxBytes {
		b.bytes -= b.sizes[0]
		b.lines, b.sizes = b.lines[1:], b.sizes[1:]
		b.dropped = true
	}
}

// size is a line's size as JSON (escapes included), plus the separator.
func size(l preview.LogLine) int {
	data, _ := json.Marshal(l)
	return len(data) + 1
}

func (b *bounded) output() *LogsOutput {
	lines := b.lines
	if lines == nil {
		lines = []preview.LogLine{}
	}
	return &LogsOutput{Lines: lines, Truncated: b.dropped, Bytes: b.bytes}
}
