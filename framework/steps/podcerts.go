package steps

import (
	"context"
	"fmt"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/signer"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// SignerStartTimeout bounds starting the suite's signer: its rights
// reaching the authorizer and its informers' first sync.
const SignerStartTimeout = time.Minute

// StartSigner runs the suite's pod-certificate signer for the feature, under
// an identity of its own: a ServiceAccount "kic-signer" in the feature's
// namespace, bound to exactly signer.ClusterRole for o.SignerNames, with a
// token from TokenRequest (the suite's own credentials are not used). It
// publishes the signer's root as a ClusterTrustBundle of each signer name
// (signer.TrustBundleName), and stops the signer and removes the bundles
// when the test ends.
func StartSigner(ctx context.Context, t *testing.T, o signer.Options) (*signer.Signer, error) {
	t.Helper()
	c := ClusterFrom(ctx)
	if c == nil {
		return nil, fmt.Errorf("start signer: no cluster in the context")
	}
	cs, err := signerClient(ctx, t, c, o.SignerNames)
	if err != nil {
		return nil, err
	}
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	if o.APIVersion == "" {
		// The version the cluster serves: v1 from 1.37, v1beta1 (and the
		// older request form) on 1.35 and 1.36.
		caps, err := DetectCapabilities(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("start signer: %w", err)
		}
		if !caps.PodCertificateAPI {
			return nil, fmt.Errorf("start signer: cluster %s serves PodCertificateRequests at no version the suite speaks (served: %v)", c.Name, caps.PodCertificateVersions)
		}
		o.APIVersion = caps.PodCertificateVersion
	}
	sg, err := signer.New(cs, o)
	if err != nil {
		return nil, fmt.Errorf("start signer: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sctx, scancel := context.WithTimeout(ctx, SignerStartTimeout)
	defer scancel()
	if err := runUntilSynced(sctx, runCtx, sg); err != nil {
		cancel()
		return nil, err
	}
	t.Cleanup(func() {
		sg.Stop()
		cancel()
	})
	for _, name := range o.SignerNames {
		if err := sg.PublishTrustBundle(sctx, name, runLabels(ctx)); err != nil {
			return nil, fmt.Errorf("start signer: publish the trust bundle of %s: %w", name, err)
		}
		n := name
		t.Cleanup(func() {
			dctx, dcancel := context.WithTimeout(context.Background(), APITimeout)
			defer dcancel()
			if err := sg.DeleteTrustBundle(dctx, n); err != nil {
				t.Errorf("remove the trust bundle of %s: %v", n, err)
			}
		})
	}
	return sg, nil
}

// runUntilSynced starts the signer on runCtx and waits (until ctx ends) for
// its informers to sync.
func runUntilSynced(ctx, runCtx context.Context, sg *signer.Signer) error {
	done := make(chan error, 1)
	go func() { done <- sg.Run(runCtx) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("start signer: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("start signer: its informers did not sync: %w", ctx.Err())
	}
}

// signerClient makes the signer's identity and returns a clientset acting as
// it once the API server authorizes it to list its requests.
func signerClient(ctx context.Context, t *testing.T, c *Cluster, signerNames []string) (kubernetes.Interface, error) {
	t.Helper()
	ns := Namespace(ctx)
	const sa = "kic-signer"
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	if _, err := c.Clientset.CoreV1().ServiceAccounts(ns).Create(cctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("signer ServiceAccount: %w", err)
	}
	role := ClusterObjectName(ctx, "signer")
	if err := CreateClusterRole(ctx, t, signer.ClusterRole(role, signerNames)); err != nil {
		return nil, err
	}
	if err := BindClusterRole(ctx, t, role, role, rbacv1.Subject{Kind: "ServiceAccount", Name: sa, Namespace: ns}); err != nil {
		return nil, err
	}
	tr, err := c.Clientset.CoreV1().ServiceAccounts(ns).CreateToken(cctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3 * 3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("signer token: %w", err)
	}
	cfg := rest.AnonymousClientConfig(c.REST)
	cfg.BearerToken = tr.Status.Token
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("signer client: %w", err)
	}
	err = wait.For(ctx, "the signer's rights to reach the authorizer", wait.Options{Timeout: SignerStartTimeout, Interval: 500 * time.Millisecond},
		func(ctx context.Context) (bool, string, error) {
			r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "sign", Group: "certificates.k8s.io", Resource: "signers", Name: signerNames[0]},
			}}, metav1.CreateOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			return r.Status.Allowed, fmt.Sprintf("sign %s allowed: %v %s", signerNames[0], r.Status.Allowed, r.Status.Reason), nil
		})
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// DryRunPodCertificateRequest creates pcr through cs with a server-side dry
// run, at the version the feature's cluster serves (v1, or v1beta1 with
// the same fields).
func DryRunPodCertificateRequest(ctx context.Context, cs kubernetes.Interface, pcr *certificatesv1.PodCertificateRequest) error {
	c := ClusterFrom(ctx)
	if c == nil {
		return fmt.Errorf("no cluster in the context")
	}
	caps, err := DetectCapabilities(ctx, c)
	if err != nil {
		return err
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	switch caps.PodCertificateVersion {
	case "v1":
		_, err = cs.CertificatesV1().PodCertificateRequests(pcr.Namespace).Create(ctx, pcr, dry)
	case "v1beta1":
		sp := pcr.Spec
		_, err = cs.CertificatesV1beta1().PodCertificateRequests(pcr.Namespace).Create(ctx, &certificatesv1beta1.PodCertificateRequest{
			ObjectMeta: *pcr.ObjectMeta.DeepCopy(),
			Spec: certificatesv1beta1.PodCertificateRequestSpec{
				SignerName: sp.SignerName, PodName: sp.PodName, PodUID: sp.PodUID,
				ServiceAccountName: sp.ServiceAccountName, ServiceAccountUID: sp.ServiceAccountUID,
				NodeName: sp.NodeName, NodeUID: sp.NodeUID, MaxExpirationSeconds: sp.MaxExpirationSeconds,
				StubPKCS10Request: sp.StubPKCS10Request, UnverifiedUserAnnotations: sp.UnverifiedUserAnnotations,
			},
		}, dry)
	default:
		return fmt.Errorf("cluster %s serves PodCertificateRequests at no version the suite speaks (served: %v)", c.Name, caps.PodCertificateVersions)
	}
	return err
}
