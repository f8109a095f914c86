package cluster_test

import (
	"os"
	"testing"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

func TestMain(m *testing.M) {
	os.Exit(cluster.RunMain(m, nil))
}
