package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func leafOf(t *testing.T, ca *CA, pub any) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func keyPEM(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestCredentialBundle(t *testing.T) {
	ca, _ := NewCA("root")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	leaf := leafOf(t, ca, pub)
	leafPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	cr, err := ParseCredentialBundle([]byte(keyPEM(t, priv) + leafPEM))
	if err != nil {
		t.Fatal(err)
	}
	if KeyType(cr.Key.Public()) != "ED25519" || !SameKey(cr.Key.Public(), cr.Chain[0].PublicKey) {
		t.Errorf("key %s, matches %v", KeyType(cr.Key.Public()), SameKey(cr.Key.Public(), cr.Chain[0].PublicKey))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if n, err := VerifyChain(cr.Chain, roots); err != nil || n != 2 {
		t.Errorf("verify: %d %v", n, err)
	}
	other, _ := NewCA("other")
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(other.Cert)
	if _, err := VerifyChain(cr.Chain, otherRoots); err == nil {
		t.Error("verified against another root")
	}
	for name, text := range map[string]string{
		"certificate first": leafPEM + keyPEM(t, priv),
		"no chain":          keyPEM(t, priv),
		"EC PRIVATE KEY":    strings.ReplaceAll(keyPEM(t, priv), "PRIVATE KEY", "EC PRIVATE KEY") + leafPEM,
	} {
		if _, err := ParseCredentialBundle([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if k, err := ParseKeyFile([]byte(keyPEM(t, priv))); err != nil || !SameKey(k.Public(), pub) {
		t.Errorf("key file: %v", err)
	}
	if _, err := ParseKeyFile([]byte(keyPEM(t, priv) + leafPEM)); err == nil {
		t.Error("a key file with a certificate was accepted")
	}
	if c, err := ParseChainFile([]byte(leafPEM)); err != nil || len(c) != 1 {
		t.Errorf("chain file: %v", err)
	}
}

func TestKeyTypeNames(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	r, _ := rsa.GenerateKey(rand.Reader, 2048)
	for want, k := range map[string]any{"ECDSAP256": p256.Public(), "ECDSAP384": p384.Public(), "ECDSAP521": p521.Public(), "RSA2048": r.Public()} {
		if got := KeyType(k); got != want {
			t.Errorf("KeyType = %s, want %s", got, want)
		}
	}
	if SameKey(p256.Public(), p384.Public()) {
		t.Error("different keys are the same")
	}
}
