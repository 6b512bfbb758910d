package tests

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/go-jose/go-jose/v4"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/pki"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/token"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// TestServiceAccountIssuers: the service-account issuer configuration of
// seed 002 (Gardener: issuer, acceptedIssuers, extendTokenExpiration,
// maxTokenExpiration) and seed 000 (OpenShift: the issuer
// https://kubernetes.default.svc), on the issuers profiles, and the issuer
// change both documents describe, on clusters of its own
// (issuer_migration_test.go).
func TestServiceAccountIssuers(t *testing.T) { rt.Run(t, issuerCases()...) }

func issuerCases() []runtime.Case {
	var cases []runtime.Case
	for _, p := range []clusters.Profile{clusters.Issuers(), clusters.IssuersV135EC()} {
		access := []cluster.Access{}
		for _, a := range [][]cluster.Access{cluster.VerifyAccess, cluster.TokenReviewAccess, cluster.TokenRequestAccess} {
			access = append(access, a...)
		}
		cases = append(cases,
			runtime.On(p.Name, acceptedIssuers(p)).Requires(madeFrom(p)).Access(access),
			runtime.On(p.Name, apiAudiencesFlag(p)).Requires(madeFrom(p)).Access(access, cluster.CreateServiceAccountAccess),
			runtime.On(p.Name, maxTokenExpiration(p)).Requires(madeFrom(p)).Access(access),
			runtime.On(p.Name, issuerDiscovery(p)).Requires(madeFrom(p)).Access(access),
			runtime.On(p.Name, legacyTokensBesideSuiteKey(p)).Requires(madeFrom(p)).Access(access, cluster.CreateServiceAccountAccess, cluster.GetSecretAccess),
		)
	}
	return append(cases, migrationCases()...)
}

// madeFrom: a feature that asserts a profile's flags and its suite-generated
// key needs a kind cluster made from that profile; on an existing cluster
// it is skipped with this reason.
func madeFrom(p clusters.Profile) runtime.Requirement {
	return runtime.Requirement{
		Key:     "kindProfile:" + p.Name,
		Name:    fmt.Sprintf("a kind cluster of profile %s (its kube-apiserver flags and the suite-generated service-account key)", p.Name),
		Profile: p.Name,
		Holds: func(_ context.Context, c *steps.Cluster) (bool, string, error) {
			return c.Profile == p.Name && c.FilesDir != "", fmt.Sprintf("cluster %s, profile %q", c.Name, c.Profile), nil
		},
	}
}

// named gives a feature shared by several profiles a name per profile.
func named(p clusters.Profile, name string) string { return name + " [" + p.Name + "]" }

// apiAudiencesOf is the profile's API audiences: --api-audiences, or the
// issuers when it is unset (kubernetes-behaviour.md section 2).
func apiAudiencesOf(p clusters.Profile) []string {
	if v, ok := p.Arg("api-audiences"); ok {
		return strings.Split(v, ",")
	}
	return p.ServiceAccountIssuers()
}

// suiteKeyFor reads the suite-generated key of the feature's cluster.
func suiteKeyFor(ctx context.Context) (crypto.Signer, error) {
	return steps.SuiteKey(steps.ClusterFrom(ctx))
}

// outOfBand is a relying party handed the issuer and the suite's public key
// directly (no discovery): the one way to verify tokens of an issuer that
// kube-apiserver publishes nothing for.
func outOfBand(issuer string, pubs ...crypto.PublicKey) (*token.Verifier, error) {
	set, err := token.KeySet(pubs...)
	if err != nil {
		return nil, err
	}
	return &token.Verifier{Issuer: issuer, Keys: set, Leeway: token.DefaultLeeway}, nil
}

// suiteKeyVerifier is outOfBand for the issuer with the suite-generated key
// of the feature's cluster.
func suiteKeyVerifier(ctx context.Context, issuer string) (*token.Verifier, error) {
	key, err := suiteKeyFor(ctx)
	if err != nil {
		return nil, err
	}
	return outOfBand(issuer, key.Public())
}

// reviewAs asks the API server whether raw authenticates (TokenReview with
// the API's own audiences), and reports a mismatch with want.
func reviewAs(ctx context.Context, t *testing.T, what, raw string, want bool, username string) {
	t.Helper()
	st, err := steps.ReviewToken(ctx, steps.ClusterFrom(ctx), raw)
	switch {
	case err != nil:
		t.Errorf("%s: %v", what, err)
	case st.Authenticated != want:
		t.Errorf("%s: TokenReview authenticated=%v (error %q), want %v", what, st.Authenticated, st.Error, want)
	case want && st.User.Username != username:
		t.Errorf("%s: authenticated as %q, want %q", what, st.User.Username, username)
	default:
		t.Logf("%s: TokenReview authenticated=%v %s", what, st.Authenticated, st.Error)
	}
}

// acceptedIssuers: seed 002, "发行者(Issuer)配置": issuer sets the issuer of
// new tokens, acceptedIssuers the issuers whose tokens are still accepted
// (kube-apiserver's repeated --service-account-issuer: the first signs,
// every one is accepted; with a custom issuer the default stays accepted).
// A token the API server issues carries the first issuer and is signed with
// the suite-generated key (its algorithm, its kid); a token the suite signs
// with that key for any listed issuer authenticates; the same token for an
// unlisted issuer, or signed by a key that is not a --service-account-key-file,
// does not.
func acceptedIssuers(p clusters.Profile) features.Feature {
	issuers := p.ServiceAccountIssuers()
	aud := apiAudiencesOf(p)
	return features.New(named(p, "the first issuer signs, every accepted issuer authenticates, an unlisted one does not")).
		WithLabel("area", "issuers").WithLabel("source", "seed002").WithLabel("section", "发行者(Issuer)配置").
		Setup(steps.CreateNamespace()).
		Assess(fmt.Sprintf("a TokenRequest token has iss %s and the suite key's %s signature and kid", issuers[0], p.ServiceAccountKey.Algorithm()), func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			key, err := suiteKeyFor(ctx)
			if err != nil {
				t.Error(err)
				return ctx
			}
			res, err := steps.RequestToken(ctx, steps.ClusterFrom(ctx), steps.Namespace(ctx), "default", authenticationv1.TokenRequestSpec{})
			if err != nil {
				t.Error(err)
				return ctx
			}
			v, err := outOfBand(issuers[0], key.Public())
			if err != nil {
				t.Error(err)
				return ctx
			}
			claims, err := v.Verify(res.Request.Status.Token, aud...)
			if err != nil {
				t.Errorf("the TokenRequest token does not verify with the suite's key for issuer %s: %v", issuers[0], err)
				return ctx
			}
			kid, _ := token.KeyID(key.Public())
			if claims.Header.Algorithm != p.ServiceAccountKey.Algorithm() || claims.Header.KeyID != kid {
				t.Errorf("header alg %s kid %s, want %s and the suite key's kid %s", claims.Header.Algorithm, claims.Header.KeyID, p.ServiceAccountKey.Algorithm(), kid)
			}
			return ctx
		}).
		Assess("a token signed with the suite's key authenticates for each accepted issuer", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			key, err := suiteKeyFor(ctx)
			if err != nil {
				t.Error(err)
				return ctx
			}
			sa, err := steps.ServiceAccount(ctx, steps.Clientset(ctx, t), steps.Namespace(ctx), "default")
			if err != nil {
				t.Error(err)
				return ctx
			}
			for _, iss := range issuers {
				raw, err := steps.MintToken(key, steps.Mint{Issuer: iss, Audiences: aud[:1], ServiceAccount: sa})
				if err != nil {
					t.Error(err)
					continue
				}
				reviewAs(ctx, t, "iss "+iss, raw, true, "system:serviceaccount:"+sa.Namespace+":default")
			}
			return ctx
		}).
		Assess("an unlisted issuer, or a key kube-apiserver does not verify with, is refused (401)", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			key, err := suiteKeyFor(ctx)
			if err != nil {
				t.Error(err)
				return ctx
			}
			sa, err := steps.ServiceAccount(ctx, steps.Clientset(ctx, t), steps.Namespace(ctx), "default")
			if err != nil {
				t.Error(err)
				return ctx
			}
			other, err := cluster.NewServiceAccountKey(p.ServiceAccountKey)
			if err != nil {
				t.Error(err)
				return ctx
			}
			for _, tc := range []struct {
				what string
				key  crypto.Signer
				iss  string
			}{
				{"an unlisted issuer (foo3) with the suite key", key, "foo3"},
				{"an unlisted issuer (https://issuer.invalid) with the suite key", key, "https://issuer.invalid"},
				{"the signing issuer with a key that is not a --service-account-key-file", other, issuers[0]},
			} {
				raw, err := steps.MintToken(tc.key, steps.Mint{Issuer: tc.iss, Audiences: aud[:1], ServiceAccount: sa})
				if err != nil {
					t.Error(err)
					continue
				}
				reviewAs(ctx, t, tc.what, raw, false, "")
				if code, err := steps.CallAPIWithToken(ctx, steps.ClusterFrom(ctx), raw); err != nil || code != 401 {
					t.Errorf("%s: GET /api answered %d (%v), want 401", tc.what, code, err)
				}
			}
			return ctx
		}).Feature()
}

// apiAudiencesFlag: seed 003's audience "api" example ("serviceAccountToken
// 投射卷": the audience defaults to the API server's identifier), seed 000's
// vault example, and kube-apiserver's --api-audiences: with the flag set, the
// audience of a token asked for without one (the default kube-api-access
// token, a TokenRequest) is exactly its list, not the issuers; a token for
// one of its audiences reaches the API, a token for any other audience (a
// relying party's, or an accepted issuer's name) gets 401.
func apiAudiencesFlag(p clusters.Profile) features.Feature {
	aud := apiAudiencesOf(p)
	iss := p.ServiceAccountIssuer()
	return features.New(named(p, "--api-audiences is the audience of default tokens and all the API accepts")).
		WithLabel("area", "issuers").WithLabel("source", "seed003").WithLabel("section", "serviceAccountToken 投射卷").
		Setup(steps.CreateNamespace()).
		Setup(steps.DeployFixture("seed003-projected-volumes/sa-token-test.yaml")).
		Setup(steps.WaitPodServing("sa-token-test")).
		Assess(fmt.Sprintf("the kube-api-access token's aud is %q", aud), func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			f, err := steps.ReadContent(ctx, t, "sa-token-test", kubeAPIAccess)
			if err != nil {
				t.Error(err)
				return ctx
			}
			v, err := suiteKeyVerifier(ctx, iss)
			if err != nil {
				t.Error(err)
				return ctx
			}
			claims, err := v.Verify(string(f.Content), aud...)
			if err != nil {
				t.Errorf("kube-api-access token: %v", err)
				return ctx
			}
			if got := []string(claims.Audience); !slices.Equal(got, aud) {
				t.Errorf("aud %q, want exactly --api-audiences %q (not the issuers %q)", got, aud, p.ServiceAccountIssuers())
			}
			return ctx
		}).
		Assess("a TokenRequest without audience has the same aud", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			res, err := steps.RequestToken(ctx, steps.ClusterFrom(ctx), steps.Namespace(ctx), "default", authenticationv1.TokenRequestSpec{})
			if err != nil {
				t.Error(err)
				return ctx
			}
			c, err := decodeClaims(res.Request.Status.Token)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if !slices.Equal(c.Audience, aud) {
				t.Errorf("aud %q, want %q", c.Audience, aud)
			}
			return ctx
		}).
		Assess("the API accepts the api token (200), refuses vault and accepted-issuer audiences (401)", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c := steps.ClusterFrom(ctx)
			// A failed read is reported; the refusals are still checked.
			if api, err := steps.ReadContent(ctx, t, "sa-token-test", "/service-account/token"); err != nil {
				t.Error(err)
			} else if code, err := steps.CallAPIWithToken(ctx, c, string(api.Content)); err != nil || code != 200 {
				t.Errorf("GET /api with sa-token-test's audience-api token: %d (%v), want 200 (api is an API audience)", code, err)
			}
			others := []string{"vault"}
			for _, is := range p.ServiceAccountIssuers() {
				if !slices.Contains(aud, is) {
					others = append(others, is)
				}
			}
			for _, a := range others {
				res, err := steps.RequestToken(ctx, c, steps.Namespace(ctx), "default", authenticationv1.TokenRequestSpec{Audiences: []string{a}})
				if err != nil {
					t.Error(err)
					continue
				}
				if code, err := steps.CallAPIWithToken(ctx, c, res.Request.Status.Token); err != nil || code != 401 {
					t.Errorf("GET /api with a token for audience %q: %d (%v), want 401: %q is not in --api-audiences", a, code, err, a)
				}
			}
			return ctx
		}).Feature()
}

// decodeClaims reads the claims of a token the API server just returned over
// TLS (the channel vouches for it). Its error names the token's fingerprint.
func decodeClaims(raw string) (*token.Claims, error) {
	return token.Decode(raw)
}

// readClaims reads the token a pod sees at path (steps.ReadContent) and
// decodes its claims (decodeClaims).
func readClaims(ctx context.Context, t *testing.T, pod, path string) (*token.Claims, error) {
	t.Helper()
	f, err := steps.ReadContent(ctx, t, pod, path)
	if err != nil {
		return nil, err
	}
	return decodeClaims(string(f.Content))
}

// maxTokenExpiration: seed 002, "maxTokenExpiration参数": the value is an
// upper bound, workloads may ask for less (a pod's expirationSeconds); seed
// 002's example is 45d. A longer TokenRequest is shortened to 45d with a
// warning, a shorter one is kept, and (extendTokenExpiration, on) the
// 3607 s pod-bound token is still extended to a year, whatever the maximum.
func maxTokenExpiration(p clusters.Profile) features.Feature {
	const max = 45 * 24 * time.Hour
	return features.New(named(p, "maxTokenExpiration 45d shortens longer requests, keeps shorter ones, leaves the extension alone")).
		WithLabel("area", "issuers").WithLabel("source", "seed002").WithLabel("section", "maxTokenExpiration参数").
		Setup(steps.CreateNamespace()).
		Setup(steps.DeployFixture("seed003-projected-volumes/sa-token-test.yaml")).
		Setup(steps.WaitPodServing("sa-token-test")).
		Assess("a 46-day request is shortened to 45 days, with the API server's warning", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			asked := int64((46 * 24 * time.Hour).Seconds())
			res, err := steps.RequestToken(ctx, steps.ClusterFrom(ctx), steps.Namespace(ctx), "default", authenticationv1.TokenRequestSpec{ExpirationSeconds: &asked})
			if err != nil {
				t.Error(err)
				return ctx
			}
			c, err := decodeClaims(res.Request.Status.Token)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != max || *res.Request.Spec.ExpirationSeconds != int64(max.Seconds()) {
				t.Errorf("exp - iat %s, spec.expirationSeconds %d; want 45d (%d s)", got, *res.Request.Spec.ExpirationSeconds, int64(max.Seconds()))
			}
			want := fmt.Sprintf("requested expiration of %d seconds shortened to %d seconds", asked, int64(max.Seconds()))
			if !slices.Contains(res.Warnings, want) {
				t.Errorf("warnings %q, want %q", res.Warnings, want)
			}
			return ctx
		}).
		Assess("a 2-hour request and the pod's 3600 s token keep their lifetimes", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			asked := int64(7200)
			res, err := steps.RequestToken(ctx, steps.ClusterFrom(ctx), steps.Namespace(ctx), "default", authenticationv1.TokenRequestSpec{ExpirationSeconds: &asked})
			if err != nil {
				t.Error(err)
				return ctx
			}
			if c, err := decodeClaims(res.Request.Status.Token); err != nil {
				t.Error(err) // the pod's token is still checked
			} else if c.ExpiresAt.Sub(c.IssuedAt.Time) != 2*time.Hour || len(res.Warnings) != 0 {
				t.Errorf("exp - iat %s, warnings %q; want 2h and none", c.ExpiresAt.Sub(c.IssuedAt.Time), res.Warnings)
			}
			f, err := steps.ReadContent(ctx, t, "sa-token-test", "/service-account/token")
			if err != nil {
				t.Error(err)
				return ctx
			}
			c, err := decodeClaims(string(f.Content))
			if err != nil {
				t.Error(err)
				return ctx
			}
			if c.ExpiresAt.Sub(c.IssuedAt.Time) != time.Hour {
				t.Errorf("the pod's token: exp - iat %s, want its expirationSeconds 3600", c.ExpiresAt.Sub(c.IssuedAt.Time))
			}
			return ctx
		}).
		Assess("a pod-bound 3607 s token is still extended to a year (the maximum does not apply)", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			pod, err := steps.Pod(ctx, steps.Clientset(ctx, t), "sa-token-test")
			if err != nil {
				t.Error(err)
				return ctx
			}
			asked := int64(3607)
			res, err := steps.RequestToken(ctx, steps.ClusterFrom(ctx), steps.Namespace(ctx), "default", authenticationv1.TokenRequestSpec{
				ExpirationSeconds: &asked,
				BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
			})
			if err != nil {
				t.Error(err)
				return ctx
			}
			c, err := decodeClaims(res.Request.Status.Token)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != extendedLifetime || c.Kubernetes.WarnAfter == nil {
				t.Errorf("exp - iat %s, warnafter %v; want a year and warnafter set", got, c.Kubernetes.WarnAfter)
			}
			return ctx
		}).Feature()
}

// issuerDiscovery: seed 000, "流程" (the issuer is the URL where relying
// parties find the keys) and kube-apiserver's discovery rule: the endpoints
// are served only when the signing issuer is an https URL. For
// https://kubernetes.default.svc the document names it and the key set holds
// exactly the suite's key and kubeadm's (every --service-account-key-file),
// with both algorithms; for seed 002's issuer "foo" both endpoints answer
// 404, and tokens still authenticate and verify with the key handed over out
// of band.
func issuerDiscovery(p clusters.Profile) features.Feature {
	iss := p.ServiceAccountIssuer()
	https := strings.HasPrefix(iss, "https://")
	name := "discovery names the first issuer and publishes every verification key"
	if !https {
		name = "a non-https issuer gets no discovery (404), and its tokens still work"
	}
	b := features.New(named(p, name)).WithLabel("area", "issuers").WithLabel("source", "seed000").WithLabel("section", "流程").
		Setup(steps.CreateNamespace())
	if !https {
		return b.Assess("both discovery endpoints answer 404", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			_, err := steps.Published(ctx, steps.ClusterFrom(ctx))
			if se, ok := err.(*token.StatusError); !ok || se.Code != 404 {
				t.Errorf("%s: %v; want 404 (issuer %q is not an https URL)", token.DiscoveryPath, err, iss)
			}
			raw, err := steps.ClusterFrom(ctx).Clientset.Discovery().RESTClient().Get().AbsPath(token.JWKSPath).DoRaw(ctx)
			if err == nil || !strings.Contains(err.Error(), "could not find the requested resource") {
				t.Errorf("%s: %q %v; want 404", token.JWKSPath, raw, err)
			}
			return ctx
		}).
			Assess("a token of issuer "+iss+" authenticates and verifies with the key handed over", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
				res, err := steps.RequestToken(ctx, steps.ClusterFrom(ctx), steps.Namespace(ctx), "default", authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})
				if err != nil {
					t.Error(err)
					return ctx
				}
				raw := res.Request.Status.Token
				if v, err := suiteKeyVerifier(ctx, iss); err != nil {
					t.Error(err) // the TokenReview is still checked
				} else if _, err := v.Verify(raw, "vault"); err != nil {
					t.Errorf("verify out of band: %v", err)
				}
				st, err := steps.ReviewToken(ctx, steps.ClusterFrom(ctx), raw, "vault")
				if err != nil || !st.Authenticated {
					t.Errorf("TokenReview for vault: %v %+v, want authenticated", err, st)
				}
				return ctx
			}).Feature()
	}
	return b.Assess("the discovery document's issuer is "+iss, func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		pub, err := steps.Published(ctx, steps.ClusterFrom(ctx))
		if err != nil {
			t.Error(err)
			return ctx
		}
		if pub.Discovery.Issuer != iss {
			t.Errorf("issuer %q, want the first --service-account-issuer %q", pub.Discovery.Issuer, iss)
		}
		return ctx
	}).
		Assess("the key set is the suite's key and kubeadm's, with both algorithms", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			key, err := suiteKeyFor(ctx)
			if err != nil {
				t.Error(err)
				return ctx
			}
			pub, want := expectPublishedKeys(ctx, t, key.Public())
			if pub == nil {
				return ctx
			}
			algs := []string{}
			for _, k := range want.Keys {
				if !slices.Contains(algs, k.Algorithm) {
					algs = append(algs, k.Algorithm)
				}
			}
			slices.Sort(algs)
			if !slices.Equal(pub.Discovery.IDTokenSigningAlgValuesSupported, algs) {
				t.Errorf("id_token_signing_alg_values_supported %q, want %q", pub.Discovery.IDTokenSigningAlgValuesSupported, algs)
			}
			return ctx
		}).
		Assess("a relying party reading discovery verifies a TokenRequest token", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c := steps.ClusterFrom(ctx)
			res, err := steps.RequestToken(ctx, c, steps.Namespace(ctx), "default", authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})
			if err != nil {
				t.Error(err)
				return ctx
			}
			if _, err := steps.VerifyToken(ctx, c, res.Request.Status.Token, "vault"); err != nil {
				t.Errorf("verify through discovery: %v", err)
			}
			return ctx
		}).Feature()
}

// expectPublishedKeys reads the issuer as a relying party does and checks
// that its key set holds exactly the keys given and kubeadm's (always a
// --service-account-key-file: legacy Secret tokens are signed with it). It
// returns what was published and the key set expected, or nil after
// reporting why it could not look.
func expectPublishedKeys(ctx context.Context, t *testing.T, pubs ...crypto.PublicKey) (*token.Published, jose.JSONWebKeySet) {
	t.Helper()
	c := steps.ClusterFrom(ctx)
	pub, err := steps.Published(ctx, c)
	if err != nil {
		t.Error(err)
		return nil, jose.JSONWebKeySet{}
	}
	kubeadm, err := steps.KubeadmKey(ctx, c)
	if err != nil {
		t.Error(err)
		return nil, jose.JSONWebKeySet{}
	}
	want, err := token.KeySet(append(pubs, kubeadm)...)
	if err != nil {
		t.Error(err)
		return nil, want
	}
	checkKeySet(t, pub.Keys, want)
	return pub, want
}

// checkKeySet compares a published key set with the one expected, by kid,
// algorithm and use: the same keys, no more.
func checkKeySet(t *testing.T, got, want jose.JSONWebKeySet) {
	t.Helper()
	describe := func(s jose.JSONWebKeySet) []string {
		var out []string
		for _, k := range s.Keys {
			out = append(out, k.KeyID+" "+k.Algorithm+" "+k.Use)
		}
		slices.Sort(out)
		return out
	}
	if g, w := describe(got), describe(want); !slices.Equal(g, w) {
		t.Errorf("key set (kid alg use) %q, want %q", g, w)
	}
}

// legacyTokensBesideSuiteKey: seed 001, "手动创建服务账户 API 令牌": a
// legacy Secret token still authenticates on a cluster whose bound tokens
// are signed with another key. kube-controller-manager signs it with
// kubeadm's key (its kid), as issuer kubernetes/serviceaccount, and
// kube-apiserver verifies it because kubeadm's public key is still one of its
// --service-account-key-file flags; bound tokens carry the suite key's kid.
func legacyTokensBesideSuiteKey(p clusters.Profile) features.Feature {
	return features.New(named(p, "a legacy Secret token is signed with kubeadm's key and still authenticates")).
		WithLabel("area", "issuers").WithLabel("source", "seed001").WithLabel("section", "手动创建服务账户 API 令牌").
		Setup(steps.CreateNamespace()).
		Setup(steps.CreateServiceAccount("build-robot")).
		Setup(steps.DeployFixture("seed001-configure-service-accounts/build-robot-secret.yaml")).
		Assess("the Secret's token has kubeadm's kid and issuer kubernetes/serviceaccount, and authenticates", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c := steps.ClusterFrom(ctx)
			ns := steps.Namespace(ctx)
			sec, err := steps.WaitTokenSecret(ctx, steps.Clientset(ctx, t), ns, "build-robot-secret", 30*time.Second)
			if err != nil {
				t.Error(err)
				return ctx
			}
			kubeadm, err := steps.KubeadmKey(ctx, c)
			if err != nil {
				t.Error(err)
				return ctx
			}
			raw := string(sec.Data["token"])
			set, _ := token.KeySet(kubeadm)
			claims, _, err := token.VerifySignature(raw, set)
			if err != nil {
				t.Errorf("the legacy token is not signed with kubeadm's key: %v", err)
			} else if claims["iss"] != "kubernetes/serviceaccount" {
				t.Errorf("the legacy token's iss %v, want kubernetes/serviceaccount (legacy tokens keep their own issuer)", claims["iss"])
			}
			reviewAs(ctx, t, "the legacy Secret token", raw, true, "system:serviceaccount:"+ns+":build-robot")
			return ctx
		}).Feature()
}

// The issuer migration runs on clusters of its own (it restarts
// kube-apiserver with other flags), on Kubernetes 1.37 (kubeadm v1beta4) and
// 1.35 (v1beta3).
func migrationCases() []runtime.Case {
	access := []cluster.Access{
		{Verb: "create", Group: "apps", Resource: "deployments", Why: "a workload rolled after the issuer change (seed 000: pods must be restarted)"},
		{Verb: "patch", Group: "apps", Resource: "deployments", Why: "rolling the workload, as kubectl rollout restart does"},
		{Verb: "get", Group: "apps", Resource: "deployments", Why: "waiting for the rollout"},
		{Verb: "delete", Resource: "pods", Why: "restarting a pod to get a token of the new issuer"},
	}
	var cases []runtime.Case
	for _, p := range []clusters.Profile{clusters.IssuerMigration(), clusters.IssuerMigrationV135()} {
		cases = append(cases, runtime.On(p.Name, issuerMigration(p)).Disruptive().Slow(10*time.Minute).Requires(madeFrom(p)).
			Access(cluster.VerifyAccess, cluster.TokenReviewAccess, cluster.TokenRequestAccess, cluster.CreateServiceAccountAccess, cluster.GetSecretAccess, cluster.TrustBundleAccess, access))
	}
	return cases
}

// issuerB is the issuer the migration moves to: seed 000's example of a
// changed serviceAccountIssuer.
const issuerB = clusters.OpenShiftExampleIssuer

// heldToken is a token minted before a change, and the audiences a
// TokenReview of it names (none: the API's own).
type heldToken struct {
	name, raw string
	audiences []string
}

// migration is what the stages of one migration share.
type migration struct {
	p    clusters.Profile
	a, b string
	// broken is the stage that failed: the stages after it do not run.
	broken string
	// aTokens are the tokens of issuer A minted in stage 1.
	aTokens []heldToken
	// bOldKey is a token of issuer B signed with the first key (stage 3).
	bOldKey heldToken
	// legacy is the legacy Secret token.
	legacy string
	// bundle is the trust bundle projected in stage 1 (nil when the
	// cluster serves no ClusterTrustBundle v1).
	bundle pki.CertSet
	// nextKey is the key the signer rotates to (stage 4).
	nextKey crypto.Signer
	// timings are the API server restarts, for the log.
	timings []string
	begin   time.Time
}

type migrationKey struct{}

func migrationFrom(ctx context.Context, t *testing.T) *migration {
	t.Helper()
	m := ctx.Value(migrationKey{}).(*migration)
	if m.broken != "" {
		t.Skipf("not run: stage %q failed", m.broken)
	}
	return m
}

// restart changes kube-apiserver's flags and records how long it took; on
// failure the migration is broken at stage.
func (m *migration) restart(ctx context.Context, t *testing.T, stage string, change func([]string) []string) bool {
	t.Helper()
	r, err := steps.ChangeAPIServerFlags(ctx, steps.ClusterFrom(ctx), change)
	if err != nil {
		m.broken = stage
		t.Errorf("%s: %v", stage, err)
		return false
	}
	m.timings = append(m.timings, fmt.Sprintf("%s: %s", stage, r))
	t.Logf("measured: %s: kube-apiserver %s", stage, r)
	return true
}

// review checks whether each token authenticates.
func (m *migration) review(ctx context.Context, t *testing.T, want bool, toks ...heldToken) {
	t.Helper()
	for _, h := range toks {
		st, err := steps.ReviewToken(ctx, steps.ClusterFrom(ctx), h.raw, h.audiences...)
		switch {
		case err != nil:
			t.Errorf("%s: %v", h.name, err)
		case st.Authenticated != want:
			c, err := decodeClaims(h.raw)
			if err != nil {
				t.Errorf("%s (iss unreadable: %v): TokenReview authenticated=%v (error %q), want %v", h.name, err, st.Authenticated, st.Error, want)
				continue
			}
			t.Errorf("%s (iss %s): TokenReview authenticated=%v (error %q), want %v", h.name, c.Issuer, st.Authenticated, st.Error, want)
		}
	}
}

const (
	nextSigningKey = "/etc/kubernetes/pki/kic-next.key"
	nextPublicKey  = "/etc/kubernetes/pki/kic-next.pub"
)

// issuerMigration: seed 002's issuer migration ("发行者变更最佳实践": add the
// old issuer to acceptedIssuers, switch the issuer, roll the pods, then drop
// the old one) with seed 000's consequences ("具有之前签发者值的所有绑定令牌
// 都将无效": every bound token of the old issuer becomes invalid, and a pod
// gets a new token only when it restarts), through kube-apiserver's flags,
// changed in place on the node, on one cluster:
//
//  1. Issuer A (https://kubernetes.default.svc) only: tokens are minted
//     (projected into running pods, TokenRequest bound to nothing, to a pod
//     and to a Secret, a legacy Secret token).
//  2. Issuers [B, A]: new tokens carry B, A's tokens still authenticate,
//     discovery says B, and the default audience follows the issuer list
//     (--api-audiences is unset). A relying party that checks iss against
//     the discovery document now rejects A's tokens, though kube-apiserver
//     accepts them: it knows only the issuer discovery names, while the API
//     server accepts every listed one. Running pods keep A's token; a
//     restarted pod gets B's.
//  3. Issuer B only: A's tokens fail (401, authenticated=false), also in the
//     pod still holding one; B's work; legacy Secret tokens, client
//     certificates and trust bundles are unaffected; a Deployment rolled now
//     gets working tokens.
//  4. Key rotation: a new public key added and the signer switched to it
//     (old-key tokens still verify, the key set lists both), then the old
//     public key removed (its tokens fail, the key set lists one).
//  5. --service-account-jwks-uri (seed 002's managed issuer, whose discovery
//     is published elsewhere): discovery points there, and a relying party
//     verifies through that copy (served by the test process).
//  6. --service-account-max-token-expiration below an hour: kube-apiserver
//     refuses to start, saying why (the upstream lower bound Gardener's 30d
//     sits far above); the previous flags are then put back.
func issuerMigration(p clusters.Profile) features.Feature {
	a := p.ServiceAccountIssuer()
	b := issuerB
	return features.New(named(p, "issuer migration A -> [B, A] -> B, then key rotation, keeps valid and invalidates what it must")).
		WithLabel("area", "issuers").WithLabel("source", "seed002").WithLabel("section", "发行者变更最佳实践").WithLabel("speed", "slow").
		Setup(steps.CreateNamespace()).
		Setup(steps.CreateServiceAccount("build-robot")).
		Setup(steps.DeployFixture("seed000-openshift-bound-tokens/nginx.yaml")).
		Setup(steps.DeployFixture("seed003-projected-volumes/sa-token-test.yaml")).
		Setup(steps.DeployFixture("seed001-configure-service-accounts/build-robot-secret.yaml")).
		Setup(steps.CreatePod(steps.ProbePod("restarted"))).
		Setup(steps.WaitPodServing("nginx")).
		Setup(steps.WaitPodServing("sa-token-test")).
		Setup(steps.WaitPodServing("restarted")).
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			m := &migration{p: p, a: a, b: b, begin: time.Now()}
			if _, err := steps.CreateDeployment(ctx, t, "workload", steps.ProbePod("workload")); err != nil {
				t.Fatal(err)
			}
			c := steps.ClusterFrom(ctx)
			cs := steps.Clientset(ctx, t)
			ns := steps.Namespace(ctx)
			// Tokens projected into running pods.
			for _, f := range []struct{ name, pod, path, aud string }{
				{"nginx's vault token", "nginx", "/var/run/secrets/tokens/vault-token", "vault"},
				{"sa-token-test's api token", "sa-token-test", "/service-account/token", "api"},
				{"sa-token-test's kube-api-access token", "sa-token-test", kubeAPIAccess, ""},
			} {
				rf, err := steps.ReadContent(ctx, t, f.pod, f.path)
				if err != nil {
					t.Fatal(err)
				}
				h := heldToken{name: f.name, raw: string(rf.Content)}
				if f.aud != "" {
					h.audiences = []string{f.aud}
				}
				m.aTokens = append(m.aTokens, h)
			}
			// TokenRequest: bound to nothing, to a pod, to a Secret.
			pod, err := steps.Pod(ctx, cs, "nginx") // build-robot's pod
			if err != nil {
				t.Fatal(err)
			}
			sec, err := steps.WaitTokenSecret(ctx, cs, ns, "build-robot-secret", 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			m.legacy = string(sec.Data["token"])
			for _, r := range []struct {
				name string
				ref  *authenticationv1.BoundObjectReference
			}{
				{"a TokenRequest token", nil},
				{"a TokenRequest token bound to pod nginx", &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}},
				{"a TokenRequest token bound to Secret build-robot-secret", &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: sec.Name, UID: sec.UID}},
			} {
				res, err := steps.RequestToken(ctx, c, ns, "build-robot", authenticationv1.TokenRequestSpec{BoundObjectRef: r.ref})
				if err != nil {
					t.Fatal(err)
				}
				m.aTokens = append(m.aTokens, heldToken{name: r.name, raw: res.Request.Status.Token})
			}
			// A trust bundle projected into a pod, where the cluster serves
			// ClusterTrustBundle v1.
			caps, err := steps.DetectCapabilities(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if !caps.TrustBundleAPI || !caps.TrustBundleProjection {
				t.Logf("no ClusterTrustBundle v1 on %s: the trust bundle is not checked", p.KubernetesVersion)
				return context.WithValue(ctx, migrationKey{}, m)
			}
			ca, err := pki.NewCA("issuer-migration")
			if err != nil {
				t.Fatal(err)
			}
			name := steps.ClusterObjectName(ctx, "migration")
			if err := steps.CreateTrustBundle(ctx, t, steps.TrustBundle(ctx, name, "", nil, ca.PEM())); err != nil {
				t.Fatal(err)
			}
			ctx = steps.CreatePod(steps.ProbePod("bundle").Projected("bundle", "/bundle", nil, byName(name, "ca.pem", false)))(ctx, t, cfg)
			if err := steps.WaitPodServingFor(ctx, t, "bundle", steps.PodStartTimeout); err != nil {
				t.Fatal(err)
			}
			set, _, _, err := steps.ReadCertSet(ctx, t, "bundle", "/bundle/ca.pem")
			if err != nil || !set.Equal(pki.SetOf(ca)) {
				t.Fatalf("the projected trust bundle before the change: %v %v, want %v", set, err, pki.SetOf(ca))
			}
			m.bundle = set
			return context.WithValue(ctx, migrationKey{}, m)
		}).
		Assess("stage 1, issuer A: every token carries iss A and authenticates", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			m := migrationFrom(ctx, t)
			for _, h := range m.aTokens {
				c, err := decodeClaims(h.raw)
				if err != nil {
					t.Errorf("%s: %v", h.name, err)
					continue
				}
				if iss := c.Issuer; iss != a {
					t.Errorf("%s: iss %q, want %q", h.name, iss, a)
				}
			}
			m.review(ctx, t, true, m.aTokens...)
			return ctx
		}).
		Assess("stage 2, issuers [B, A]: kube-apiserver restarts, B signs", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			m := migrationFrom(ctx, t)
			if !m.restart(ctx, t, "stage 2 [B, A]", func(cmd []string) []string { return steps.SetFlag(cmd, "service-account-issuer", b, a) }) {
				return ctx
			}
			res, err := steps.RequestToken(ctx, steps.ClusterFrom(ctx), steps.Namespace(ctx), "build-robot", authenticationv1.TokenRequestSpec{})
			if err != nil {
				t.Error(err)
				return ctx
			}
			c, err := decodeClaims(res.Request.Status.Token)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if c.Issuer != b {
				t.Errorf("a new token's iss %q, want the new first issuer %q", c.Issuer, b)
			}
			if got := []string(c.Audience); !slices.Equal(got, []string{b, a}) {
				t.Errorf("a new default token's aud %q, want the issuer list [%s %s]: with --api-audiences unset the API audiences are the issuers", got, b, a)
			}
			return ctx
		}).
		Assess("stage 2: A's tokens still authenticate", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			m := migrationFrom(ctx, t)
			m.review(ctx, t, true, m.aTokens...)
			return ctx
		}).
		Assess("stage 2: discovery says B, the key set is unchanged, and a relying party following it rejects A's tokens", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			m := migrationFrom(ctx, t)
			key, err := suiteKeyFor(ctx)
			if err != nil {
				t.Error(err)
				return ctx
			}
			pub, _ := expectPublishedKeys(ctx, t, key.Public())
			if pub == nil {
				return ctx
			}
			if pub.Discovery.Issuer != b {
				t.Errorf("discovery issuer %q, want %q", pub.Discovery.Issuer, b)
			}
			// The API server accepts A (it is listed); a relying party knows
			// only the issuer discovery names.
			v := token.NewVerifier(&pub.Issuer)
			for _, h := range m.aTokens[:1] {
				if _, err := v.Verify(h.raw, h.audiences...); !errors.Is(err, jwt.ErrTokenInvalidIssuer) {
					t.Errorf("%s (iss %s) at a relying party whose discovery says %s: %v, want an invalid-issuer rejection", h.name, a, b, err)
				}
			}
			return ctx
		}).
		Assess("stage 2: a running pod keeps A's token, a restarted pod gets B's", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			migrationFrom(ctx, t)
			// A failure to read the running pod's token is reported; the
			// restarted pod is still checked.
			if c, err := readClaims(ctx, t, "sa-token-test", kubeAPIAccess); err != nil {
				t.Error(err)
			} else if iss := c.Issuer; iss != a {
				t.Errorf("sa-token-test's kube-api-access token after the switch: iss %q, want still %q (the kubelet does not notice an issuer change)", iss, a)
			}
			name, err := restartPod(ctx, t, "restarted")
			if err != nil {
				t.Error(err)
				return ctx
			}
			c, err := readClaims(ctx, t, name, kubeAPIAccess)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if c.Issuer != b {
				t.Errorf("the restarted pod's kube-api-access token: iss %q, want %q", c.Issuer, b)
			}
			return ctx
		}).
		Assess("stage 3, issuer B only: kube-apiserver restarts", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			m := migrationFrom(ctx, t)
			// A token of B (and of the first key), for stage 4.
			res, err := steps.RequestToken(ctx, steps.ClusterFrom(ctx), steps.Namespace(ctx), "build-robot", authenticationv1.TokenRequestSpec{Audiences: []string{b}})
			if err != nil {
				t.Error(err)
				m.broken = "stage 3"
				return ctx
			}
			m.bOldKey = heldToken{name: "a TokenRequest token of B, first key", raw: res.Request.Status.Token}
			m.restart(ctx, t, "stage 3 [B]", func(cmd []string) []string { return steps.SetFlag(cmd, "service-account-issuer", b) })
			return ctx
		}).
		Assess("stage 3: A's tokens fail (authenticated=false, 401); B's work", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			m := migrationFrom(ctx, t)
			m.review(ctx, t, false, m.aTokens...)
			for _, h := range m.aTokens {
				if h.audiences != nil {
					continue // not API tokens
				}
				if code, err := steps.CallAPIWithToken(ctx, steps.ClusterFrom(ctx), h.raw); err != nil || code != 401 {
					t.Errorf("%s: GET /api answered %d (%v), want 401", h.name, code, err)
				}
			}
			m.review(ctx, t, true, m.bOldKey)
			res, err := steps.RequestToken(ctx, steps.ClusterFrom(ctx), steps.Namespace(ctx), "build-robot", authenticationv1.TokenRequestSpec{})
			if err != nil {
				t.Error(err)
				return ctx
			}
			if c, err := decodeClaims(res.Request.Status.Token); err != nil {
				t.Error(err) // GET /api with it is still checked
			} else if c.Issuer != b || !slices.Equal(c.Audience, []string{b}) {
				t.Errorf("a new default token: iss %q aud %q, want %s and [%s]", c.Issuer, c.Audience, b, b)
			}
			if code, err := steps.CallAPIWithToken(ctx, steps.ClusterFrom(ctx), res.Request.Status.Token); err != nil || code != 200 {
				t.Errorf("a new token: GET /api answered %d (%v), want 200", code, err)
			}
			return ctx
		}).
		Assess("stage 3: the pod still holding A's token gets 401 with it", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			migrationFrom(ctx, t)
			f, err := steps.ReadContent(ctx, t, "sa-token-test", kubeAPIAccess)
			if err != nil {
				t.Error(err)
				return ctx
			}
			raw := string(f.Content)
			c, err := decodeClaims(raw)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if iss := c.Issuer; iss != a {
				t.Logf("sa-token-test's token was already replaced (iss %s): nothing to check", iss)
				return ctx
			}
			if code, err := steps.CallAPIWithToken(ctx, steps.ClusterFrom(ctx), raw); err != nil || code != 401 {
				t.Errorf("sa-token-test's kube-api-access token (iss %s): GET /api answered %d (%v), want 401 until the kubelet replaces it", a, code, err)
			}
			return ctx
		}).
		Assess("stage 3: legacy Secret tokens, client certificates and trust bundles are unaffected", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			m := migrationFrom(ctx, t)
			if m.bundle != nil {
				set, _, _, err := steps.ReadCertSet(ctx, t, "bundle", "/bundle/ca.pem")
				if err != nil || !set.Equal(m.bundle) {
					t.Errorf("the projected trust bundle after the change: %v %v, want it unchanged: %v", set, err, m.bundle)
				}
			}
			reviewAs(ctx, t, "the legacy Secret token", m.legacy, true, "system:serviceaccount:"+steps.Namespace(ctx)+":build-robot")
			ssr, err := steps.Clientset(ctx, t).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			if err != nil {
				t.Errorf("the suite's client certificate: %v", err)
			} else if ssr.Status.UserInfo.Username != "kubernetes-admin" {
				t.Errorf("the suite's client certificate authenticates as %q, want kubernetes-admin", ssr.Status.UserInfo.Username)
			}
			return ctx
		}).
		Assess("stage 3: a Deployment rolled now gets working tokens of B", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			migrationFrom(ctx, t)
			name, err := steps.RolloutRestart(ctx, t, "workload")
			if err != nil {
				t.Error(err)
				return ctx
			}
			f, err := steps.ReadContent(ctx, t, name, kubeAPIAccess)
			if err != nil {
				t.Error(err)
				return ctx
			}
			raw := string(f.Content)
			if c, err := decodeClaims(raw); err != nil {
				t.Error(err) // GET /api with it is still checked
			} else if iss := c.Issuer; iss != b {
				t.Errorf("the rolled pod %s: iss %q, want %q", name, iss, b)
			}
			if code, err := steps.CallAPIWithToken(ctx, steps.ClusterFrom(ctx), raw); err != nil || code != 200 {
				t.Errorf("the rolled pod's token: GET /api answered %d (%v), want 200", code, err)
			}
			return ctx
		}).
		Assess("stage 4: a new public key added and the signer switched: old-key tokens still verify, the key set lists both", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			m := migrationFrom(ctx, t)
			c := steps.ClusterFrom(ctx)
			next, err := cluster.NewServiceAccountKey(p.ServiceAccountKey)
			if err != nil {
				t.Error(err)
				return ctx
			}
			m.nextKey = next
			priv, pubPEM, err := cluster.KeyPEM(next)
			if err == nil {
				err = steps.WriteNodeFile(ctx, c, nextSigningKey, priv, 0o600)
			}
			if err == nil {
				err = steps.WriteNodeFile(ctx, c, nextPublicKey, pubPEM, 0o644)
			}
			if err != nil {
				m.broken = "stage 4"
				t.Error(err)
				return ctx
			}
			if !m.restart(ctx, t, "stage 4 new key signs, both verify", func(cmd []string) []string {
				cmd = steps.SetFlag(cmd, "service-account-signing-key-file", nextSigningKey)
				return steps.SetFlag(cmd, "service-account-key-file", append(steps.FlagValues(cmd, "service-account-key-file"), nextPublicKey)...)
			}) {
				return ctx
			}
			m.review(ctx, t, true, m.bOldKey)
			res, err := steps.RequestToken(ctx, c, steps.Namespace(ctx), "build-robot", authenticationv1.TokenRequestSpec{})
			if err != nil {
				t.Error(err)
				return ctx
			}
			kid, _ := token.KeyID(next.Public())
			if c, err := decodeClaims(res.Request.Status.Token); err != nil {
				t.Error(err) // the key set is still checked
			} else if h := c.Header; h.KeyID != kid {
				t.Errorf("a new token's kid %s, want the new key's %s", h.KeyID, kid)
			}
			key, err := suiteKeyFor(ctx)
			if err != nil {
				t.Error(err)
				return ctx
			}
			expectPublishedKeys(ctx, t, key.Public(), next.Public())
			return ctx
		}).
		Assess("stage 4: the old public key removed: its tokens fail, the key set lists the new one", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			m := migrationFrom(ctx, t)
			c := steps.ClusterFrom(ctx)
			old := clusters.NodeFilesPath + "/" + clusters.PublicKeyFile
			if !m.restart(ctx, t, "stage 4 old public key removed", func(cmd []string) []string {
				var keep []string
				for _, f := range steps.FlagValues(cmd, "service-account-key-file") {
					if f != old {
						keep = append(keep, f)
					}
				}
				return steps.SetFlag(cmd, "service-account-key-file", keep...)
			}) {
				return ctx
			}
			m.review(ctx, t, false, m.bOldKey)
			res, err := steps.RequestToken(ctx, c, steps.Namespace(ctx), "build-robot", authenticationv1.TokenRequestSpec{})
			if err != nil {
				t.Error(err)
				return ctx
			}
			m.review(ctx, t, true, heldToken{name: "a token of the new key", raw: res.Request.Status.Token})
			expectPublishedKeys(ctx, t, m.nextKey.Public())
			// kube-controller-manager still signs legacy tokens with kubeadm's key.
			reviewAs(ctx, t, "the legacy Secret token", m.legacy, true, "system:serviceaccount:"+steps.Namespace(ctx)+":build-robot")
			return ctx
		}).
		Assess("stage 5, --service-account-jwks-uri: discovery points to the published copy, where a relying party verifies", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			m := migrationFrom(ctx, t)
			c := steps.ClusterFrom(ctx)
			keys, err := c.Clientset.Discovery().RESTClient().Get().AbsPath(token.JWKSPath).DoRaw(ctx)
			if err != nil {
				t.Error(err)
				return ctx
			}
			// The published copy: what seed 002's discovery server serves.
			var served atomic.Int32
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				w.Header().Set("Content-Type", "application/jwk-set+json")
				w.Write(keys)
			}))
			defer srv.Close()
			uri := srv.URL + "/managed/" + steps.Namespace(ctx) + "/jwks"
			if !m.restart(ctx, t, "stage 5 --service-account-jwks-uri", func(cmd []string) []string { return steps.SetFlag(cmd, "service-account-jwks-uri", uri) }) {
				return ctx
			}
			raw, err := c.Clientset.Discovery().RESTClient().Get().AbsPath(token.DiscoveryPath).DoRaw(ctx)
			if err != nil {
				t.Error(err)
				return ctx
			}
			iss := &token.Issuer{}
			if err := json.Unmarshal(raw, &iss.Discovery); err != nil {
				t.Error(err)
				return ctx
			}
			if iss.Discovery.JWKSURI != uri || iss.Discovery.Issuer != b {
				t.Errorf("discovery: issuer %q jwks_uri %q, want %q and %q", iss.Discovery.Issuer, iss.Discovery.JWKSURI, b, uri)
			}
			res, err := srv.Client().Get(iss.Discovery.JWKSURI)
			if err != nil {
				t.Error(err)
				return ctx
			}
			defer res.Body.Close()
			if err := json.NewDecoder(res.Body).Decode(&iss.Keys); err != nil {
				t.Error(err)
				return ctx
			}
			tr, err := steps.RequestToken(ctx, c, steps.Namespace(ctx), "build-robot", authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})
			if err != nil {
				t.Error(err)
				return ctx
			}
			if _, err := token.NewVerifier(iss).Verify(tr.Request.Status.Token, "vault"); err != nil || served.Load() == 0 {
				t.Errorf("a relying party verifying through %s: %v (requests served there: %d)", uri, err, served.Load())
			}
			return ctx
		}).
		Assess("stage 6, --service-account-max-token-expiration=30m: kube-apiserver refuses to start, saying why", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			m := migrationFrom(ctx, t)
			c := steps.ClusterFrom(ctx)
			const want = "the service-account-max-token-expiration must be between 1 hour and 2^32 seconds"
			took, back, err := steps.APIServerRefuses(ctx, c, func(cmd []string) []string {
				return steps.SetFlag(cmd, "service-account-max-token-expiration", "30m")
			}, want, 2*time.Minute)
			if err != nil {
				t.Errorf("--service-account-max-token-expiration=30m: %v", err)
			} else {
				t.Logf("measured: kube-apiserver refused to start %s after the change: %q; the previous flags back, %s", took.Round(100*time.Millisecond), want, back)
				m.timings = append(m.timings, "stage 6 flags restored: "+back.String())
			}
			t.Logf("measured: issuer migration: %s; whole feature %s", strings.Join(m.timings, "; "), time.Since(m.begin).Round(time.Second))
			return ctx
		}).Feature()
}

// restartPod deletes a pod and creates it again from its spec, as restarting
// a bare pod means; it returns its name once the new pod serves.
func restartPod(ctx context.Context, t *testing.T, name string) (string, error) {
	t.Helper()
	cs := steps.Clientset(ctx, t)
	ns := steps.Namespace(ctx)
	old, err := steps.Pod(ctx, cs, name)
	if err != nil {
		return "", err
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return "", fmt.Errorf("delete pod %s: %w", name, err)
	}
	err = wait.For(ctx, "pod "+name+" to be gone", wait.Options{Timeout: steps.PodStartTimeout}, func(ctx context.Context) (bool, string, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		if err != nil {
			return false, err.Error(), nil
		}
		return p.UID != old.UID, "still there: " + string(p.Status.Phase), nil
	})
	if err != nil {
		return "", err
	}
	fresh := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: old.Labels}, Spec: old.Spec}
	fresh.Spec.NodeName = ""
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, fresh, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create pod %s again: %w", name, err)
	}
	return name, steps.WaitPodServingFor(ctx, t, name, steps.PodStartTimeout)
}
