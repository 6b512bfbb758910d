// Package pki makes the certificates the suite's tests need (crypto/x509,
// never openssl) and reads PEM as a relying party does: a trust bundle is a
// set of certificates, compared by their DER bytes.
package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// CA is a self-signed certificate authority made for one test.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed CA certificate (ECDSA P-256) named cn, valid
// from an hour ago for a day: what a ClusterTrustBundle accepts (IsCA, valid
// basic constraints).
func NewCA(cn string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA %s: generate key: %w", cn, err)
	}
	return selfSigned(cn, key, true)
}

// NewLeaf makes a self-signed certificate that is not a CA (the API refuses
// one in a trust bundle).
func NewLeaf(cn string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: generate key: %w", cn, err)
	}
	return selfSigned(cn, key, false)
}

func selfSigned(cn string, key *ecdsa.PrivateKey, isCA bool) (*CA, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certificate %s: serial: %w", cn, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"kube-identity-conformance"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: parse: %w", cn, err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// PEM is the certificate as one CERTIFICATE block.
func (c *CA) PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}))
}

// Fingerprint is the hex SHA-256 of the certificate's DER bytes.
func (c *CA) Fingerprint() string { return Fingerprint(c.Cert.Raw) }

// Fingerprint is the hex SHA-256 of DER bytes, shortened to 16 characters
// for messages.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])[:16]
}

// Bundle joins certificates into one PEM text, in the given order.
func Bundle(cas ...*CA) string {
	var b strings.Builder
	for _, c := range cas {
		b.WriteString(c.PEM())
	}
	return b.String()
}

// Block is one PEM block of a file as it was read.
type Block struct {
	Type    string
	Headers map[string]string
	DER     []byte
}

// Parsed is a PEM text read block by block.
type Parsed struct {
	Blocks []Block
	// Rest is the text outside the blocks (comments, blank lines), without
	// surrounding white space.
	Rest string
	// Canonical: the text is exactly the blocks re-encoded by encoding/pem
	// (64-column base64, no headers), back to back.
	Canonical bool
}

// Parse reads every PEM block of text. Text that is not PEM is kept in Rest.
func Parse(text []byte) Parsed {
	var p Parsed
	var rest []string
	var canon bytes.Buffer
	orig := text
	for {
		b, after := pem.Decode(text)
		if b == nil {
			break
		}
		if i := bytes.Index(text, []byte("-----BEGIN")); i > 0 {
			rest = append(rest, strings.TrimSpace(string(text[:i])))
		}
		p.Blocks = append(p.Blocks, Block{Type: b.Type, Headers: b.Headers, DER: b.Bytes})
		canon.Write(pem.EncodeToMemory(b))
		text = after
	}
	if t := strings.TrimSpace(string(text)); t != "" {
		rest = append(rest, t)
	}
	rest = slices.DeleteFunc(rest, func(s string) bool { return s == "" })
	p.Rest = strings.Join(rest, "\n")
	p.Canonical = len(p.Blocks) > 0 && bytes.Equal(orig, canon.Bytes())
	return p
}

// CertSet is a trust bundle as a relying party sees it: the set of its
// certificates' DER bytes, by fingerprint.
type CertSet map[string]*x509.Certificate

// ParseCertSet reads a trust bundle file: every block must be a CERTIFICATE
// holding one X.509 certificate. dups counts certificates seen more than once.
func ParseCertSet(text []byte) (set CertSet, dups int, err error) {
	set = CertSet{}
	for i, b := range Parse(text).Blocks {
		if b.Type != "CERTIFICATE" {
			return nil, 0, fmt.Errorf("block %d is %q, not CERTIFICATE", i, b.Type)
		}
		c, err := x509.ParseCertificate(b.DER)
		if err != nil {
			return nil, 0, fmt.Errorf("block %d: %w", i, err)
		}
		fp := Fingerprint(b.DER)
		if _, ok := set[fp]; ok {
			dups++
		}
		set[fp] = c
	}
	return set, dups, nil
}

// SetOf is the set of the given certificates.
func SetOf(cas ...*CA) CertSet {
	s := CertSet{}
	for _, c := range cas {
		s[c.Fingerprint()] = c.Cert
	}
	return s
}

// Equal reports whether both sets hold the same certificates.
func (s CertSet) Equal(o CertSet) bool {
	if len(s) != len(o) {
		return false
	}
	for k := range s {
		if _, ok := o[k]; !ok {
			return false
		}
	}
	return true
}

// String lists the set's certificates (common name and fingerprint),
// sorted, for messages.
func (s CertSet) String() string {
	var names []string
	for fp, c := range s {
		names = append(names, fmt.Sprintf("%s (%s)", c.Subject.CommonName, fp))
	}
	slices.Sort(names)
	return "{" + strings.Join(names, ", ") + "}"
}

// Diff says which certificates only one side has, for messages.
func (s CertSet) Diff(want CertSet) string {
	var extra, missing []string
	for fp, c := range s {
		if _, ok := want[fp]; !ok {
			extra = append(extra, c.Subject.CommonName)
		}
	}
	for fp, c := range want {
		if _, ok := s[fp]; !ok {
			missing = append(missing, c.Subject.CommonName)
		}
	}
	slices.Sort(extra)
	slices.Sort(missing)
	return fmt.Sprintf("unexpected %v, missing %v", extra, missing)
}

// Wrapped is the certificate as a CERTIFICATE block whose base64 lines are
// width characters long (encoding/pem writes 64), optionally with a PEM
// header: the forms a trust bundle may arrive in, or be refused in.
func (c *CA) Wrapped(width int, header string) string {
	b64 := base64.StdEncoding.EncodeToString(c.Cert.Raw)
	var b strings.Builder
	b.WriteString("-----BEGIN CERTIFICATE-----\n")
	if header != "" {
		b.WriteString(header + "\n\n")
	}
	for len(b64) > width {
		b.WriteString(b64[:width] + "\n")
		b64 = b64[width:]
	}
	b.WriteString(b64 + "\n-----END CERTIFICATE-----\n")
	return b.String()
}
