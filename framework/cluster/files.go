package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
)

// FilesDirName is the subdirectory of the state directory that holds every
// profile's node files (clusters.Host.FilesDir).
const FilesDirName = "files"

// WriteNodeFiles writes a profile's node files into its files directory
// before its cluster is created: the files its definition implies (kubeadm
// patches), rewritten every time, and its service-account key pair,
// generated only when it is missing, so that a kept cluster and the suite
// agree on the key across runs. Keys are made here, in Go, and never
// committed.
func WriteNodeFiles(p clusters.Profile, h clusters.Host) error {
	files, err := p.NodeFiles()
	if err != nil {
		return err
	}
	if p.ServiceAccountKey == "" && len(files) == 0 {
		return nil
	}
	dir := p.FilesDir(h)
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("profile %s: node files: %w", p.Name, err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return fmt.Errorf("profile %s: node files: %w", p.Name, err)
		}
	}
	if p.ServiceAccountKey == "" {
		return nil
	}
	if _, err := ServiceAccountKey(dir); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("profile %s: %w", p.Name, err)
	}
	key, err := NewServiceAccountKey(p.ServiceAccountKey)
	if err != nil {
		return fmt.Errorf("profile %s: %w", p.Name, err)
	}
	if err := WriteServiceAccountKey(dir, clusters.SigningKeyFile, clusters.PublicKeyFile, key); err != nil {
		return fmt.Errorf("profile %s: %w", p.Name, err)
	}
	return nil
}

// NewServiceAccountKey generates a signing key of the type.
func NewServiceAccountKey(t clusters.KeyType) (crypto.Signer, error) {
	switch t {
	case clusters.KeyRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case clusters.KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("unknown service-account key type %q (known: %s, %s)", t, clusters.KeyRSA2048, clusters.KeyECDSAP256)
}

// KeyPEM returns the key as kube-apiserver reads it: the private key as a
// PKCS#8 "PRIVATE KEY" block, the public key as a PKIX "PUBLIC KEY" block.
func KeyPEM(key crypto.Signer) (private, public []byte, err error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("encode the service-account public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), nil
}

// WriteServiceAccountKey writes the key pair into dir under the two names.
// The private key is readable by its owner only; the node mounts the
// directory read-only, and kube-apiserver runs as root.
func WriteServiceAccountKey(dir, privateName, publicName string, key crypto.Signer) error {
	priv, pub, err := KeyPEM(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("service-account key directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, privateName), priv, 0o600); err != nil {
		return fmt.Errorf("write the service-account key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, publicName), pub, 0o644); err != nil {
		return fmt.Errorf("write the service-account public key: %w", err)
	}
	return nil
}

// ServiceAccountKey reads the suite-generated signing key of a files
// directory. A missing key is an error wrapping os.ErrNotExist.
func ServiceAccountKey(dir string) (crypto.Signer, error) {
	path := filepath.Join(dir, clusters.SigningKeyFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("service-account key: %w", err)
	}
	return ParseServiceAccountKey(path, data)
}

// ParseServiceAccountKey parses a PKCS#8 PEM signing key (path names it in
// errors).
func ParseServiceAccountKey(path string, data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("service-account key %s: no PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("service-account key %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("service-account key %s: %T is not a signing key", path, k)
	}
	return s, nil
}
