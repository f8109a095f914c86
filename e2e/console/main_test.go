package console

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
	"github.com/catalyst-preview/catalyst/e2e/oidcsim"
)

// Client IDs the provider knows: the console (confidential) and previewctl (public).
const (
	consoleClient = "catalyst-console"
	cliClient     = "previewctl"
)

// Users of the tests: alice and bob each own one environment (a RoleBinding to the operator
// rules in their PR namespace), carol may only look at alice's (viewer rules), mallory's
// provider claims a system group.
var users = []oidcsim.User{
	{Name: "alice", Groups: []string{"team-a"}},
	{Name: "bob", Groups: []string{"team-b"}},
	{Name: "carol", Groups: []string{"team-a"}},
	{Name: "mallory", Groups: []string{"system:masters"}},
}

var (
	idp *oidcsim.Provider // the package's identity provider; the apiserver trusts it for both clients
	con *consoleProcess   // the console, signed in through idp
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	// The console's address is chosen first: the provider registers its redirect URI.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	addr := l.Addr().String()
	l.Close()
	idp, err = oidcsim.New(oidcsim.Options{
		Users: users,
		Clients: []oidcsim.Client{
			{ID: consoleClient, Secret: "console-secret", RedirectURIs: []string{"http://" + addr + "/auth/callback"}},
			{ID: cliClient},
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer idp.Close()
	dir, err := os.MkdirTemp("", "catalyst-console-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	defer func() {
		if con != nil {
			con.stop()
		}
	}()
	return cluster.RunMainWith(m, cluster.Options{AuthenticationConfig: idp.AuthenticationConfig(consoleClient, cliClient)},
		func(ctx context.Context, c *cluster.Cluster) error {
			con, err = startConsole(ctx, c, addr, filepath.Join(dir, "console"))
			return err
		})
}
