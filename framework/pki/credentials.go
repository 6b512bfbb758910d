package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
)

// Credentials are what a podCertificate projection writes: a private key
// and its certificate chain, leaf first.
type Credentials struct {
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// ParseCredentialBundle reads a credential bundle as seed 003 documents it:
// the first block a "PRIVATE KEY" block holding a PKCS#8 private key, every
// other block a "CERTIFICATE", leaf first. Anything else is an error.
func ParseCredentialBundle(text []byte) (*Credentials, error) {
	p := Parse(text)
	if len(p.Blocks) < 2 {
		return nil, fmt.Errorf("credential bundle: %d PEM blocks, want a PRIVATE KEY and at least one CERTIFICATE", len(p.Blocks))
	}
	key, err := parseKeyBlock(p.Blocks[0])
	if err != nil {
		return nil, fmt.Errorf("credential bundle, first block: %w", err)
	}
	chain, err := parseChain(p.Blocks[1:], 1)
	if err != nil {
		return nil, fmt.Errorf("credential bundle: %w", err)
	}
	return &Credentials{Key: key, Chain: chain}, nil
}

// ParseKeyFile reads a keyPath file: exactly one PKCS#8 "PRIVATE KEY" block.
func ParseKeyFile(text []byte) (crypto.Signer, error) {
	p := Parse(text)
	if len(p.Blocks) != 1 {
		return nil, fmt.Errorf("key file: %d PEM blocks, want one PRIVATE KEY", len(p.Blocks))
	}
	return parseKeyBlock(p.Blocks[0])
}

// ParseChainFile reads a certificateChainPath file: CERTIFICATE blocks only,
// leaf first.
func ParseChainFile(text []byte) ([]*x509.Certificate, error) {
	p := Parse(text)
	if len(p.Blocks) == 0 {
		return nil, fmt.Errorf("chain file: no PEM block")
	}
	return parseChain(p.Blocks, 0)
}

func parseKeyBlock(b Block) (crypto.Signer, error) {
	if b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("block is %q, want PRIVATE KEY (PKCS#8)", b.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.DER)
	if err != nil {
		return nil, fmt.Errorf("PKCS#8: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("PKCS#8 key of type %T cannot sign", k)
	}
	return s, nil
}

func parseChain(blocks []Block, first int) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for i, b := range blocks {
		if b.Type != "CERTIFICATE" || len(b.Headers) > 0 {
			return nil, fmt.Errorf("block %d is %q with headers %v, want a plain CERTIFICATE", i+first, b.Type, b.Headers)
		}
		c, err := x509.ParseCertificate(b.DER)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", i+first, err)
		}
		chain = append(chain, c)
	}
	return chain, nil
}

// KeyType names a key as a podCertificate projection's keyType does
// (ED25519, ECDSAP256, ECDSAP384, ECDSAP521, RSA3072, RSA4096); another key
// is named by its Go type and size.
func KeyType(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return "ED25519"
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ECDSAP256"
		case elliptic.P384():
			return "ECDSAP384"
		case elliptic.P521():
			return "ECDSAP521"
		}
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA%d", k.N.BitLen())
	}
	return fmt.Sprintf("%T", pub)
}

// SameKey reports whether two public keys are equal.
func SameKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// VerifyChain verifies chain (leaf first) up to roots, for client and
// server use, and returns the verified path's length.
func VerifyChain(chain []*x509.Certificate, roots *x509.CertPool) (int, error) {
	if len(chain) == 0 {
		return 0, fmt.Errorf("empty chain")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	paths, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return 0, err
	}
	return len(paths[0]), nil
}
