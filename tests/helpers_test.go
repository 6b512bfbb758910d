package tests

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/token"
)

// projectedToken is a token read from a pod, with what is needed to judge it.
// The raw token is never logged: only its fingerprint and claims.
type projectedToken struct {
	raw, fingerprint string
	claims           *token.Claims // decoded, not verified: each assessment judges one property
	issuer           *token.Issuer
	pod              *corev1.Pod
}

type projectedTokenKey struct{}

// readProjectedToken reads the token the pod sees at path, the cluster's
// issuer (discovery document and JWKS) and the live pod.
func readProjectedToken(pod, path string) features.Func {
	return func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
		t.Helper()
		cs := steps.Clientset(t, cfg)
		f := steps.ReadFile(ctx, t, cs, pod, path)
		raw := string(f.Content)
		claims, err := token.Decode(raw)
		if err != nil {
			t.Fatalf("%s in pod %s is not a JWT: %v", path, pod, err)
		}
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		iss, err := token.FetchIssuer(ictx, cs.CoreV1().RESTClient())
		if err != nil {
			t.Fatalf("service-account issuer: %v", err)
		}
		tok := &projectedToken{raw: raw, fingerprint: token.Fingerprint(raw), claims: claims, issuer: iss, pod: steps.Pod(ctx, t, cs, pod)}
		t.Logf("token %s at %s: %s", tok.fingerprint, path, claims.Summary())
		return context.WithValue(ctx, projectedTokenKey{}, tok)
	}
}

func projectedTokenFrom(ctx context.Context, t *testing.T) *projectedToken {
	t.Helper()
	tok, ok := ctx.Value(projectedTokenKey{}).(*projectedToken)
	if !ok {
		t.Fatal("no projected token in the context (readProjectedToken runs in setup)")
	}
	return tok
}
