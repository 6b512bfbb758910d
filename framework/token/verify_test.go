package token

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyAcceptsEachAlgorithm(t *testing.T) {
	f := keys(t)
	for _, k := range []signingKey{f.rsa, f.es256, f.es384, f.es512} {
		t.Run(k.alg, func(t *testing.T) {
			want := validClaims()
			raw := mint(t, k, k.kid, want)

			got, err := f.verifier().Verify(raw, testAudience)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			t.Logf("token %s: %s", Fingerprint(raw), got.Summary())

			if wantH := (Header{Algorithm: k.alg, KeyID: k.kid, Type: "JWT"}); got.Header != wantH {
				t.Errorf("Header = %+v, want %+v", got.Header, wantH)
			}
			if got.Issuer != want.Issuer || got.Subject != want.Subject || got.ID != want.ID {
				t.Errorf("iss, sub, jti = %q, %q, %q, want %q, %q, %q",
					got.Issuer, got.Subject, got.ID, want.Issuer, want.Subject, want.ID)
			}
			if !reflect.DeepEqual(got.Audience, want.Audience) {
				t.Errorf("aud = %q, want %q", got.Audience, want.Audience)
			}
			for _, d := range []struct {
				name      string
				got, want *jwt.NumericDate
			}{
				{"iat", got.IssuedAt, want.IssuedAt},
				{"nbf", got.NotBefore, want.NotBefore},
				{"exp", got.ExpiresAt, want.ExpiresAt},
				{"warnafter", got.Kubernetes.WarnAfter, want.Kubernetes.WarnAfter},
			} {
				if d.got == nil || !d.got.Equal(d.want.Time) {
					t.Errorf("%s = %v, want %v", d.name, d.got, d.want)
				}
			}
			gotK, wantK := got.Kubernetes, want.Kubernetes
			gotK.WarnAfter, wantK.WarnAfter = nil, nil
			if !reflect.DeepEqual(gotK, wantK) {
				t.Errorf("kubernetes.io = %+v, want %+v", gotK, wantK)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	f := keys(t)

	rsaPubDER, err := x509.MarshalPKIXPublicKey(f.rsaPub)
	if err != nil {
		t.Fatalf("marshal RSA public key: %v", err)
	}
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPubDER})

	tests := []struct {
		name string
		// token mints the token under test.
		token     func(t *testing.T) string
		audiences []string
		// wantIs are jwt sentinel errors the error must wrap.
		wantIs []error
		// wantMsg is a substring the error must contain.
		wantMsg string
	}{
		{
			name:   "wrong signature: other RSA key with the same kid",
			token:  func(t *testing.T) string { return mint(t, f.rsaImpostor, f.rsa.kid, validClaims()) },
			wantIs: []error{jwt.ErrTokenSignatureInvalid},
		},
		{
			name:   "wrong signature: other P-256 key with the same kid",
			token:  func(t *testing.T) string { return mint(t, f.es256Impostor, f.es256.kid, validClaims()) },
			wantIs: []error{jwt.ErrTokenSignatureInvalid},
		},
		{
			name: "payload changed after signing",
			token: func(t *testing.T) string {
				h, _, s := segments(t, mint(t, f.rsa, f.rsa.kid, validClaims()))
				p := b64JSON(t, claimsWith(func(c *Claims) { c.Subject = "system:serviceaccount:kube-system:admin" }))
				return h + "." + p + "." + s
			},
			wantIs: []error{jwt.ErrTokenSignatureInvalid},
		},
		{
			name:    "unknown kid",
			token:   func(t *testing.T) string { return mint(t, f.rsa, "no-such-kid", validClaims()) },
			wantIs:  []error{jwt.ErrTokenUnverifiable},
			wantMsg: `no key with kid "no-such-kid" in JWKS (9 keys)`,
		},
		{
			name:    "missing kid",
			token:   func(t *testing.T) string { return mint(t, f.rsa, "", validClaims()) },
			wantIs:  []error{jwt.ErrTokenUnverifiable},
			wantMsg: "token has no kid header",
		},
		{
			name: "kid is not a string",
			token: func(t *testing.T) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodRS256, validClaims())
				tok.Header["kid"] = 42
				raw, err := tok.SignedString(f.rsa.priv)
				if err != nil {
					t.Fatalf("sign: %v", err)
				}
				return raw
			},
			wantIs:  []error{jwt.ErrTokenUnverifiable},
			wantMsg: "token kid header 42 is not a non-empty string",
		},
		{
			name:    "kid matches two keys",
			token:   func(t *testing.T) string { return mint(t, f.es256, "dup", validClaims()) },
			wantIs:  []error{jwt.ErrTokenUnverifiable},
			wantMsg: `kid "dup" matches 2 keys`,
		},
		{
			name: "wrong issuer",
			token: func(t *testing.T) string {
				return mint(t, f.rsa, f.rsa.kid, claimsWith(func(c *Claims) { c.Issuer = "https://evil.example.com" }))
			},
			wantIs: []error{jwt.ErrTokenInvalidClaims, jwt.ErrTokenInvalidIssuer},
		},
		{
			name: "missing issuer",
			token: func(t *testing.T) string {
				return mint(t, f.rsa, f.rsa.kid, claimsWith(func(c *Claims) { c.Issuer = "" }))
			},
			wantIs: []error{jwt.ErrTokenRequiredClaimMissing},
		},
		{
			name:      "wrong audience",
			token:     func(t *testing.T) string { return mint(t, f.es256, f.es256.kid, validClaims()) },
			audiences: []string{"https://other.example.com"},
			wantIs:    []error{jwt.ErrTokenInvalidClaims, jwt.ErrTokenInvalidAudience},
		},
		{
			name: "expired beyond leeway",
			token: func(t *testing.T) string {
				return mint(t, f.es384, f.es384.kid, claimsWith(func(c *Claims) {
					c.IssuedAt = jwt.NewNumericDate(testNow.Add(-2 * time.Hour))
					c.NotBefore = c.IssuedAt
					c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-6 * time.Second))
				}))
			},
			wantIs: []error{jwt.ErrTokenInvalidClaims, jwt.ErrTokenExpired},
		},
		{
			name: "not yet valid beyond leeway",
			token: func(t *testing.T) string {
				return mint(t, f.es512, f.es512.kid, claimsWith(func(c *Claims) {
					c.NotBefore = jwt.NewNumericDate(testNow.Add(time.Minute))
				}))
			},
			wantIs: []error{jwt.ErrTokenInvalidClaims, jwt.ErrTokenNotValidYet},
		},
		{
			name: "issued in the future beyond leeway",
			token: func(t *testing.T) string {
				return mint(t, f.rsa, f.rsa.kid, claimsWith(func(c *Claims) {
					c.IssuedAt = jwt.NewNumericDate(testNow.Add(time.Minute))
				}))
			},
			wantIs: []error{jwt.ErrTokenInvalidClaims, jwt.ErrTokenUsedBeforeIssued},
		},
		{
			name: "no exp",
			token: func(t *testing.T) string {
				return mint(t, f.rsa, f.rsa.kid, claimsWith(func(c *Claims) { c.ExpiresAt = nil }))
			},
			wantIs:  []error{jwt.ErrTokenRequiredClaimMissing},
			wantMsg: "exp claim is required",
		},
		{
			name: "alg none",
			token: func(t *testing.T) string {
				h := b64JSON(t, map[string]string{"alg": "none", "kid": f.rsa.kid, "typ": "JWT"})
				return h + "." + b64JSON(t, validClaims()) + "."
			},
			wantIs:  []error{jwt.ErrTokenSignatureInvalid},
			wantMsg: "signing method none is invalid",
		},
		{
			name: "HS256 keyed with the RSA public key (alg confusion)",
			token: func(t *testing.T) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodHS256, validClaims())
				tok.Header["kid"] = f.rsa.kid
				raw, err := tok.SignedString(rsaPubPEM)
				if err != nil {
					t.Fatalf("sign HS256: %v", err)
				}
				return raw
			},
			wantIs:  []error{jwt.ErrTokenSignatureInvalid},
			wantMsg: "signing method HS256 is invalid",
		},
		{
			name: "RS384 from a listed key (alg not accepted)",
			token: func(t *testing.T) string {
				return mint(t, signingKey{"RS384", "rsa-noalg", jwt.SigningMethodRS384, f.rsa.priv}, "rsa-noalg", validClaims())
			},
			wantIs:  []error{jwt.ErrTokenSignatureInvalid},
			wantMsg: "signing method RS384 is invalid",
		},
		{
			name:    "ES256 header with the kid of an RS256 JWK",
			token:   func(t *testing.T) string { return mint(t, f.es256, f.rsa.kid, validClaims()) },
			wantIs:  []error{jwt.ErrTokenUnverifiable},
			wantMsg: `JWK "rsa-1" has alg "RS256", token has alg "ES256"`,
		},
		{
			name:    "ES256 header with the kid of an RSA JWK without alg",
			token:   func(t *testing.T) string { return mint(t, f.es256, "rsa-noalg", validClaims()) },
			wantIs:  []error{jwt.ErrTokenUnverifiable},
			wantMsg: `JWK "rsa-noalg" holds a *rsa.PublicKey, ES256 needs an ECDSA P-256 public key`,
		},
		{
			name:    "RS256 header with the kid of an ECDSA JWK without alg",
			token:   func(t *testing.T) string { return mint(t, f.rsa, "ec256-noalg", validClaims()) },
			wantIs:  []error{jwt.ErrTokenUnverifiable},
			wantMsg: `JWK "ec256-noalg" holds a *ecdsa.PublicKey, RS256 needs an RSA public key`,
		},
		{
			name:    "ES384 header with the kid of a P-256 JWK without alg",
			token:   func(t *testing.T) string { return mint(t, f.es384, "ec256-noalg", validClaims()) },
			wantIs:  []error{jwt.ErrTokenUnverifiable},
			wantMsg: `JWK "ec256-noalg" is on curve P-256, ES384 needs P-384`,
		},
		{
			name:    "JWK for encryption",
			token:   func(t *testing.T) string { return mint(t, f.rsa, "rsa-enc", validClaims()) },
			wantIs:  []error{jwt.ErrTokenUnverifiable},
			wantMsg: `JWK "rsa-enc" has use "enc", want "sig"`,
		},
		{
			name: "two segments",
			token: func(t *testing.T) string {
				h, p, _ := segments(t, mint(t, f.rsa, f.rsa.kid, validClaims()))
				return h + "." + p
			},
			wantIs: []error{jwt.ErrTokenMalformed},
		},
		{
			name:   "not a JWT",
			token:  func(t *testing.T) string { return "this is not a token" },
			wantIs: []error{jwt.ErrTokenMalformed},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.token(t)
			aud := tc.audiences
			if len(aud) == 0 {
				aud = []string{testAudience}
			}
			got, err := f.verifier().Verify(raw, aud...)
			if err == nil {
				t.Fatalf("Verify accepted the token: %s", got.Summary())
			}
			if got != nil {
				t.Errorf("Verify returned claims with an error: %s", got.Summary())
			}
			for _, want := range tc.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("error %q does not wrap %q", err, want)
				}
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("error %q does not contain %q", msg, tc.wantMsg)
			}
			if !strings.Contains(msg, Fingerprint(raw)) {
				t.Errorf("error %q does not name the token by its fingerprint %s", msg, Fingerprint(raw))
			}
			assertNoLeak(t, msg, raw)
		})
	}
}

func TestVerifyAudiences(t *testing.T) {
	f := keys(t)
	const a, b, c = "https://a.example.com", "https://b.example.com", "https://c.example.com"
	tests := []struct {
		name      string
		tokenAud  jwt.ClaimStrings
		audiences []string
		wantErr   error
		wantMsg   string
	}{
		{name: "no audience requested is refused", tokenAud: jwt.ClaimStrings{a, b}, wantMsg: "no audience given"},
		{name: "one of two", tokenAud: jwt.ClaimStrings{a, b}, audiences: []string{b}},
		{name: "both of two", tokenAud: jwt.ClaimStrings{a, b}, audiences: []string{a, b}},
		{name: "all must be present", tokenAud: jwt.ClaimStrings{a, b}, audiences: []string{a, c}, wantErr: jwt.ErrTokenInvalidAudience},
		{name: "none present", tokenAud: jwt.ClaimStrings{a, b}, audiences: []string{c}, wantErr: jwt.ErrTokenInvalidAudience},
		{name: "token without aud", audiences: []string{a}, wantErr: jwt.ErrTokenRequiredClaimMissing},
		{name: "token without aud, none requested", wantMsg: "no audience given"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := mint(t, f.es256, f.es256.kid, claimsWith(func(c *Claims) { c.Audience = tc.tokenAud }))
			_, err := f.verifier().Verify(raw, tc.audiences...)
			switch {
			case tc.wantMsg != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("Verify(aud %q) = %v, want an error containing %q", tc.audiences, err, tc.wantMsg)
				}
			case tc.wantErr == nil && err != nil:
				t.Errorf("Verify(aud %q) = %v, want success", tc.audiences, err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("Verify(aud %q) = %v, want %q", tc.audiences, err, tc.wantErr)
			}
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	f := keys(t)
	tests := []struct {
		name    string
		mutate  func(*Claims)
		wantErr error
	}{
		{
			name:   "expired within leeway",
			mutate: func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-4 * time.Second)) },
		},
		{
			name:    "expired just beyond leeway",
			mutate:  func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-5 * time.Second)) },
			wantErr: jwt.ErrTokenExpired,
		},
		{
			name:   "nbf within leeway",
			mutate: func(c *Claims) { c.NotBefore = jwt.NewNumericDate(testNow.Add(5 * time.Second)) },
		},
		{
			name:    "nbf beyond leeway",
			mutate:  func(c *Claims) { c.NotBefore = jwt.NewNumericDate(testNow.Add(6 * time.Second)) },
			wantErr: jwt.ErrTokenNotValidYet,
		},
		{
			name:   "iat within leeway",
			mutate: func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(testNow.Add(5 * time.Second)) },
		},
		{
			name:    "iat beyond leeway",
			mutate:  func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(testNow.Add(6 * time.Second)) },
			wantErr: jwt.ErrTokenUsedBeforeIssued,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := mint(t, f.rsa, f.rsa.kid, claimsWith(tc.mutate))
			_, err := f.verifier().Verify(raw, testAudience)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Errorf("Verify = %v, want success", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("Verify = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestVerifyRequiresIssuer(t *testing.T) {
	f := keys(t)
	v := f.verifier()
	v.Issuer = ""
	raw := mint(t, f.rsa, f.rsa.kid, validClaims())
	_, err := v.Verify(raw)
	if err == nil || !strings.Contains(err.Error(), "verifier has no issuer") {
		t.Fatalf("Verify with an empty Verifier.Issuer = %v, want an error containing %q", err, "verifier has no issuer")
	}
	assertNoLeak(t, err.Error(), raw)
}

func TestNewVerifier(t *testing.T) {
	f := keys(t)
	v := NewVerifier(&Issuer{Discovery: Discovery{Issuer: testIssuer}, Keys: f.jwks})
	if v.Issuer != testIssuer || len(v.Keys.Keys) != len(f.jwks.Keys) || v.Leeway != DefaultLeeway || v.Now != nil {
		t.Fatalf("NewVerifier = %+v, want issuer %q, %d keys, leeway %v, nil Now", v, testIssuer, len(f.jwks.Keys), DefaultLeeway)
	}
	// With the system clock, a token minted now must verify.
	now := time.Now()
	raw := mint(t, f.es256, f.es256.kid, claimsWith(func(c *Claims) {
		c.IssuedAt = jwt.NewNumericDate(now)
		c.NotBefore = c.IssuedAt
		c.ExpiresAt = jwt.NewNumericDate(now.Add(testLifetime))
		c.Kubernetes.WarnAfter = nil
	}))
	if _, err := v.Verify(raw, testAudience); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	f := keys(t)
	raw := mint(t, f.rsa, f.rsa.kid, validClaims())
	other := mint(t, f.es256, f.es256.kid, validClaims())

	fp := Fingerprint(raw)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{12}$`).MatchString(fp) {
		t.Errorf("Fingerprint = %q, want sha256: and 12 hex digits", fp)
	}
	if again := Fingerprint(raw); again != fp {
		t.Errorf("Fingerprint is not stable: %q, then %q", fp, again)
	}
	if fpOther := Fingerprint(other); fpOther == fp {
		t.Errorf("two different tokens have the same fingerprint %q", fp)
	}
	assertNoLeak(t, fp, raw)
	// SHA-256 of the empty string, for a fixed point.
	if got, want := Fingerprint(""), "sha256:e3b0c44298fc"; got != want {
		t.Errorf("Fingerprint(\"\") = %q, want %q", got, want)
	}
}
