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

// RunAccess is what every feature needs, whatever it checks: a namespace of
// its own with the probe's Secret, its pods, reading them through the probe,
// and removing the run's leftovers. Existing-cluster mode checks it before any
// feature starts; a missing right fails the run, since every feature would.
var RunAccess = []Access{
	{Verb: "create", Resource: "namespaces", Why: "each feature runs in a namespace of its own"},
	{Verb: "delete", Resource: "namespaces", Why: "namespaces are removed after each feature"},
	{Verb: "list", Resource: "namespaces", Why: "removing the run's leftover namespaces at the end"},
	{Verb: "get", Resource: "serviceaccounts", Why: "waiting for a namespace's default ServiceAccount"},
	{Verb: "create", Resource: "secrets", Why: "the probe's Secret (the run's secret) in each namespace, and the documented Secrets"},
	{Verb: "create", Resource: "pods", Why: "deploying the documented examples"},
	{Verb: "get", Resource: "pods", Why: "every wait for a pod"},
	{Verb: "delete", Resource: "pods", Why: "deleting pods"},
	{Verb: "get", Resource: "pods", Subresource: "proxy", Why: "reading what a pod sees through the probe"},
	{Verb: "list", Resource: "events", Why: "reporting why a pod did not start"},
}

// Rights that only some features need; each case lists its own
// (runtime.Case.Access), and on an existing cluster a missing one skips
// exactly the features that need it, with the right and the reason.
var (
	// VerifyAccess verifies a token as a relying party does, and compares its
	// claims with the live objects.
	VerifyAccess = []Access{
		{Verb: "get", NonResourceURL: "/.well-known/openid-configuration", Why: "the service-account issuer's discovery document"},
		{Verb: "get", NonResourceURL: "/openid/v1/jwks", Why: "the keys that verify service-account tokens"},
		{Verb: "get", Resource: "nodes", Why: "comparing a token's node claim with the node"},
	}
	GetNodeAccess      = []Access{{Verb: "get", Resource: "nodes", Why: "reading the node a pod runs on"}}
	TokenRequestAccess = []Access{{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Why: "TokenRequest, as kubectl create token does"}}
	TokenReviewAccess  = []Access{{Verb: "create", Group: "authentication.k8s.io", Resource: "tokenreviews", Why: "asking who a token authenticates as"}}
	GrantAccess        = []Access{
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Why: "granting OIDC discovery to an anonymous relying party for one test"},
		{Verb: "delete", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Why: "removing that grant"},
		ListGrants,
	}
	CreateServiceAccountAccess = []Access{{Verb: "create", Resource: "serviceaccounts", Why: "the documented ServiceAccounts"}}
	DeleteServiceAccountAccess = []Access{{Verb: "delete", Resource: "serviceaccounts", Why: "a deleted ServiceAccount invalidates its tokens and Secrets"}}
	PatchServiceAccountAccess  = []Access{{Verb: "patch", Resource: "serviceaccounts", Why: "adding imagePullSecrets, as the document does"}}
	GetSecretAccess            = []Access{{Verb: "get", Resource: "secrets", Why: "reading the token controller's work on a legacy token Secret"}}
	DeleteSecretAccess         = []Access{{Verb: "delete", Resource: "secrets", Why: "a deleted Secret invalidates the tokens bound to it"}}
	CreateConfigMapAccess      = []Access{{Verb: "create", Resource: "configmaps", Why: "the documented ConfigMaps"}}
	PatchPodAccess             = []Access{{Verb: "patch", Resource: "pods", Why: "changing a live pod, as the document says cannot be done"}}
	EphemeralContainerAccess   = []Access{{Verb: "update", Resource: "pods", Subresource: "ephemeralcontainers", Why: "adding an ephemeral container, as kubectl debug does"}}
	ListNodesAccess            = []Access{{Verb: "list", Resource: "nodes", Why: "finding the nodes of an operating system"}}
)

// Rights of the trust-bundle and pod-certificate features.
var (
	// TrustBundleAccess makes and changes ClusterTrustBundles, also
	// signer-linked ones (attest on the signer, ctbattest admission).
	TrustBundleAccess = []Access{
		{Verb: "create", Group: "certificates.k8s.io", Resource: "clustertrustbundles", Why: "the test's trust bundles"},
		{Verb: "update", Group: "certificates.k8s.io", Resource: "clustertrustbundles", Why: "changing a bundle's certificates"},
		{Verb: "delete", Group: "certificates.k8s.io", Resource: "clustertrustbundles", Why: "removing the test's trust bundles"},
		{Verb: "attest", Group: "certificates.k8s.io", Resource: "signers", Why: "a bundle linked to a signer needs attest on it"},
		ListTrustBundles,
	}
	// ReadTrustBundleAccess reads the built-in bundles.
	ReadTrustBundleAccess = []Access{{Verb: "list", Group: "certificates.k8s.io", Resource: "clustertrustbundles", Why: "finding the built-in kube-apiserver-serving bundle"},
		{Verb: "get", Resource: "configmaps", Why: "reading kube-root-ca.crt"}}
	// ImpersonateAccess acts as a user without rights, to show a refusal.
	ImpersonateAccess = []Access{
		{Verb: "impersonate", Resource: "users", Why: "showing what a user (or node) without a right is refused"},
		{Verb: "impersonate", Resource: "groups", Why: "acting as a node (group system:nodes)"},
	}
	// RoleAccess makes a ClusterRole for one feature.
	RoleAccess = []Access{
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Why: "a ClusterRole of the feature's own"},
		{Verb: "delete", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Why: "removing that ClusterRole"},
		ListClusterRoles,
	}
	// SignerAccess runs the suite's pod-certificate signer under an
	// identity of its own: a ServiceAccount granted exactly its ClusterRole.
	SignerAccess = append([]Access{
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Why: "binding the signer's ClusterRole to its ServiceAccount"},
		{Verb: "delete", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Why: "removing that binding"},
		// RBAC lets a user grant only what it holds (or with escalate).
		{Verb: "sign", Group: "certificates.k8s.io", Resource: "signers", Why: "granting the signer sign on its signer name"},
		{Verb: "attest", Group: "certificates.k8s.io", Resource: "signers", Why: "granting the signer attest, to publish its trust bundle"},
		{Verb: "update", Group: "certificates.k8s.io", Resource: "podcertificaterequests", Subresource: "status", Why: "granting the signer its status writes"},
		{Verb: "get", Resource: "nodes", Why: "granting the signer reads of the nodes it checks requests against"},
		{Verb: "create", Resource: "serviceaccounts", Why: "the signer's ServiceAccount"},
		{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Why: "the signer's own token"},
		{Verb: "list", Group: "certificates.k8s.io", Resource: "podcertificaterequests", Why: "reading the requests the kubelet made"},
		ListGrants, ListTrustBundles,
	}, RoleAccess...)
)

// ListTrustBundles is the right the clean-up needs to find the bundles a
// stopped run left.
var ListTrustBundles = Access{Verb: "list", Group: "certificates.k8s.io", Resource: "clustertrustbundles", Why: "removing the bundles a stopped run left"}

// ListClusterRoles is the right the clean-up needs to find the roles a
// stopped run left.
var ListClusterRoles = Access{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Why: "removing the roles a stopped run left"}

// ListGrants is the right the run's clean-up needs to find the grants a
// stopped run left (GrantAccess includes it).
var ListGrants = Access{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings", Why: "removing a grant a stopped run left"}

// Allowed asks the API server (SelfSubjectAccessReview) whether the
// client's user has the right.
func Allowed(ctx context.Context, cs kubernetes.Interface, a Access) (bool, error) {
	review := &authorizationv1.SelfSubjectAccessReview{}
	if a.NonResourceURL != "" {
		review.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: a.NonResourceURL, Verb: a.Verb}
	} else {
		review.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource}
	}
	res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("check access (%s): %w", a, err)
	}
	return res.Status.Allowed, nil
}

// CheckAccess asks the API server (SelfSubjectAccessReview) whether the
// kubeconfig's user has every right; the error lists each one missing and why
// the suite needs it.
func CheckAccess(ctx context.Context, cs kubernetes.Interface, needs []Access) error {
	var missing []string
	for _, a := range needs {
		ok, err := Allowed(ctx, cs, a)
		if err != nil {
			return err
		}
		if !ok {
			missing = append(missing, fmt.Sprintf("%s (%s)", a, a.Why))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the kubeconfig's user lacks rights the suite needs:\n  %s", strings.Join(missing, "\n  "))
	}
	return nil
}
