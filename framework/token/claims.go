package token

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the claims of a service-account token as kube-apiserver issues
// them (TokenRequest and projected volumes), plus the token's header.
type Claims struct {
	jwt.RegisteredClaims
	// Kubernetes is the private "kubernetes.io" claim.
	Kubernetes KubernetesClaims `json:"kubernetes.io"`

	// Header is the token's JOSE header. It is not part of the payload.
	Header Header `json:"-"`
}

// KubernetesClaims is the "kubernetes.io" claim: what the token is bound to.
type KubernetesClaims struct {
	// Namespace is the service account's namespace.
	Namespace string `json:"namespace"`
	// ServiceAccount is the service account the token authenticates as.
	ServiceAccount Ref `json:"serviceaccount"`
	// Pod is the pod the token is bound to, if any.
	Pod *Ref `json:"pod,omitempty"`
	// Node is the node the token is bound to (directly, or through its pod
	// when node binding is enabled), if any.
	Node *Ref `json:"node,omitempty"`
	// Secret is the secret the token is bound to, if any.
	Secret *Ref `json:"secret,omitempty"`
	// WarnAfter is set on tokens whose lifetime kube-apiserver extended
	// (--service-account-extend-token-expiration): using the token after
	// this time is logged as stale, and the lifetime the client asked for ends
	// here.
	WarnAfter *jwt.NumericDate `json:"warnafter,omitempty"`
}

// Ref names a Kubernetes object a token refers to.
type Ref struct {
	// Name is the object's name.
	Name string `json:"name"`
	// UID is the object's UID.
	UID string `json:"uid"`
}

// Header is the JOSE header of a token.
type Header struct {
	// Algorithm is the "alg" header.
	Algorithm string `json:"alg"`
	// KeyID is the "kid" header.
	KeyID string `json:"kid"`
	// Type is the "typ" header; kube-apiserver's own signer leaves it out.
	Type string `json:"typ"`
}

// headerOf picks the typed fields out of a decoded header. Values of the wrong
// JSON type are kept in printed form, since they are only ever reported.
func headerOf(h map[string]any) Header {
	field := func(name string) string {
		switch v := h[name].(type) {
		case nil:
			return ""
		case string:
			return v
		default:
			return fmt.Sprint(v)
		}
	}
	return Header{Algorithm: field("alg"), KeyID: field("kid"), Type: field("typ")}
}

// Decode parses the header and claims of raw WITHOUT VERIFYING ANYTHING: not
// the signature, not the issuer, not the expiry. Its result is attacker-
// controlled data, fit only for reporting what a token that Verify rejected
// contained. Use Verify for any decision.
func Decode(raw string) (*Claims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("decode token %s: want 3 dot-separated segments, got %d", Fingerprint(raw), len(parts))
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("decode token %s header: %w", Fingerprint(raw), err)
	}
	var h map[string]any
	if err := json.Unmarshal(header, &h); err != nil {
		return nil, fmt.Errorf("decode token %s header: %w", Fingerprint(raw), err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("decode token %s payload: %w", Fingerprint(raw), err)
	}
	c := &Claims{}
	if err := json.Unmarshal(payload, c); err != nil {
		return nil, fmt.Errorf("decode token %s payload: %w", Fingerprint(raw), err)
	}
	c.Header = headerOf(h)
	return c, nil
}

// Summary prints the claims on one line for test logs: header, iss, sub, aud,
// iat/nbf/exp in RFC 3339 with the lifetime exp-iat in seconds, jti, the
// kubernetes.io claim and warnafter. Claims hold no credential, so the
// summary is safe to log. Absent values print as "-".
func (c *Claims) Summary() string {
	if c == nil {
		return "<nil claims>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "alg=%s kid=%s typ=%s", str(c.Header.Algorithm), str(c.Header.KeyID), str(c.Header.Type))
	fmt.Fprintf(&b, " iss=%s sub=%s aud=[%s]", str(c.Issuer), str(c.Subject), quoteAll(c.Audience))
	fmt.Fprintf(&b, " iat=%s nbf=%s exp=%s", date(c.IssuedAt), date(c.NotBefore), date(c.ExpiresAt))
	if c.IssuedAt != nil && c.ExpiresAt != nil {
		fmt.Fprintf(&b, " lifetime=%ds", int64(c.ExpiresAt.Sub(c.IssuedAt.Time)/time.Second))
	} else {
		b.WriteString(" lifetime=-")
	}
	fmt.Fprintf(&b, " jti=%s", str(c.ID))
	k := c.Kubernetes
	fmt.Fprintf(&b, " namespace=%s serviceaccount=%s pod=%s node=%s secret=%s warnafter=%s",
		str(k.Namespace), ref(&k.ServiceAccount), ref(k.Pod), ref(k.Node), ref(k.Secret), date(k.WarnAfter))
	return b.String()
}

// str quotes s (claims are untrusted and may hold spaces or newlines), or
// returns "-" for an empty string.
func str(s string) string {
	if s == "" {
		return "-"
	}
	return fmt.Sprintf("%q", s)
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ",")
}

func date(d *jwt.NumericDate) string {
	if d == nil {
		return "-"
	}
	return d.UTC().Format(time.RFC3339)
}

func ref(r *Ref) string {
	if r == nil || (r.Name == "" && r.UID == "") {
		return "-"
	}
	return fmt.Sprintf("%s(uid=%s)", str(r.Name), str(r.UID))
}
