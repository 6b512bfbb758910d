package tests

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/token"
)

type publishedKey struct{}

// oidcDiscovery: seed 002, "托管服务账户发行者" (the issuer's discovery is
// published for relying parties), and seed 000 (an external relying party
// such as Vault verifies projected tokens): the issuer publishes an OIDC
// discovery document and its keys; a relying party that knows only the
// issuer's address verifies a pod's token with them, anonymously once
// system:service-account-issuer-discovery is granted to
// system:unauthenticated, and from inside a pod with the pod's own token (an
// in-cluster relying party: the discovery document from the API server's
// service address, the keys from its jwks_uri, which only cluster DNS
// resolves for kubeadm's default issuer).
func oidcDiscovery() features.Feature {
	return features.New("OIDC discovery publishes the issuer and its keys; an anonymous relying party verifies a pod's token").
		WithLabel("area", "tokens").WithLabel("source", "seed002").WithLabel("section", "托管服务账户发行者").
		Setup(steps.CreateNamespace()).
		Setup(steps.DeployFixture("seed003-projected-volumes/sa-token-test.yaml")).
		Setup(steps.WaitPodServing("sa-token-test")).
		Setup(readVerifiedToken("token", "sa-token-test", "/service-account/token", "api")).
		Setup(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			pub, err := steps.Published(ctx, steps.ClusterFrom(ctx))
			if err != nil {
				t.Fatal(err)
			}
			return context.WithValue(ctx, publishedKey{}, pub)
		}).
		Assess("the discovery document's fields", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			pub := ctx.Value(publishedKey{}).(*token.Published)
			d := pub.Discovery
			if want := steps.ClusterFrom(ctx).Issuer; want != "" && d.Issuer != want {
				t.Errorf("issuer %q, want the configured %q", d.Issuer, want)
			}
			u, err := url.Parse(d.JWKSURI)
			if err != nil || u.Scheme != "https" || u.Path != token.JWKSPath {
				t.Errorf("jwks_uri %q: want an https URL ending in %s", d.JWKSURI, token.JWKSPath)
			}
			if !slices.Equal(d.ResponseTypesSupported, []string{"id_token"}) || !slices.Equal(d.SubjectTypesSupported, []string{"public"}) {
				t.Errorf("response_types_supported %q, subject_types_supported %q; want [id_token], [public]", d.ResponseTypesSupported, d.SubjectTypesSupported)
			}
			var algs []string
			for _, k := range pub.Keys.Keys {
				if !slices.Contains(algs, k.Algorithm) {
					algs = append(algs, k.Algorithm)
				}
			}
			slices.Sort(algs)
			if !slices.Equal(d.IDTokenSigningAlgValuesSupported, algs) {
				t.Errorf("id_token_signing_alg_values_supported %q, want the algorithms of the published keys %q", d.IDTokenSigningAlgValuesSupported, algs)
			}
			return ctx
		}).
		Assess("content types and caching", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			pub := ctx.Value(publishedKey{}).(*token.Published)
			for _, h := range []struct{ what, got, want string }{
				{"discovery Content-Type", pub.DiscoveryHeader.Get("Content-Type"), "application/json"},
				{"JWKS Content-Type", pub.JWKSHeader.Get("Content-Type"), "application/jwk-set+json"},
				{"discovery Cache-Control", pub.DiscoveryHeader.Get("Cache-Control"), "public, max-age=3600"},
				{"JWKS Cache-Control", pub.JWKSHeader.Get("Cache-Control"), "public, max-age=3600"},
			} {
				if h.got != h.want {
					t.Errorf("%s %q, want %q", h.what, h.got, h.want)
				}
			}
			return ctx
		}).
		Assess("the keys at jwks_uri are the API server's, each named by the SHA-256 of its public key", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			pub := ctx.Value(publishedKey{}).(*token.Published)
			if len(pub.Keys.Keys) == 0 || len(pub.Keys.Keys) != len(pub.APIKeys.Keys) {
				t.Errorf("%d keys at jwks_uri, %d at %s; want the same, at least one", len(pub.Keys.Keys), len(pub.APIKeys.Keys), token.JWKSPath)
			}
			for _, k := range pub.Keys.Keys {
				if len(pub.APIKeys.Key(k.KeyID)) != 1 {
					t.Errorf("kid %q at jwks_uri is not in the API server's copy", k.KeyID)
				}
				der, err := x509.MarshalPKIXPublicKey(k.Key)
				if err != nil {
					t.Errorf("kid %q: %v", k.KeyID, err)
					continue
				}
				sum := sha256.Sum256(der)
				if want := base64.RawURLEncoding.EncodeToString(sum[:]); k.KeyID != want || k.Use != "sig" {
					t.Errorf("key kid %q use %q, want kid %q (base64url SHA-256 of the PKIX key) and use sig", k.KeyID, k.Use, want)
				}
			}
			return ctx
		}).
		Assess("a relying party inside the pod, with the pod's own token, reads the issuer there and verifies its tokens", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			vt := tokenFrom(ctx, t, "token")
			if vt == nil {
				return ctx
			}
			// The pod authenticates with its API token (kube-api-access):
			// discovery is bound to system:serviceaccounts by default.
			rp, err := steps.Probe(ctx, t).RelyingParty(ctx, steps.Namespace(ctx), "sa-token-test", kubeAPIAccess)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if rp.Error != "" {
				t.Errorf("the relying party in the pod (%s, then %s): %s", rp.DiscoveryURL, rp.JWKSURI, rp.Error)
				return ctx
			}
			iss := &token.Issuer{}
			if err := json.Unmarshal(rp.Discovery, &iss.Discovery); err != nil {
				t.Errorf("the discovery document read in the pod: %v", err)
				return ctx
			}
			if err := json.Unmarshal(rp.JWKS, &iss.Keys); err != nil {
				t.Errorf("the key set read in the pod at %s: %v", rp.JWKSURI, err)
				return ctx
			}
			pub := ctx.Value(publishedKey{}).(*token.Published)
			if iss.Discovery.Issuer != pub.Discovery.Issuer || rp.JWKSURI != pub.Discovery.JWKSURI {
				t.Errorf("in the pod: issuer %q, jwks_uri %q; from outside: %q, %q", iss.Discovery.Issuer, rp.JWKSURI, pub.Discovery.Issuer, pub.Discovery.JWKSURI)
			}
			t.Logf("in the pod: discovery %s (%d), keys %s (%d), token presented to %v", rp.DiscoveryURL, rp.DiscoveryStatus, rp.JWKSURI, rp.JWKSStatus, rp.TokenSentTo)
			// Its own API token, and the projected "api" token, both verify
			// with the keys it read (the projected one is checked even when
			// the API token cannot be read).
			type presented struct{ name, raw, aud, jti string }
			var tokens []presented
			if aud, err := apiAudience(ctx); err != nil {
				t.Error(err)
			} else if api, err := steps.ReadToken(ctx, t, "sa-token-test", kubeAPIAccess, aud); err != nil {
				t.Error(err)
			} else {
				tokens = append(tokens, presented{"kube-api-access", api.Raw, aud, api.Claims.ID})
			}
			tokens = append(tokens, presented{"the projected api token", vt.Raw, "api", vt.Claims.ID})
			v := token.NewVerifier(iss)
			for _, tc := range tokens {
				claims, err := v.Verify(tc.raw, tc.aud)
				if err != nil {
					t.Errorf("the relying party in the pod rejects %s: %v", tc.name, err)
				} else if claims.ID != tc.jti {
					t.Errorf("%s: verified jti %q, want %q", tc.name, claims.ID, tc.jti)
				}
			}
			return ctx
		}).
		Assess("an anonymous relying party verifies the token once discovery is granted to system:unauthenticated", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c := steps.ClusterFrom(ctx)
			vt := tokenFrom(ctx, t, "token")
			if vt == nil {
				return ctx
			}
			hc, err := steps.AnonymousHTTPClient(c)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if c.Profile != "" { // a kind cluster has kubeadm's default RBAC
				_, err := token.FetchPublished(ctx, hc, c.REST.Host)
				if se, ok := err.(*token.StatusError); !ok || se.Code != 403 {
					t.Errorf("anonymous discovery before the binding: %v; want 403 (discovery is bound to system:serviceaccounts only)", err)
				}
			}
			if !bindAnonymousDiscovery(ctx, t) {
				return ctx
			}
			pub, err := token.FetchPublished(ctx, hc, c.REST.Host)
			if err != nil {
				t.Errorf("anonymous discovery: %v", err)
				return ctx
			}
			claims, err := token.NewVerifier(&pub.Issuer).Verify(vt.Raw, "api")
			if err != nil {
				t.Errorf("the anonymous relying party rejects the pod's token: %v", err)
			} else if claims.ID != vt.Claims.ID {
				t.Errorf("verified jti %q, want %q", claims.ID, vt.Claims.ID)
			}
			return ctx
		}).Feature()
}

// bindAnonymousDiscovery grants system:service-account-issuer-discovery to
// system:unauthenticated for this feature; the binding carries the run's
// labels and is removed when the feature ends.
func bindAnonymousDiscovery(ctx context.Context, t *testing.T) bool {
	t.Helper()
	err := steps.BindClusterRole(ctx, t, steps.ClusterObjectName(ctx, "anonymous-discovery"), "system:service-account-issuer-discovery",
		rbacv1.Subject{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "system:unauthenticated"})
	if err != nil {
		t.Errorf("bind discovery to system:unauthenticated: %v", err)
		return false
	}
	return true
}
