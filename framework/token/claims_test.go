package token

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestDecode(t *testing.T) {
	f := keys(t)
	expired := claimsWith(func(c *Claims) {
		c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Hour))
		c.Issuer = "https://evil.example.com"
	})
	tests := []struct {
		name       string
		token      func(t *testing.T) string
		wantHeader Header
		wantIss    string
	}{
		{
			name:       "token Verify rejects",
			token:      func(t *testing.T) string { return mint(t, f.es384, f.es384.kid, expired) },
			wantHeader: Header{Algorithm: "ES384", KeyID: f.es384.kid, Type: "JWT"},
			wantIss:    "https://evil.example.com",
		},
		{
			name: "alg none",
			token: func(t *testing.T) string {
				h := b64JSON(t, map[string]string{"alg": "none", "kid": "k"})
				return h + "." + b64JSON(t, expired) + "."
			},
			wantHeader: Header{Algorithm: "none", KeyID: "k"},
			wantIss:    "https://evil.example.com",
		},
		{
			name: "unknown alg and non-string kid",
			token: func(t *testing.T) string {
				h := b64JSON(t, map[string]any{"alg": "XS999", "kid": 7})
				return h + "." + b64JSON(t, expired) + ".c2ln"
			},
			wantHeader: Header{Algorithm: "XS999", KeyID: "7"},
			wantIss:    "https://evil.example.com",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.token(t))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Header != tc.wantHeader {
				t.Errorf("Header = %+v, want %+v", got.Header, tc.wantHeader)
			}
			if got.Issuer != tc.wantIss {
				t.Errorf("iss = %q, want %q", got.Issuer, tc.wantIss)
			}
			if got.Kubernetes.Pod == nil || got.Kubernetes.Pod.Name != "pod1" {
				t.Errorf("kubernetes.io pod = %+v, want pod1", got.Kubernetes.Pod)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	f := keys(t)
	h, p, s := segments(t, mint(t, f.rsa, f.rsa.kid, validClaims()))
	tests := []struct {
		name    string
		raw     string
		wantMsg string
	}{
		{name: "two segments", raw: h + "." + p, wantMsg: "want 3 dot-separated segments, got 2"},
		{name: "four segments", raw: h + "." + p + "." + s + "." + s, wantMsg: "want 3 dot-separated segments, got 4"},
		{name: "header not base64url", raw: "!!!." + p + "." + s, wantMsg: "header: illegal base64"},
		{name: "header not JSON", raw: "bm90IGpzb24." + p + "." + s, wantMsg: "header: invalid character"},
		{name: "payload not base64url", raw: h + ".!!!." + s, wantMsg: "payload: illegal base64"},
		{name: "payload not an object", raw: h + ".WzFd." + s, wantMsg: "payload: json: cannot unmarshal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.raw)
			if err == nil {
				t.Fatalf("Decode = %s, want an error", got.Summary())
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("error %q does not contain %q", msg, tc.wantMsg)
			}
			if !strings.Contains(msg, Fingerprint(tc.raw)) {
				t.Errorf("error %q does not contain the fingerprint %s", msg, Fingerprint(tc.raw))
			}
			assertNoLeak(t, msg, tc.raw)
		})
	}
}

func TestSummary(t *testing.T) {
	c := validClaims()
	c.Audience = jwt.ClaimStrings{testAudience, "second"}
	c.Header = Header{Algorithm: "RS256", KeyID: "rsa-1"}
	got := c.Summary()
	t.Log(got)

	iat := testNow.Add(-10 * time.Second).UTC()
	for _, want := range []string{
		`alg="RS256" kid="rsa-1" typ=-`,
		`iss="` + testIssuer + `"`,
		`sub="system:serviceaccount:ns1:sa1"`,
		`aud=["` + testAudience + `","second"]`,
		"iat=" + iat.Format(time.RFC3339),
		"nbf=" + iat.Format(time.RFC3339),
		"exp=" + iat.Add(testLifetime).Format(time.RFC3339),
		"lifetime=3600s",
		`jti="5f0a1e4c-3d4b-4a8e-9c1d-2b7e8f6a0c11"`,
		`namespace="ns1"`,
		`serviceaccount="sa1"(uid="0b1c2d3e-sa")`,
		`pod="pod1"(uid="0b1c2d3e-pod")`,
		`node="node1"(uid="0b1c2d3e-node")`,
		"secret=-",
		"warnafter=" + iat.Add(10*time.Minute).Format(time.RFC3339),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Summary() = %s\nwant it to contain %s", got, want)
		}
	}
	if strings.Contains(got, "\n") {
		t.Errorf("Summary() spans several lines: %q", got)
	}
}

func TestSummaryEmpty(t *testing.T) {
	var nilClaims *Claims
	if got := nilClaims.Summary(); got != "<nil claims>" {
		t.Errorf("(*Claims)(nil).Summary() = %q", got)
	}
	got := (&Claims{}).Summary()
	for _, want := range []string{"iss=- sub=- aud=[]", "iat=- nbf=- exp=- lifetime=- jti=-", "pod=- node=- secret=- warnafter=-"} {
		if !strings.Contains(got, want) {
			t.Errorf("Summary() of empty claims = %s\nwant it to contain %s", got, want)
		}
	}
	// Untrusted claims cannot break the log line.
	got = (&Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "a\nb"}}).Summary()
	if strings.Contains(got, "\n") || !strings.Contains(got, `sub="a\nb"`) {
		t.Errorf("Summary() with a newline in sub = %q, want it quoted", got)
	}
}
