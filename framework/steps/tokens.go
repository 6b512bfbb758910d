package steps

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/token"
)

// APITimeout bounds a single API call made by a step.
const APITimeout = 30 * time.Second

// Published reads the cluster's issuer as a relying party does: the
// discovery document, then the key set from its jwks_uri (the node's
// address on kind), with the kubeconfig's credentials; and the API server's
// own copy of the key set.
func Published(ctx context.Context, c *Cluster) (*token.Published, error) {
	hc, err := rest.HTTPClientFor(c.REST)
	if err != nil {
		return nil, fmt.Errorf("HTTP client for %s: %w", c.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	return token.FetchPublished(ctx, hc, c.REST.Host)
}

// AnonymousHTTPClient trusts the cluster's CA and presents no credentials:
// what a relying party outside the cluster has.
func AnonymousHTTPClient(c *Cluster) (*http.Client, error) {
	anon := rest.AnonymousClientConfig(c.REST)
	return rest.HTTPClientFor(anon)
}

// VerifiedToken is a token that verified against the cluster's published
// keys, for the audiences asked: only these claims are ever judged.
type VerifiedToken struct {
	Raw, Fingerprint string
	Claims           *token.Claims
	Published        *token.Published
}

// VerifyToken verifies raw as a relying party of the cluster: signature
// with the one key of the token's kid in the key set at jwks_uri, iss equal
// to the discovery document's issuer, every audience in aud, not expired.
func VerifyToken(ctx context.Context, c *Cluster, raw string, audiences ...string) (*VerifiedToken, error) {
	pub, err := Published(ctx, c)
	if err != nil {
		return nil, err
	}
	claims, err := token.NewVerifier(&pub.Issuer).Verify(raw, audiences...)
	if err != nil {
		return nil, err
	}
	return &VerifiedToken{Raw: raw, Fingerprint: token.Fingerprint(raw), Claims: claims, Published: pub}, nil
}

// TokenResult is a TokenRequest's answer and the warnings the API server
// sent with it.
type TokenResult struct {
	Request  *authenticationv1.TokenRequest
	Warnings []string
}

// RequestToken asks for a token of a ServiceAccount (what `kubectl create
// token` does), recording the API server's warnings.
func RequestToken(ctx context.Context, c *Cluster, namespace, sa string, spec authenticationv1.TokenRequestSpec) (*TokenResult, error) {
	w := &warnings{}
	cfg := rest.CopyConfig(c.REST)
	cfg.WarningHandler = w
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("TokenRequest for %s/%s: %w", namespace, sa, err)
	}
	return &TokenResult{Request: tr, Warnings: w.list()}, nil
}

type warnings struct {
	mu sync.Mutex
	w  []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.w = append(w.w, text)
}

func (w *warnings) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.w...)
}

// ReviewToken asks the API server who a token authenticates as
// (TokenReview), for the given audiences (none: the API's own).
func ReviewToken(ctx context.Context, c *Cluster, raw string, audiences ...string) (*authenticationv1.TokenReviewStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	res, err := c.Clientset.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: raw, Audiences: audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("TokenReview of %s: %w", token.Fingerprint(raw), err)
	}
	return &res.Status, nil
}

// CallAPIWithToken makes one API request (GET /api) with raw as bearer
// token and returns the HTTP status: 200 authenticated, 401 not.
func CallAPIWithToken(ctx context.Context, c *Cluster, raw string) (int, error) {
	cfg := rest.AnonymousClientConfig(c.REST)
	cfg.BearerToken = raw
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.REST.Host+"/api", nil)
	if err != nil {
		return 0, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET /api with token %s: %w", token.Fingerprint(raw), err)
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// ReadToken reads a token file in a pod and verifies it for the audiences.
// It returns an error when the file is missing or the token does not
// verify: nothing about an unverified token is judged.
func ReadToken(ctx context.Context, t *testing.T, pod, path string, audiences ...string) (*VerifiedToken, error) {
	t.Helper()
	f, err := ReadContent(ctx, t, pod, path)
	if err != nil {
		return nil, err
	}
	vt, err := VerifyToken(ctx, ClusterFrom(ctx), string(f.Content), audiences...)
	if err != nil {
		return nil, fmt.Errorf("token at %s in pod %s: %w", path, pod, err)
	}
	t.Logf("token %s at %s verified: %s", vt.Fingerprint, path, vt.Claims.Summary())
	return vt, nil
}
