package console

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/catalyst-preview/catalyst/preview"
)

type logsView struct {
	Env       envRow
	Back      string
	Stream    string // the SSE URL the script opens
	Download  string
	Run, Task string
	App       bool
	Tail      string
	Since     string
	Previous  bool
	Follow    bool
	MaxLines  int
	Runs      []option
	Tasks     []option
	Denied    string
}

// logsPage is the log viewer: a form choosing what to read (works without JavaScript) and the
// live view, which needs JavaScript (EventSource).
func (s *Server) logsPage(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	o, err := logOptions(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := p.Get(r.Context(), ref, preview.GetOptions{Runs: 10})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	follow := q.Get("follow") != "0" // on by default
	v := logsView{Env: rowOf(&d.Environment, s.o.Now()), Back: "/environments/" + url.PathEscape(d.Namespace),
		Run: o.Run, Task: o.Task, App: o.App, Tail: q.Get("tail"), Since: q.Get("since"), Previous: o.Previous,
		Follow: follow, MaxLines: s.o.LogLines, Denied: s.permissions(r, p, ref).Logs}
	v.Runs = append(v.Runs, option{Value: "", Label: "latest run", Selected: o.Run == ""})
	tasks := map[string]bool{}
	v.Tasks = append(v.Tasks, option{Value: "", Label: "all tasks", Selected: o.Task == ""})
	for _, run := range d.Runs {
		v.Runs = append(v.Runs, option{Value: run.Name, Label: fmt.Sprintf("%s (%s, %s)", run.Name, short(run.SHA), run.State), Selected: run.Name == o.Run})
		for _, t := range run.Tasks {
			if !tasks[t.Name] {
				tasks[t.Name] = true
				v.Tasks = append(v.Tasks, option{Value: t.Name, Label: t.Name, Selected: t.Name == o.Task})
			}
		}
	}
	stream := url.Values{}
	for k, vs := range q {
		if k != "follow" {
			stream[k] = vs
		}
	}
	if follow {
		stream.Set("follow", "1")
	}
	v.Stream = v.Back + "/logs/stream?" + stream.Encode()
	stream.Del("follow")
	v.Download = v.Back + "/logs/download?" + stream.Encode()
	s.pages.render(w, r, http.StatusOK, "logs", "Logs of "+d.Namespace, v)
}

// sseWriter writes Server-Sent Events. Log lines go out in batches ("lines" events holding a
// JSON array of at most batchLines), written when a batch is full or every flushEvery: a
// 100,000-line log is a few hundred events and large writes, not 100,000 of each, and a quiet
// stream still shows each new line within flushEvery.
type sseWriter struct {
	mu      sync.Mutex
	w       *bufio.Writer
	flusher http.Flusher
	batch   [][]byte
	sent    int // lines written so far: the id of the next batch's event
	dirty   bool
	err     error
}

const (
	flushEvery = 100 * time.Millisecond
	batchLines = 500
)

func (s *sseWriter) line(data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch = append(s.batch, data)
	if len(s.batch) >= batchLines {
		s.writeBatch()
	}
	return s.err
}

// writeBatch writes the pending lines as one event whose id is the count of lines sent, so
// a reconnecting EventSource (Last-Event-ID) gets only what it has not seen. Caller holds mu.
func (s *sseWriter) writeBatch() {
	if len(s.batch) == 0 || s.err != nil {
		return
	}
	s.sent += len(s.batch)
	_, _ = s.w.WriteString("id: " + strconv.Itoa(s.sent) + "\nevent: lines\ndata: [")
	for i, l := range s.batch {
		if i > 0 {
			_ = s.w.WriteByte(',')
		}
		_, _ = s.w.Write(l) // JSON: no newlines
	}
	_, s.err = s.w.WriteString("]\n\n")
	s.batch = s.batch[:0]
	s.dirty = true
}

// event writes one event after the pending lines.
func (s *sseWriter) event(name string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeBatch()
	_, _ = s.w.WriteString("event: " + name + "\ndata: ")
	_, _ = s.w.Write(data)
	_, _ = s.w.WriteString("\n\n")
	s.dirty = true
}

func (s *sseWriter) comment(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.w.WriteString(": " + text + "\n\n")
	s.dirty = true
}

func (s *sseWriter) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeBatch()
	if !s.dirty || s.err != nil {
		return s.err
	}
	if s.err = s.w.Flush(); s.err == nil {
		s.flusher.Flush()
	}
	s.dirty = false
	return s.err
}

// logStream streams log lines as Server-Sent Events: "lines" events (a JSON array of
// preview.LogLine, the id counting the lines sent), then one "end" or "error" event. A
// reconnecting EventSource sends Last-Event-ID and gets only the lines after it.
func (s *Server) logStream(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	o, err := logOptions(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, r, http.StatusInternalServerError, string(preview.KindInternal), "streaming is not supported here")
		return
	}
	skip := 0
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if n, err := strconv.Atoi(id); err == nil && n > 0 {
			skip = n
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // no buffering in a reverse proxy
	w.WriteHeader(http.StatusOK)
	sse := &sseWriter{w: bufio.NewWriterSize(w, 64<<10), flusher: flusher, sent: skip}
	sse.comment("catalyst log stream")
	_ = sse.flush()

	ctx := r.Context()
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(done); wg.Wait() }() // nothing writes to w after the handler returns
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(flushEvery)
		defer tick.Stop()
		keepalive := time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if now.Sub(keepalive) > 15*time.Second {
					sse.comment("keepalive")
					keepalive = now
				}
				_ = sse.flush()
			}
		}
	}()
	n := 0
	err = p.Logs(ctx, ref, o, func(l preview.LogLine) error {
		n++
		if n <= skip {
			return nil
		}
		data, err := json.Marshal(l)
		if err != nil {
			return err
		}
		return sse.line(data)
	})
	if ctx.Err() != nil {
		return // the browser went away
	}
	if err != nil {
		data, _ := json.Marshal(apiErrorBody{Code: string(preview.KindOf(err)), Message: err.Error()})
		sse.event("error", data)
	} else {
		msg := "end of log"
		if o.Follow {
			msg = "the run has ended"
		}
		data, _ := json.Marshal(map[string]any{"message": msg, "lines": n})
		sse.event("end", data)
	}
	_ = sse.flush()
}

// logDownload sends the whole log (never following) as plain text, each line labelled as
// `tkn pipelinerun logs` labels it.
func (s *Server) logDownload(w http.ResponseWriter, r *http.Request) {
	p, ref, ok := s.target(w, r)
	if !ok {
		return
	}
	o, err := logOptions(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	o.Follow = false
	name := ref.Namespace
	if o.Run != "" {
		name = o.Run
	}
	if o.App {
		name += "-app"
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	started := false
	err = p.Logs(r.Context(), ref, o, func(l preview.LogLine) error {
		if !started {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.log"`)
			started = true
		}
		_, err := bw.WriteString(formatLine(l) + "\n")
		return err
	})
	if err != nil && !started {
		s.fail(w, r, err)
		return
	}
	if err != nil {
		_, _ = bw.WriteString("[error] " + err.Error() + "\n")
	}
	if !started {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	_ = bw.Flush()
}

func formatLine(l preview.LogLine) string {
	switch {
	case l.Note:
		return "[note] " + l.Line
	case l.Task != "":
		return "[" + l.Task + " : " + l.Step + "] " + l.Line
	case l.Pod != "":
		return "[" + l.Pod + "/" + l.Container + "] " + l.Line
	}
	return l.Line
}
