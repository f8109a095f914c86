package step

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/catalyst-preview/catalyst/preview"
)

// Tekton result names written by the steps. The Tasks in tasks/ declare the same names; a
// test there checks that every declared result is produced.
const (
	ResultURL             = "url"
	ResultReleaseRevision = "release-revision"
)

// ResultDiagnostics is the diagnostics result (preview.ResultDiagnostics).
const ResultDiagnostics = preview.ResultDiagnostics

// DeployResults are the results the deploy subcommand writes.
var DeployResults = []string{ResultURL, ResultReleaseRevision, ResultDiagnostics}

// DefaultResultsDir is where Tekton collects task results from.
const DefaultResultsDir = "/tekton/results"

// WriteResults writes each result as a file named after it in dir, the way Tekton reads task
// results. An empty dir writes nothing (used when the step runs outside Tekton).
func WriteResults(dir string, results map[string]string) error {
	if dir == "" {
		return nil
	}
	names := make([]string, 0, len(results))
	for name := range results {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// No trailing newline: Tekton passes the file's content on verbatim.
		if err := os.WriteFile(filepath.Join(dir, name), []byte(results[name]), 0o644); err != nil {
			return fmt.Errorf("write result %q: %w", name, err)
		}
	}
	return nil
}

// SubcommandResults lists the Tekton results each subcommand writes to --results-dir.
var SubcommandResults = map[string][]string{
	"deploy":      DeployResults,
	"healthcheck": {ResultDiagnostics},
	"cleanup":     nil,
}

// writeResults writes results plus the diagnostics of err (an empty list on success) to dir,
// and returns err (joined with a write failure, if any).
func (r *Runner) writeResults(dir string, results map[string]string, err error) error {
	if dir == "" {
		return err
	}
	ds := Diagnostics(err)
	if ds == nil {
		ds = []preview.Diagnostic{}
	}
	enc, encErr := preview.EncodeDiagnostics(ds)
	if encErr != nil {
		return errors.Join(err, encErr)
	}
	out := map[string]string{ResultDiagnostics: enc}
	for k, v := range results {
		out[k] = v
	}
	if werr := WriteResults(dir, out); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}
