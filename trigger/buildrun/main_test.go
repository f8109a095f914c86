package buildrun_test

import (
	"os"
	"testing"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

// TestMain starts the local control plane (etcd, kube-apiserver, controllers, KWOK, Tekton) for
// the integration tests; under -short only the unit tests run.
func TestMain(m *testing.M) { os.Exit(cluster.RunMain(m, nil)) }
