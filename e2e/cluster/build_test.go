package cluster_test

import (
	"bytes"
	"os"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

func TestWarmBuildBuildsNothing(t *testing.T) {
	cluster.Require(t) // RunMain has built the stack
	var progress bytes.Buffer
	bins, err := cluster.Build(t.Context(), &progress)
	assert.NilError(t, err)
	assert.Equal(t, progress.String(), "", "a warm Build must not build")
	for _, bin := range []string{bins.Etcd, bins.KubeAPIServer, bins.KubeControllerManager, bins.KubeScheduler, bins.KWOK, bins.TektonController} {
		info, err := os.Stat(bin)
		assert.NilError(t, err)
		assert.Assert(t, info.Mode()&0o111 != 0, "%s is not executable", bin)
	}
}
