package probe_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
)

// writeLeaf writes a bundle (PKCS#8 key, then the leaf) for key, signed by
// caKey as ca, with a SPIFFE URI SAN only, and returns the leaf's SHA-256.
func writeLeaf(t *testing.T, path string, ca *x509.Certificate, caKey, key crypto.Signer) string {
	t.Helper()
	u, _ := url.Parse("spiffe://cluster.local/ns/x/sa/y")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: filepath.Base(path)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), URIs: []*url.URL{u},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// The client starts a listener, dials it and reads both sides' records,
// through the pod proxy; the probe's refusals come back with its message.
func TestTLSClient(t *testing.T) {
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	trust := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(trust, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serverSHA := writeLeaf(t, filepath.Join(dir, "server.pem"), ca, caKey, caKey)
	clientSHA := writeLeaf(t, filepath.Join(dir, "client.pem"), ca, caKey, edKey)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	cs, _ := fakeAPIServer(t, dir)
	c := probe.NewClient(cs, testSecret)
	ctx := context.Background()
	serverCreds := probe.TLSCredentials{Bundle: filepath.Join(dir, "server.pem")}
	clientCreds := probe.TLSCredentials{Bundle: filepath.Join(dir, "client.pem")}
	if err := c.ServeTLS(ctx, "ns1", "pod1", serverCreds, trust, port); err != nil {
		t.Fatal(err)
	}
	err = c.ServeTLS(ctx, "ns1", "pod1", serverCreds, trust, port)
	if !apierrors.IsAlreadyExists(err) || !strings.Contains(err.Error(), "already served") {
		t.Errorf("second ServeTLS: %v, want the probe's 409 and its message", err)
	}

	addr := "127.0.0.1:" + strconv.Itoa(port)
	d, err := c.DialTLS(ctx, "ns1", "pod1", clientCreds, trust, addr, "", true)
	if err != nil || !d.OK || d.Line != "hello 1" || d.Server.SHA256 != serverSHA || d.ClientSHA256 != clientSHA || !d.VerifyChainOnly {
		t.Fatalf("DialTLS: %+v %v", d, err)
	}
	// Without verifyChainOnly the host name is checked, and a pod
	// certificate has none.
	if d, err := c.DialTLS(ctx, "ns1", "pod1", clientCreds, trust, addr, "pod.x.svc", false); err != nil || d.OK || !strings.Contains(d.Error, "server certificate not verified") {
		t.Errorf("DialTLS with a host name check: %+v %v", d, err)
	}
	var s *probe.TLSServe
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s, err = c.ServedTLS(ctx, "ns1", "pod1", port); err != nil || len(s.Handshakes) == 2 {
			break
		}
	}
	if err != nil || len(s.Handshakes) != 2 || !s.Handshakes[0].OK || s.Handshakes[0].Peer.SHA256 != clientSHA || s.PresentingSHA256 != serverSHA {
		t.Errorf("ServedTLS: %+v %v", s, err)
	}

	// The probe's refusals and bad input come back with its message.
	if _, err := c.DialTLS(ctx, "ns1", "pod1", probe.TLSCredentials{Bundle: "/etc/ssl/key.pem"}, trust, addr, "", true); err == nil || !strings.Contains(err.Error(), "outside the pod's volume mounts") {
		t.Errorf("DialTLS with a bundle outside the allow-list: %v", err)
	}
	if _, err := c.DialTLS(ctx, "ns1", "pod1", probe.TLSCredentials{Key: filepath.Join(dir, "client.pem")}, trust, addr, "", true); err == nil || !strings.Contains(err.Error(), "key=PATH and chain=PATH") {
		t.Errorf("DialTLS with a key and no chain: %v", err)
	}
	if _, err := c.ServedTLS(ctx, "ns1", "pod1", port+1); !apierrors.IsNotFound(err) {
		t.Errorf("ServedTLS of a port not served: %v, want not found", err)
	}
}
