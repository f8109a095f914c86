package process

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RaceFromEnv is whether the programs the harness builds get the race detector: Race, unless
// $CATALYST_E2E_RACE says 1 or 0.
func RaceFromEnv() bool {
	switch os.Getenv("CATALYST_E2E_RACE") {
	case "1", "true":
		return true
	case "0", "false":
		return false
	}
	return Race
}

// GoBuild builds the main packages (paths relative to the module root, "./cmd/trigger") into
// dir, with the race detector when race is set, and returns each binary's path by its name.
// Build output goes to progress.
func GoBuild(ctx context.Context, root, dir string, race bool, progress io.Writer, pkgs ...string) (map[string]string, error) {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s: %w", strings.Join(pkgs, " "), err)
	}
	out := map[string]string{}
	for _, p := range pkgs {
		out[filepath.Base(p)] = filepath.Join(dir, filepath.Base(p))
	}
	return out, nil
}
