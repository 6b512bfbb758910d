package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "https://kubernetes.default.svc.cluster.local"
	testAudience = "https://sts.example.com"
	testLifetime = 3600 * time.Second
)

// testNow is the fixed clock of every test; whole seconds, since NumericDate
// has second precision.
var testNow = time.Unix(1_900_000_000, 0)

// signingKey is a throw-away private key and the alg and kid it signs with.
type signingKey struct {
	alg    string
	kid    string
	method jwt.SigningMethod
	priv   any
}

// fixture holds the throw-away keys of the tests and the JWKS publishing them.
type fixture struct {
	rsa, es256, es384, es512 signingKey
	// rsaImpostor and es256Impostor are not in the JWKS but claim the kids of
	// rsa and es256.
	rsaImpostor, es256Impostor signingKey
	rsaPub                     *rsa.PublicKey
	jwks                       jose.JSONWebKeySet
}

var (
	fixtureOnce sync.Once
	fixtureVal  *fixture
)

// keys returns the shared fixture; RSA key generation is too slow to repeat
// per test.
func keys(t *testing.T) *fixture {
	t.Helper()
	fixtureOnce.Do(func() { fixtureVal = newFixture(t) })
	if fixtureVal == nil {
		t.Fatal("key fixture could not be built")
	}
	return fixtureVal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	genRSA := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatalf("generate RSA key: %v", err)
		}
		return k
	}
	genEC := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatalf("generate ECDSA %s key: %v", c.Params().Name, err)
		}
		return k
	}
	rsaKey, ec256, ec384, ec521 := genRSA(), genEC(elliptic.P256()), genEC(elliptic.P384()), genEC(elliptic.P521())

	f := &fixture{
		rsa:           signingKey{"RS256", "rsa-1", jwt.SigningMethodRS256, rsaKey},
		es256:         signingKey{"ES256", "ec256-1", jwt.SigningMethodES256, ec256},
		es384:         signingKey{"ES384", "ec384-1", jwt.SigningMethodES384, ec384},
		es512:         signingKey{"ES512", "ec521-1", jwt.SigningMethodES512, ec521},
		rsaImpostor:   signingKey{"RS256", "rsa-1", jwt.SigningMethodRS256, genRSA()},
		es256Impostor: signingKey{"ES256", "ec256-1", jwt.SigningMethodES256, genEC(elliptic.P256())},
		rsaPub:        &rsaKey.PublicKey,
	}
	jwk := func(pub any, kid, alg, use string) jose.JSONWebKey {
		return jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: use}
	}
	f.jwks.Keys = []jose.JSONWebKey{
		jwk(&rsaKey.PublicKey, f.rsa.kid, "RS256", "sig"),
		jwk(&ec256.PublicKey, f.es256.kid, "ES256", "sig"),
		jwk(&ec384.PublicKey, f.es384.kid, "ES384", "sig"),
		jwk(&ec521.PublicKey, f.es512.kid, "ES512", "sig"),
		// Keys without alg, so that only the key type check stands between
		// them and a token with the wrong alg.
		jwk(&rsaKey.PublicKey, "rsa-noalg", "", "sig"),
		jwk(&ec256.PublicKey, "ec256-noalg", "", ""),
		// A key published for encryption only.
		jwk(&rsaKey.PublicKey, "rsa-enc", "RS256", "enc"),
		// Two keys sharing a kid.
		jwk(&ec256.PublicKey, "dup", "ES256", "sig"),
		jwk(&genEC(elliptic.P256()).PublicKey, "dup", "ES256", "sig"),
	}
	return f
}

// verifier returns a Verifier for the fixture's JWKS on the fixed test clock.
func (f *fixture) verifier() *Verifier {
	return &Verifier{
		Issuer: testIssuer,
		Keys:   f.jwks,
		Now:    func() time.Time { return testNow },
		Leeway: 5 * time.Second,
	}
}

// validClaims returns the claims of a token kube-apiserver could have issued
// 10s before testNow for a pod-bound token.
func validClaims() *Claims {
	iat := testNow.Add(-10 * time.Second)
	return &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Subject:   "system:serviceaccount:ns1:sa1",
			Audience:  jwt.ClaimStrings{testAudience},
			IssuedAt:  jwt.NewNumericDate(iat),
			NotBefore: jwt.NewNumericDate(iat),
			ExpiresAt: jwt.NewNumericDate(iat.Add(testLifetime)),
			ID:        "5f0a1e4c-3d4b-4a8e-9c1d-2b7e8f6a0c11",
		},
		Kubernetes: KubernetesClaims{
			Namespace:      "ns1",
			ServiceAccount: Ref{Name: "sa1", UID: "0b1c2d3e-sa"},
			Pod:            &Ref{Name: "pod1", UID: "0b1c2d3e-pod"},
			Node:           &Ref{Name: "node1", UID: "0b1c2d3e-node"},
			WarnAfter:      jwt.NewNumericDate(iat.Add(10 * time.Minute)),
		},
	}
}

// claimsWith returns validClaims changed by mutate.
func claimsWith(mutate func(*Claims)) *Claims {
	c := validClaims()
	mutate(c)
	return c
}

// mint signs c with k, putting kid (when non-empty) in the header.
func mint(t *testing.T, k signingKey, kid string, c *Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	raw, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatalf("sign %s token: %v", k.alg, err)
	}
	return raw
}

// b64JSON is the base64url (unpadded) JSON encoding of v, one JWS segment.
func b64JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// segments splits a compact JWS into header, payload and signature.
func segments(t *testing.T, raw string) (header, payload, signature string) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token %s has %d segments, want 3", Fingerprint(raw), len(parts))
	}
	return parts[0], parts[1], parts[2]
}

// assertNoLeak fails if msg contains raw or its signature.
func assertNoLeak(t *testing.T, msg, raw string) {
	t.Helper()
	if raw != "" && strings.Contains(msg, raw) {
		t.Errorf("message contains the whole token: %s", msg)
	}
	if parts := strings.Split(raw, "."); len(parts) == 3 && len(parts[2]) >= 8 && strings.Contains(msg, parts[2]) {
		t.Errorf("message contains the token's signature: %s", msg)
	}
}
