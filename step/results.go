package step

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Tekton result names written by the steps. The Tasks in tasks/ declare the same names; a
// test there checks that every declared result is produced.
const (
	ResultURL             = "url"
	ResultReleaseRevision = "release-revision"
)

// DeployResults are the results the deploy subcommand writes.
var DeployResults = []string{ResultURL, ResultReleaseRevision}

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
	"healthcheck": nil,
	"cleanup":     nil,
}
