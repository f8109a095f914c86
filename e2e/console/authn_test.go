package console

import (
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

// asToken is a client that presents an ID token, as kubectl with an OIDC login does.
func asToken(c *cluster.Cluster, token string) *rest.Config {
	rc := c.RESTConfig()
	rc.BearerToken = token
	return rc
}

// The apiserver trusts the test provider: an ID token it issues is a Kubernetes credential for
// the user's email and groups — the same identity the console impersonates for that person.
func TestE2EAPIServerTrustsTheProvider(t *testing.T) {
	c := cluster.Require(t)
	for _, client := range []string{consoleClient, cliClient} {
		token, err := idp.IDToken("alice", client)
		assert.NilError(t, err)
		kube := kubernetes.NewForConfigOrDie(asToken(c, token))
		review, err := kube.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
		assert.NilError(t, err, client)
		assert.Check(t, is.Equal(review.Status.UserInfo.Username, "alice@example.com"), client)
		assert.Check(t, is.Contains(review.Status.UserInfo.Groups, "team-a"), client)
	}
	// a token for an audience the apiserver does not trust is refused
	token, err := idp.IDToken("alice", "someone-else")
	assert.NilError(t, err)
	_, err = kubernetes.NewForConfigOrDie(asToken(c, token)).AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	assert.Check(t, is.ErrorContains(err, "Unauthorized"))
}
