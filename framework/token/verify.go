package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Algorithms are the signing algorithms Verify accepts: the ones kube-apiserver
// can sign service-account tokens with (see the package documentation).
var Algorithms = []string{"RS256", "ES256", "ES384", "ES512"}

// DefaultLeeway is the clock skew NewVerifier tolerates between the machine
// running the suite and kube-apiserver when checking exp, nbf and iat.
const DefaultLeeway = 10 * time.Second

// Verifier checks service-account tokens against one issuer and its key set.
// The zero value is not usable: Issuer must be set, or every token is
// rejected.
type Verifier struct {
	// Issuer is the exact "iss" a token must carry.
	Issuer string
	// Keys is the key set that signs tokens; see Verify for how a key is
	// chosen.
	Keys jose.JSONWebKeySet
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Leeway is the clock skew tolerated when checking exp, nbf and iat.
	Leeway time.Duration
}

// NewVerifier returns a Verifier for the issuer and key set fetched by
// FetchIssuer, with DefaultLeeway and the system clock.
func NewVerifier(iss *Issuer) *Verifier {
	return &Verifier{
		Issuer: iss.Discovery.Issuer,
		Keys:   iss.Keys,
		Leeway: DefaultLeeway,
	}
}

// Verify checks the signature and the registered claims of raw and returns
// its claims, including the header. On failure it returns a nil Claims and an
// error naming the token by Fingerprint; the jwt/v5 sentinel errors
// (jwt.ErrTokenExpired, jwt.ErrTokenInvalidAudience, ...) can be matched with
// errors.Is.
//
// The signing key is the one JWKS entry whose kid equals the token's "kid"
// header; see the package documentation for the checks made on it.
//
// At least one audience must be given, and every one of them must be listed
// in the token's "aud" (jwt.WithAllAudiences), not just one: a test asking
// for a token bound to several audiences must see all of them. A call with
// no audience is an error, never a silently skipped check: a relying party
// always knows the audience it is.
func (v *Verifier) Verify(raw string, audience ...string) (*Claims, error) {
	if v.Issuer == "" {
		// jwt.WithIssuer("") would silently skip the issuer check.
		return nil, fmt.Errorf("verify token %s: verifier has no issuer", Fingerprint(raw))
	}
	if len(audience) == 0 {
		return nil, fmt.Errorf("verify token %s: no audience given: a relying party checks the audience it is", Fingerprint(raw))
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(Algorithms),
		jwt.WithIssuer(v.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.Leeway),
	}
	if v.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(v.Now))
	}
	opts = append(opts, jwt.WithAllAudiences(audience...))

	claims := &Claims{}
	tok, err := jwt.NewParser(opts...).ParseWithClaims(raw, claims, v.keyFor)
	if err != nil {
		return nil, fmt.Errorf("verify token %s: %w", Fingerprint(raw), err)
	}
	claims.Header = headerOf(tok.Header)
	return claims, nil
}

// keyFor is the jwt.Keyfunc of Verify. The algorithm has already been checked
// against Algorithms by the parser.
func (v *Verifier) keyFor(tok *jwt.Token) (any, error) {
	alg := tok.Method.Alg()
	kidValue, ok := tok.Header["kid"]
	if !ok {
		return nil, errors.New("token has no kid header")
	}
	kid, ok := kidValue.(string)
	if !ok || kid == "" {
		return nil, fmt.Errorf("token kid header %v is not a non-empty string", kidValue)
	}

	keys := v.Keys.Key(kid)
	switch len(keys) {
	case 0:
		return nil, fmt.Errorf("no key with kid %q in JWKS (%d keys)", kid, len(v.Keys.Keys))
	case 1:
	default:
		return nil, fmt.Errorf("kid %q matches %d keys", kid, len(keys))
	}
	jwk := keys[0]

	if jwk.Algorithm != "" && jwk.Algorithm != alg {
		return nil, fmt.Errorf("JWK %q has alg %q, token has alg %q", kid, jwk.Algorithm, alg)
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return nil, fmt.Errorf("JWK %q has use %q, want \"sig\"", kid, jwk.Use)
	}

	switch alg {
	case "RS256":
		if pub, ok := jwk.Key.(*rsa.PublicKey); ok {
			return pub, nil
		}
		return nil, fmt.Errorf("JWK %q holds a %T, %s needs an RSA public key", kid, jwk.Key, alg)
	case "ES256", "ES384", "ES512":
		want := curveFor[alg]
		pub, ok := jwk.Key.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("JWK %q holds a %T, %s needs an ECDSA %s public key", kid, jwk.Key, alg, want.Params().Name)
		}
		if pub.Curve != want {
			return nil, fmt.Errorf("JWK %q is on curve %s, %s needs %s", kid, curveName(pub.Curve), alg, want.Params().Name)
		}
		return pub, nil
	default:
		// Unreachable while Algorithms and this switch agree.
		return nil, fmt.Errorf("no key type known for alg %q", alg)
	}
}

// curveFor maps each accepted ECDSA algorithm to the curve it is defined on
// (RFC 7518, section 3.4).
var curveFor = map[string]elliptic.Curve{
	"ES256": elliptic.P256(),
	"ES384": elliptic.P384(),
	"ES512": elliptic.P521(),
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "<nil>"
	}
	return c.Params().Name
}

// Fingerprint names a token in logs and errors without revealing it:
// "sha256:" followed by the first 12 hex digits of the SHA-256 of raw. It is
// stable, so the same token can be recognised across log lines.
func Fingerprint(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return "sha256:" + hex.EncodeToString(sum[:])[:12]
}
