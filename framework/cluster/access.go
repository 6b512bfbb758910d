package cluster

import (
	"context"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Access is one right the suite needs: a resource verb, or a non-resource URL.
type Access struct {
	Verb, Group, Resource, Subresource string
	// NonResourceURL, when set, replaces the resource fields.
	NonResourceURL string
	// Why says which step needs it.
	Why string
}

func (a Access) String() string {
	if a.NonResourceURL != "" {
		return fmt.Sprintf("%s %s", a.Verb, a.NonResourceURL)
	}
	r := a.Resource
	if a.Subresource != "" {
		r += "/" + a.Subresource
	}
	if a.Group != "" {
		r += "." + a.Group
	}
	return a.Verb + " " + r
}

// SuiteAccess is what the suite's tests need in an existing cluster.
var SuiteAccess = []Access{
	{Verb: "create", Resource: "namespaces", Why: "each feature runs in a namespace of its own"},
	{Verb: "delete", Resource: "namespaces", Why: "namespaces are removed after each feature"},
	{Verb: "list", Resource: "namespaces", Why: "removing the run's leftover namespaces at the end"},
	{Verb: "get", Resource: "serviceaccounts", Why: "waiting for a namespace's default ServiceAccount"},
	{Verb: "create", Resource: "pods", Why: "deploying the documented examples"},
	{Verb: "get", Resource: "pods", Subresource: "proxy", Why: "reading what a pod sees through the probe"},
	{Verb: "list", Resource: "events", Why: "reporting why a pod did not start"},
	{Verb: "get", Resource: "nodes", Why: "comparing token claims with the node"},
	{Verb: "get", NonResourceURL: "/.well-known/openid-configuration", Why: "the service-account issuer's discovery document"},
	{Verb: "get", NonResourceURL: "/openid/v1/jwks", Why: "the keys that verify service-account tokens"},
	{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Why: "TokenRequest, as kubectl create token does"},
	{Verb: "create", Group: "authentication.k8s.io", Resource: "tokenreviews", Why: "asking who a token authenticates as"},
	{Verb: "create", Resource: "secrets", Why: "the documented Secrets projected into pods"},
	{Verb: "delete", Resource: "serviceaccounts", Why: "a deleted ServiceAccount invalidates its tokens"},
	{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Why: "granting OIDC discovery to an anonymous relying party for one test"},
	{Verb: "delete", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Why: "removing that grant"},
}

// CheckAccess asks the API server (SelfSubjectAccessReview) whether the
// kubeconfig's user has every right; the error lists each one missing and why
// the suite needs it.
func CheckAccess(ctx context.Context, cs kubernetes.Interface, needs []Access) error {
	var missing []string
	for _, a := range needs {
		review := &authorizationv1.SelfSubjectAccessReview{}
		if a.NonResourceURL != "" {
			review.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: a.NonResourceURL, Verb: a.Verb}
		} else {
			review.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource}
		}
		res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("check access (%s): %w", a, err)
		}
		if !res.Status.Allowed {
			missing = append(missing, fmt.Sprintf("%s (%s)", a, a.Why))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the kubeconfig's user lacks rights the suite needs:\n  %s", strings.Join(missing, "\n  "))
	}
	return nil
}
