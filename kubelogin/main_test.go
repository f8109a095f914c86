package kubelogin

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/oidcsim"
)

// pluginEnv makes the test binary act as `previewctl token` when kubectl runs it as the exec
// plugin, so that the end-to-end test exercises RunToken as previewctl calls it.
const pluginEnv = "KUBELOGIN_TEST_EXEC_PLUGIN"

// issuer is the identity provider the package's apiserver trusts for the audience "previewctl".
var issuer *oidcsim.Provider

func TestMain(m *testing.M) {
	if os.Getenv(pluginEnv) != "" {
		// kubectl runs: <this binary> token --issuer=... --client-id=...
		if err := RunToken(context.Background(), os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	var err error
	issuer, err = oidcsim.New(oidcsim.Options{
		Users:   []oidcsim.User{{Name: "alice", Groups: []string{"team-a"}}, {Name: "bob"}},
		Clients: []oidcsim.Client{{ID: clientID}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := cluster.RunMainWith(m, cluster.Options{AuthenticationConfig: issuer.AuthenticationConfig(clientID)}, nil)
	issuer.Close()
	os.Exit(code)
}
