package step

import (
	"os"
	"testing"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

// Tests named TestE2E* run against the local control plane (e2e/cluster); under -short they skip.
func TestMain(m *testing.M) { os.Exit(cluster.RunMain(m, nil)) }
