package tests

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/token"
)

// tokenKey names a verified token a feature's setup put in its context.
type tokenKey string

// readVerifiedToken is a setup step: it reads the token the pod sees at
// path and verifies it as the cluster's relying party for audience ("" =
// the API's own audience, which on the suite's kind profiles is the issuer).
// Only a token that verified reaches the assessments: a setup step, it
// stops the feature (t.Fatal) when the token cannot be read or verified.
func readVerifiedToken(key tokenKey, pod, path, audience string) features.Func {
	return func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
		t.Helper()
		aud := audience
		if aud == "" {
			var err error
			if aud, err = apiAudience(ctx); err != nil {
				t.Fatal(err)
			}
		}
		vt, err := steps.ReadToken(ctx, t, pod, path, aud)
		if err != nil {
			t.Fatal(err)
		}
		return context.WithValue(ctx, key, vt)
	}
}

// apiAudience is the audience of tokens requested without one: the API
// audiences, which default to the issuers when --api-audiences is unset
// (every suite profile); on an existing cluster, the discovery issuer.
func apiAudience(ctx context.Context) (string, error) {
	if iss := steps.ClusterFrom(ctx).Issuer; iss != "" {
		return iss, nil
	}
	pub, err := steps.Published(ctx, steps.ClusterFrom(ctx))
	if err != nil {
		return "", fmt.Errorf("service-account issuer: %w", err)
	}
	return pub.Discovery.Issuer, nil
}

// liveIdentity reads pod name, then its ServiceAccount and node, from the
// API server: what a pod-bound token or certificate must name.
func liveIdentity(ctx context.Context, cs kubernetes.Interface, name string) (steps.Identity, error) {
	pod, err := steps.Pod(ctx, cs, name)
	if err != nil {
		return steps.Identity{}, err
	}
	return steps.LiveIdentity(ctx, cs, pod)
}

func tokenFrom(ctx context.Context, t *testing.T, key tokenKey) *steps.VerifiedToken {
	t.Helper()
	vt, _ := ctx.Value(key).(*steps.VerifiedToken)
	if vt == nil {
		t.Errorf("no verified token %q in the context (a setup step reads it)", key)
	}
	return vt
}

// tokenWant is what a pod-bound token must carry.
type tokenWant struct {
	Pod, ServiceAccount string
	// Audience is the exact aud ("" = the API audience).
	Audience string
	// Lifetime is exp - iat.
	Lifetime time.Duration
	// Extended: warnafter = iat + 3607 s must be present (else absent).
	Extended bool
}

// extendedLifetime is the lifetime kube-apiserver gives an extended token
// (maxExtendedExpiration, one year).
const extendedLifetime = 365 * 24 * time.Hour

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// assessPodToken adds the assessments every pod-bound token gets, each
// judging one claim of the verified token under key.
func assessPodToken(b *features.FeatureBuilder, key tokenKey, w tokenWant) *features.FeatureBuilder {
	p := string(key) + ": "
	return b.
		Assess(p+"kid names exactly one key of the published JWKS, of the token's alg", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			vt := tokenFrom(ctx, t, key)
			if vt == nil {
				return ctx
			}
			keys := vt.Published.Keys.Key(vt.Claims.Header.KeyID)
			if len(keys) != 1 {
				t.Errorf("kid %q matches %d keys of the JWKS at %s", vt.Claims.Header.KeyID, len(keys), vt.Published.Discovery.JWKSURI)
				return ctx
			}
			if len(vt.Claims.Header.KeyID) != 43 {
				t.Errorf("kid %q: kube-apiserver's kid is the 43-character base64url SHA-256 of the public key", vt.Claims.Header.KeyID)
			}
			if !slices.Contains(vt.Published.Discovery.IDTokenSigningAlgValuesSupported, vt.Claims.Header.Algorithm) {
				t.Errorf("alg %s is not among the discovery document's id_token_signing_alg_values_supported %v", vt.Claims.Header.Algorithm, vt.Published.Discovery.IDTokenSigningAlgValuesSupported)
			}
			return ctx
		}).
		Assess(p+"iss is the configured issuer", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			vt := tokenFrom(ctx, t, key)
			if vt == nil {
				return ctx
			}
			if want := steps.ClusterFrom(ctx).Issuer; want != "" && vt.Claims.Issuer != want {
				t.Errorf("iss = %q, want the issuer the profile configured, %q", vt.Claims.Issuer, want)
			}
			if got, want := vt.Claims.Issuer, vt.Published.Discovery.Issuer; got != want {
				t.Errorf("iss = %q, want the discovery document's issuer %q", got, want)
			}
			return ctx
		}).
		Assess(p+"aud is exactly the audience asked for", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			vt := tokenFrom(ctx, t, key)
			if vt == nil {
				return ctx
			}
			want := w.Audience
			if want == "" {
				var err error
				if want, err = apiAudience(ctx); err != nil {
					t.Error(err)
					return ctx
				}
			}
			if got := []string(vt.Claims.Audience); !slices.Equal(got, []string{want}) {
				t.Errorf("aud = %q, want [%q]", got, want)
			}
			return ctx
		}).
		Assess(p+"sub names the pod's ServiceAccount", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			vt := tokenFrom(ctx, t, key)
			if vt == nil {
				return ctx
			}
			if want := fmt.Sprintf("system:serviceaccount:%s:%s", steps.Namespace(ctx), w.ServiceAccount); vt.Claims.Subject != want {
				t.Errorf("sub = %q, want %q", vt.Claims.Subject, want)
			}
			return ctx
		}).
		Assess(p+"nbf equals iat", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			vt := tokenFrom(ctx, t, key)
			if vt == nil {
				return ctx
			}
			c := vt.Claims
			if c.NotBefore == nil || c.IssuedAt == nil || !c.NotBefore.Equal(c.IssuedAt.Time) {
				t.Errorf("nbf = %v, iat = %v: want both present and equal", c.NotBefore, c.IssuedAt)
			}
			return ctx
		}).
		Assess(p+fmt.Sprintf("exp - iat is %s", w.Lifetime), func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			vt := tokenFrom(ctx, t, key)
			if vt == nil {
				return ctx
			}
			c := vt.Claims
			if c.IssuedAt == nil {
				t.Error("iat is missing")
				return ctx
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != w.Lifetime {
				t.Errorf("exp - iat = %s (%d s), want %s (%d s)", got, int64(got.Seconds()), w.Lifetime, int64(w.Lifetime.Seconds()))
			}
			return ctx
		}).
		Assess(p+"jti is a UUID", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if vt := tokenFrom(ctx, t, key); vt != nil && !uuidRE.MatchString(vt.Claims.ID) {
				t.Errorf("jti = %q, want a version 4 UUID", vt.Claims.ID)
			}
			return ctx
		}).
		Assess(p+"kubernetes.io binds the token to the live pod, ServiceAccount and node", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			vt := tokenFrom(ctx, t, key)
			if vt == nil {
				return ctx
			}
			live, err := liveIdentity(ctx, steps.Clientset(ctx, t), w.Pod)
			if err != nil {
				t.Error(err)
				return ctx
			}
			k := vt.Claims.Kubernetes
			expectRef(t, "kubernetes.io.pod", k.Pod, live.Pod)
			expectRef(t, "kubernetes.io.serviceaccount", &k.ServiceAccount, live.ServiceAccount)
			expectRef(t, "kubernetes.io.node", k.Node, live.Node)
			if k.Namespace != live.Namespace {
				t.Errorf("kubernetes.io.namespace = %q, want %q", k.Namespace, live.Namespace)
			}
			if k.Secret != nil {
				t.Errorf("kubernetes.io.secret = %+v: a pod-bound token is bound to nothing else", *k.Secret)
			}
			return ctx
		}).
		Assess(p+warnAfterName(w.Extended), func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			vt := tokenFrom(ctx, t, key)
			if vt == nil {
				return ctx
			}
			wa := vt.Claims.Kubernetes.WarnAfter
			switch {
			case w.Extended && wa == nil:
				t.Error("kubernetes.io.warnafter is missing: an extended token carries the lifetime asked for there")
			case w.Extended && !wa.Equal(vt.Claims.IssuedAt.Add(3607*time.Second)):
				t.Errorf("kubernetes.io.warnafter = %v, want iat + 3607 s = %v", wa.Time, vt.Claims.IssuedAt.Add(3607*time.Second))
			case !w.Extended && wa != nil:
				t.Errorf("kubernetes.io.warnafter = %v: only an extended token carries it", wa.Time)
			}
			return ctx
		})
}

func warnAfterName(extended bool) string {
	if extended {
		return "warnafter is iat + 3607 s"
	}
	return "no warnafter"
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

// probeFileAt asks the probe listening on port in the pod about one path.
func probeFileAt(ctx context.Context, t *testing.T, pod string, port int, path string) (*probe.FileReport, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, steps.APITimeout)
	defer cancel()
	r, err := steps.Probe(ctx, t).OnPort(port).Files(ctx, steps.Namespace(ctx), pod, path)
	if err != nil {
		return nil, err
	}
	return r.File(path)
}
