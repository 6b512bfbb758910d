package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// KeyID is the "kid" kube-apiserver gives a public key: the unpadded
// base64url SHA-256 of its PKIX DER encoding.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// Algorithm is the JWS algorithm kube-apiserver signs with for a key: RS256
// for RSA, ES256/ES384/ES512 for the P-256/384/521 curves.
func Algorithm(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RS256", nil
	case *ecdsa.PublicKey:
		for alg, c := range curveFor {
			if k.Curve == c {
				return alg, nil
			}
		}
		return "", fmt.Errorf("no JWS algorithm for curve %s", curveName(k.Curve))
	}
	return "", fmt.Errorf("no JWS algorithm for a %T", pub)
}

// KeySet is the key set a relying party that was handed the public keys
// (instead of reading a jwks_uri) verifies with: each key under its
// kube-apiserver kid, with its algorithm and use "sig".
func KeySet(pubs ...crypto.PublicKey) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	for _, pub := range pubs {
		kid, err := KeyID(pub)
		if err != nil {
			return set, err
		}
		alg, err := Algorithm(pub)
		if err != nil {
			return set, err
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"})
	}
	return set, nil
}

// Sign makes a token with the claims the way kube-apiserver's signer does:
// the key's algorithm, its kid, no "typ" header. The suite signs with keys it
// generated itself, to present the API server with tokens it did not issue
// (another accepted issuer, an unknown one, an unknown key).
func Sign(key crypto.Signer, claims *Claims) (string, error) {
	alg, err := Algorithm(key.Public())
	if err != nil {
		return "", err
	}
	kid, err := KeyID(key.Public())
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	t.Header["kid"] = kid
	delete(t.Header, "typ")
	raw, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign a %s token: %w", alg, err)
	}
	return raw, nil
}

// VerifySignature checks only raw's signature, with the key of its kid in
// keys, and returns its claims as they are: for legacy Secret tokens, which
// carry no audience and no expiry for Verify to check. The caller judges the
// claims it needs.
func VerifySignature(raw string, keys jose.JSONWebKeySet) (jwt.MapClaims, Header, error) {
	v := &Verifier{Keys: keys}
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(jwt.WithValidMethods(Algorithms), jwt.WithoutClaimsValidation()).ParseWithClaims(raw, claims, v.keyFor)
	if err != nil {
		return nil, Header{}, fmt.Errorf("verify the signature of token %s: %w", Fingerprint(raw), err)
	}
	return claims, headerOf(tok.Header), nil
}
