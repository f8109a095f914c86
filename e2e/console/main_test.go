package console

import (
	"fmt"
	"os"
	"testing"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/oidcsim"
)

// Client IDs the provider knows: the console (confidential) and previewctl (public).
const (
	consoleClient = "catalyst-console"
	cliClient     = "previewctl"
)

// idp is the package's identity provider; the apiserver trusts it for both clients.
var idp *oidcsim.Provider

func TestMain(m *testing.M) {
	var err error
	idp, err = oidcsim.New(oidcsim.Options{
		Users: []oidcsim.User{
			{Name: "alice", Groups: []string{"team-a"}},
			{Name: "bob", Groups: []string{"team-b"}},
			{Name: "mallory", Groups: []string{"system:masters"}},
		},
		Clients: []oidcsim.Client{{ID: consoleClient, Secret: "console-secret"}, {ID: cliClient}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := cluster.RunMainWith(m, cluster.Options{AuthenticationConfig: idp.AuthenticationConfig(consoleClient, cliClient)}, nil)
	idp.Close()
	os.Exit(code)
}
