package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A token the suite signs verifies with the key set made from its public
// key, carries the header kube-apiserver writes, and fails with any other key.
func TestSignVerifiesWithItsKeySetOnly(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	for _, tc := range []struct {
		alg          string
		key, another crypto.Signer
	}{{"RS256", rk, ek}, {"ES256", ek, rk}} {
		claims := &Claims{RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "foo1", Subject: "system:serviceaccount:ns:sa", Audience: jwt.ClaimStrings{"api"},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		}}
		raw, err := Sign(tc.key, claims)
		if err != nil {
			t.Fatal(err)
		}
		set, err := KeySet(tc.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		got, err := (&Verifier{Issuer: "foo1", Keys: set}).Verify(raw, "api")
		if err != nil {
			t.Fatalf("%s: %v", tc.alg, err)
		}
		kid, _ := KeyID(tc.key.Public())
		if got.Header.Algorithm != tc.alg || got.Header.KeyID != kid || got.Header.Type != "" {
			t.Errorf("%s: header %+v, want alg %s, kid %s, no typ", tc.alg, got.Header, tc.alg, kid)
		}
		other, _ := KeySet(tc.another.Public())
		if _, err := (&Verifier{Issuer: "foo1", Keys: other}).Verify(raw, "api"); err == nil {
			t.Errorf("%s: verified with another key", tc.alg)
		}
	}
}
