package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// TrustDomain is the SPIFFE trust domain of every issued certificate.
const TrustDomain = "cluster.local"

// caValidity is how long the in-memory CA certificates are valid: longer
// than the API's longest pod certificate (91 days).
const caValidity = 365 * 24 * time.Hour

// authority is the in-memory CA: a self-signed root and an intermediate,
// which signs the leaves.
type authority struct {
	root, inter *x509.Certificate
	interKey    crypto.Signer
}

func newAuthority(now time.Time) (*authority, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate root key: %w", err)
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate intermediate key: %w", err)
	}
	tmpl := func(cn string, maxPathLen int) (*x509.Certificate, error) {
		serial, err := randomSerial()
		if err != nil {
			return nil, err
		}
		return &x509.Certificate{
			SerialNumber:          serial,
			Subject:               pkix.Name{CommonName: cn, Organization: []string{"kube-identity-conformance"}},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(caValidity),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLen:            maxPathLen,
			MaxPathLenZero:        maxPathLen == 0,
		}, nil
	}
	rootTmpl, err := tmpl("kube-identity-conformance test signer root", 1)
	if err != nil {
		return nil, err
	}
	root, err := createCert(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("root certificate: %w", err)
	}
	interTmpl, err := tmpl("kube-identity-conformance test signer intermediate", 0)
	if err != nil {
		return nil, err
	}
	inter, err := createCert(interTmpl, root, interKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("intermediate certificate: %w", err)
	}
	return &authority{root: root, inter: inter, interKey: interKey}, nil
}

func createCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse created certificate: %w", err)
	}
	return c, nil
}

// randomSerial is a random, non-zero serial number of up to 128 bits.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// SPIFFEID is the URI SAN the signer gives a pod of service account sa in
// namespace ns.
func SPIFFEID(ns, sa string) string {
	return (&url.URL{Scheme: "spiffe", Host: TrustDomain, Path: "/ns/" + ns + "/sa/" + sa}).String()
}

// issueLeaf signs the leaf for r, valid from nb to na, with the
// intermediate, and returns it with the chain (leaf, intermediate) in PEM.
func (a *authority) issueLeaf(r Request, nb, na time.Time) (*x509.Certificate, string, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, "", err
	}
	uri, err := url.Parse(SPIFFEID(r.Namespace, r.ServiceAccountName))
	if err != nil {
		return nil, "", fmt.Errorf("SPIFFE ID: %w", err)
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := r.PublicKey.(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         r.PodName,
			OrganizationalUnit: []string{string(r.PodUID)},
		},
		URIs:                  []*url.URL{uri},
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	leaf, err := createCert(tmpl, a.inter, r.PublicKey, a.interKey)
	if err != nil {
		return nil, "", fmt.Errorf("leaf certificate: %w", err)
	}
	chain := pemOf(leaf) + pemOf(a.inter)
	return leaf, chain, nil
}

func pemOf(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// Identity reads back what the signer put in a leaf: the namespace and
// service account from its only URI SAN,
// spiffe://cluster.local/ns/<namespace>/sa/<serviceAccount>, and the pod
// name from its Subject CommonName. ok is false for a certificate not of
// that shape.
func Identity(leaf *x509.Certificate) (namespace, serviceAccount, pod string, ok bool) {
	if leaf == nil || len(leaf.URIs) != 1 || leaf.Subject.CommonName == "" {
		return "", "", "", false
	}
	u := leaf.URIs[0]
	if u.Scheme != "spiffe" || u.Host != TrustDomain {
		return "", "", "", false
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 4 || parts[0] != "ns" || parts[2] != "sa" || parts[1] == "" || parts[3] == "" {
		return "", "", "", false
	}
	return parts[1], parts[3], leaf.Subject.CommonName, true
}

// PodUID reads back the pod UID the signer put in a leaf: its only Subject
// OrganizationalUnit.
func PodUID(leaf *x509.Certificate) (types.UID, bool) {
	if leaf == nil || len(leaf.Subject.OrganizationalUnit) != 1 {
		return "", false
	}
	return types.UID(leaf.Subject.OrganizationalUnit[0]), true
}
