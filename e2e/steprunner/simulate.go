package steprunner

import (
	"context"
	"fmt"
	"os"
)

// SourceDir is where the fetch step of the project's Tasks (tasks/*.yaml, the script marked
// "catalyst:fetch") checks the repository out, and the deploy step reads the chart from.
const SourceDir = "/workspace/source"

// FetchFrom returns a Simulator for the git fetch step: instead of cloning $REPO_URL at
// $REVISION into /workspace/source, it copies the folder source(repoURL) returns there (the
// pod's emptyDir, which the deploy step then reads), and logs that it did so. Any other
// simulated container just succeeds (Succeed). The fetch itself, with its git and token
// handling, is tested by running the real script against real repositories (tasks/fetch_test.go).
func FetchFrom(source func(repoURL string) (string, error)) Simulator {
	return func(ctx context.Context, s *Step) Outcome {
		repo, rev := s.Getenv("REPO_URL"), s.Getenv("REVISION")
		dst, ok := s.Local(SourceDir)
		if repo == "" || rev == "" || !ok {
			return Succeed(ctx, s)
		}
		src, err := source(repo)
		if err == nil {
			err = os.CopyFS(dst, os.DirFS(src))
		}
		if err != nil {
			return Outcome{ExitCode: 1, Log: fmt.Sprintf("e2e harness: simulated git fetch of %s: %v\n", repo, err)}
		}
		return Outcome{Log: fmt.Sprintf("e2e harness: git fetch simulated (no git server here): the files of %s stand for %s at %s\nfetched %s at %s\n",
			src, repo, rev, repo, rev)}
	}
}
