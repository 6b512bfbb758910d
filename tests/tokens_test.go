package tests

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/token"
)

// TestProjectedServiceAccountToken: seed 003 (Kubernetes, "投射卷" / Projected
// Volumes), section "serviceAccountToken 投射卷": the example pod sa-token-test
// projects a token of its ServiceAccount at /service-account/token, for the
// audience "api" and 3600 seconds. The token is a bound service-account token
// the API server signed: it verifies against the cluster's published keys, is
// issued by the cluster's issuer for exactly the audience asked for, names the
// pod's ServiceAccount as subject, lives exactly expirationSeconds, and is
// bound to the live pod, its ServiceAccount and its node. A custom audience
// gets no extended lifetime, so no warnafter claim.
func TestProjectedServiceAccountToken(t *testing.T) {
	const (
		fixture  = "seed003-projected-volumes/sa-token-test.yaml"
		pod      = "sa-token-test"
		path     = "/service-account/token"
		audience = "api"
		lifetime = 3600 * time.Second
	)
	f := features.New("sa-token-test projects a bound token for audience api").
		WithLabel("area", "tokens").
		WithLabel("source", "seed003").
		Setup(steps.CreateNamespace()).
		Setup(steps.DeployFixture(fixture)).
		Setup(steps.WaitPodServing(pod)).
		Setup(readProjectedToken(pod, path)).
		Assess("signature verifies against the cluster's JWKS", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			tok := projectedTokenFrom(ctx, t)
			claims, err := token.NewVerifier(tok.issuer).Verify(tok.raw, audience)
			if err != nil {
				t.Fatalf("token %s does not verify: %v", tok.fingerprint, err)
			}
			t.Logf("verified %s: alg %s kid %s", tok.fingerprint, claims.Header.Algorithm, claims.Header.KeyID)
			return ctx
		}).
		Assess("iss is the issuer of the discovery document", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			tok := projectedTokenFrom(ctx, t)
			if got, want := tok.claims.Issuer, tok.issuer.Discovery.Issuer; got != want {
				t.Errorf("iss = %q, want the discovery document's issuer %q", got, want)
			}
			return ctx
		}).
		Assess("aud is exactly [api]", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			tok := projectedTokenFrom(ctx, t)
			if got := []string(tok.claims.Audience); !slices.Equal(got, []string{audience}) {
				t.Errorf("aud = %q, want [%q]", got, audience)
			}
			return ctx
		}).
		Assess("sub names the pod's ServiceAccount", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			tok := projectedTokenFrom(ctx, t)
			want := fmt.Sprintf("system:serviceaccount:%s:default", steps.Namespace(ctx)) // the fixture's serviceAccountName
			if tok.claims.Subject != want {
				t.Errorf("sub = %q, want %q", tok.claims.Subject, want)
			}
			return ctx
		}).
		Assess("exp - iat is expirationSeconds (3600)", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			c := projectedTokenFrom(ctx, t).claims
			if c.ExpiresAt == nil || c.IssuedAt == nil {
				t.Fatalf("exp %v, iat %v: both must be present", c.ExpiresAt, c.IssuedAt)
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != lifetime {
				t.Errorf("exp - iat = %s, want %s", got, lifetime)
			}
			return ctx
		}).
		Assess("nbf equals iat", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			c := projectedTokenFrom(ctx, t).claims
			if c.NotBefore == nil || c.IssuedAt == nil || !c.NotBefore.Equal(c.IssuedAt.Time) {
				t.Errorf("nbf = %v, iat = %v: want both present and equal", c.NotBefore, c.IssuedAt)
			}
			return ctx
		}).
		Assess("jti is set", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if c := projectedTokenFrom(ctx, t).claims; c.ID == "" {
				t.Error("jti is missing: every token the API server issues has one")
			}
			return ctx
		}).
		Assess("kubernetes.io binds the token to the live pod, ServiceAccount and node", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			tok := projectedTokenFrom(ctx, t)
			cs := steps.Clientset(t, cfg)
			live := steps.LiveIdentity(ctx, t, cs, tok.pod)
			k := tok.claims.Kubernetes
			expectRef(t, "kubernetes.io.pod", k.Pod, live.Pod)
			expectRef(t, "kubernetes.io.serviceaccount", &k.ServiceAccount, live.ServiceAccount)
			expectRef(t, "kubernetes.io.node", k.Node, live.Node)
			if k.Namespace != live.Namespace {
				t.Errorf("kubernetes.io.namespace = %q, want %q", k.Namespace, live.Namespace)
			}
			return ctx
		}).
		Assess("no warnafter for a custom audience", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if w := projectedTokenFrom(ctx, t).claims.Kubernetes.WarnAfter; w != nil {
				t.Errorf("kubernetes.io.warnafter = %v: only tokens for the API server's own audiences get an extended lifetime", w.Time)
			}
			return ctx
		}).
		Feature()
	testenv.Test(t, f)
}

// expectRef compares a name/uid claim with the live object.
func expectRef(t *testing.T, what string, got *token.Ref, want token.Ref) {
	t.Helper()
	switch {
	case got == nil:
		t.Errorf("%s is missing, want {name %q, uid %q}", what, want.Name, want.UID)
	case *got != want:
		t.Errorf("%s = {name %q, uid %q}, want {name %q, uid %q}", what, got.Name, got.UID, want.Name, want.UID)
	}
}
