package server

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testSPIFFE = "spiffe://cluster.local/ns/x/sa/y"

// issuer is a CA (root or intermediate) of the tests.
type issuer struct {
	cert  *x509.Certificate
	key   crypto.Signer
	chain []*x509.Certificate // cert and the intermediates above it, not the root
}

func newCA(t *testing.T, cn string) issuer {
	t.Helper()
	key := newKey(t, "p256")
	cert := issue(t, caTemplate(cn), nil, key, key)
	return issuer{cert: cert, key: key}
}

func caTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	}
}

// sub is an intermediate CA under is.
func (is issuer) sub(t *testing.T, cn string) issuer {
	t.Helper()
	key := newKey(t, "p256")
	cert := issue(t, caTemplate(cn), &is, key, nil)
	return issuer{cert: cert, key: key, chain: append([]*x509.Certificate{cert}, is.chain...)}
}

// leaf issues a pod certificate for key: the URI SAN testSPIFFE, dns as DNS
// SANs, for client and server authentication. It returns the leaf and the
// intermediates, leaf first.
func (is issuer) leaf(t *testing.T, cn string, key crypto.Signer, dns ...string) []*x509.Certificate {
	t.Helper()
	u, _ := url.Parse(testSPIFFE)
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, URIs: []*url.URL{u}, DNSNames: dns,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	return append([]*x509.Certificate{issue(t, tmpl, &is, key, nil)}, is.chain...)
}

// issue signs tmpl for key's public key by parent (self-signed by self when
// parent is nil).
func issue(t *testing.T, tmpl *x509.Certificate, parent *issuer, key, self crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	parentCert, signer := tmpl, self
	if parent != nil {
		parentCert, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func newKey(t *testing.T, kind string) crypto.Signer {
	t.Helper()
	var key crypto.Signer
	var err error
	switch kind {
	case "p256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p521":
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func keyPEM(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func certsPEM(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// pod is one pod's credentials in the allow-list: bundle, and key and
// chain, of one leaf.
type pod struct {
	bundle, key, chain string
	leaf               *x509.Certificate
}

func newPod(t *testing.T, dir, name string, is issuer, kind string, dns ...string) pod {
	t.Helper()
	p := pod{
		bundle: filepath.Join(dir, name, "credentialbundle.pem"),
		key:    filepath.Join(dir, name, "key.pem"),
		chain:  filepath.Join(dir, name, "chain.pem"),
	}
	p.rotate(t, is, kind, dns...)
	return p
}

// rotate writes a new key and leaf in place of the old.
func (p *pod) rotate(t *testing.T, is issuer, kind string, dns ...string) {
	t.Helper()
	key := newKey(t, kind)
	certs := is.leaf(t, filepath.Base(filepath.Dir(p.bundle)), key, dns...)
	p.leaf = certs[0]
	writeFile(t, p.bundle, append(keyPEM(t, key), certsPEM(certs...)...))
	writeFile(t, p.key, keyPEM(t, key))
	writeFile(t, p.chain, certsPEM(certs...))
}

func (p pod) bundleQuery(trust string) url.Values {
	return url.Values{"bundle": {p.bundle}, "trust": {trust}}
}

func (p pod) keyChainQuery(trust string) url.Values {
	return url.Values{"key": {p.key}, "chain": {p.chain}, "trust": {trust}}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tlsProbe is a probe handler allowing dir, whose listeners bind 127.0.0.1.
type tlsProbe struct {
	t   *testing.T
	srv *httptest.Server
}

func newTLSProbe(t *testing.T, dir string) *tlsProbe {
	t.Helper()
	old := tlsListenHost
	tlsListenHost = "127.0.0.1"
	t.Cleanup(func() { tlsListenHost = old })
	srv := httptest.NewServer(testHandler(t, "/nonexistent", dir))
	t.Cleanup(srv.Close)
	return &tlsProbe{t: t, srv: srv}
}

// serve starts a listener on port, and wants status.
func (p *tlsProbe) serve(q url.Values, port, status int) string {
	p.t.Helper()
	q.Set("port", strconv.Itoa(port))
	got, body := call(p.t, p.srv, http.MethodPost, "/tls/serve?"+q.Encode(), testSecret)
	if got != status {
		p.t.Fatalf("POST /tls/serve %v: %d %s, want %d", q, got, body, status)
	}
	return body
}

// served waits for the listener on port to have accepted n connections.
func (p *tlsProbe) served(port, n int) TLSServe {
	p.t.Helper()
	var s TLSServe
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		status, body := call(p.t, p.srv, http.MethodGet, "/tls/serve?port="+strconv.Itoa(port), testSecret)
		if err := json.Unmarshal([]byte(body), &s); status != http.StatusOK || err != nil {
			p.t.Fatalf("GET /tls/serve: %d %s %v", status, body, err)
		}
		noKeys(p.t, body)
		if len(s.Handshakes) >= n || time.Now().After(deadline) {
			break
		}
	}
	if len(s.Handshakes) != n || s.Accepted != n {
		p.t.Fatalf("listener on %d: %d handshakes (%d accepted), want %d: %+v", port, len(s.Handshakes), s.Accepted, n, s)
	}
	return s
}

// dial dials port on 127.0.0.1.
func (p *tlsProbe) dial(q url.Values, port int) TLSDial {
	p.t.Helper()
	q.Set("addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	status, body := call(p.t, p.srv, http.MethodPost, "/tls/dial?"+q.Encode(), testSecret)
	var d TLSDial
	if err := json.Unmarshal([]byte(body), &d); status != http.StatusOK || err != nil {
		p.t.Fatalf("POST /tls/dial %v: %d %s %v", q, status, body, err)
	}
	noKeys(p.t, body)
	return d
}

func noKeys(t *testing.T, body string) {
	t.Helper()
	if strings.Contains(body, "PRIVATE KEY") {
		t.Errorf("an answer holds a private key: %s", body)
	}
}

func with(q url.Values, k, v string) url.Values {
	q.Set(k, v)
	return q
}

// Two pods with certificates of one CA complete a mutual-TLS handshake,
// each side verifying and recording the other's leaf.
func TestTLSMutualHandshake(t *testing.T) {
	dir := t.TempDir()
	root := newCA(t, "root")
	inter := root.sub(t, "intermediate")
	trust := filepath.Join(dir, "trust", "ca.pem")
	writeFile(t, trust, certsPEM(root.cert))
	server := newPod(t, dir, "server", inter, "p256", "server.x.svc")
	client := newPod(t, dir, "client", root, "ed25519")
	p := newTLSProbe(t, dir)
	port := freePort(t)
	var started TLSServe
	if err := json.Unmarshal([]byte(p.serve(server.bundleQuery(trust), port, http.StatusOK)), &started); err != nil || started.PresentingSHA256 != leafSHA256(server.leaf.Raw) || started.Bundle != server.bundle {
		t.Fatalf("POST /tls/serve: %+v %v, want it presenting the server's leaf", started, err)
	}

	d := p.dial(with(client.bundleQuery(trust), "verify", "chain"), port)
	if !d.OK || d.Error != "" || d.Line != "hello 1" || d.Version != "TLS 1.3" || d.ClientSHA256 != leafSHA256(client.leaf.Raw) {
		t.Fatalf("dial: %+v, want hello 1 over TLS 1.3 with the client's leaf", d)
	}
	if s := d.Server; s == nil || s.SHA256 != leafSHA256(server.leaf.Raw) || !slices.Equal(s.URIs, []string{testSPIFFE}) || s.Sent != 2 || s.VerifiedChainLength != 3 || s.Subject != "CN=server" {
		t.Errorf("dial: server %+v, want the server's leaf, sent with its intermediate, verified to the root", d.Server)
	}
	s := p.served(port, 1)
	hs := s.Handshakes[0]
	if !hs.OK || hs.Error != "" || hs.N != 1 || hs.ServedSHA256 != leafSHA256(server.leaf.Raw) || hs.Version != "TLS 1.3" {
		t.Errorf("handshake: %+v", hs)
	}
	if pr := hs.Peer; pr == nil || pr.SHA256 != leafSHA256(client.leaf.Raw) || !slices.Equal(pr.URIs, []string{testSPIFFE}) || pr.VerifiedChainLength != 2 || pr.Subject != "CN=client" {
		t.Errorf("handshake: peer %+v, want the client's leaf verified to the root", hs.Peer)
	}

	// Full verification checks the host name: the DNS SAN passes, a pod
	// certificate's URI SAN alone does not.
	if d := p.dial(with(client.bundleQuery(trust), "serverName", "server.x.svc"), port); !d.OK || d.Server.VerifiedChainLength != 3 || d.Line != "hello 2" {
		t.Errorf("dial server.x.svc: %+v, want it verified", d)
	}
	if d := p.dial(with(client.bundleQuery(trust), "serverName", "other.x.svc"), port); d.OK || !strings.Contains(d.Error, "server certificate not verified: x509: certificate is valid for server.x.svc, not other.x.svc") || d.Server == nil {
		t.Errorf("dial other.x.svc: %+v, want a host name error", d)
	}
	p.served(port, 3)

	// A second listener on the port is refused, the first one left alone.
	p.serve(client.bundleQuery(trust), port, http.StatusConflict)
	if d := p.dial(with(client.bundleQuery(trust), "verify", "chain"), port); !d.OK || d.Server.SHA256 != leafSHA256(server.leaf.Raw) {
		t.Errorf("after the refused second serve: %+v, want the first listener", d)
	}
}

// Every key type a pod certificate may have works, as client and as
// server, from a bundle and from key and chain files.
func TestTLSKeyTypes(t *testing.T) {
	dir := t.TempDir()
	root := newCA(t, "root")
	trust := filepath.Join(dir, "ca.pem")
	writeFile(t, trust, certsPEM(root.cert))
	p := newTLSProbe(t, dir)
	server := newPod(t, dir, "server", root, "ed25519")
	port := freePort(t)
	p.serve(server.keyChainQuery(trust), port, http.StatusOK)
	for i, kind := range []string{"p256", "p384", "p521", "ed25519", "rsa"} {
		client := newPod(t, dir, kind, root, kind)
		q := client.bundleQuery(trust)
		if i%2 == 1 {
			q = client.keyChainQuery(trust)
		}
		if d := p.dial(with(q, "verify", "chain"), port); !d.OK || d.ClientSHA256 != leafSHA256(client.leaf.Raw) || d.Server.SHA256 != leafSHA256(server.leaf.Raw) {
			t.Errorf("%s client: %+v", kind, d)
		}
		if hs := p.served(port, i+1).Handshakes[i]; !hs.OK || hs.Peer.SHA256 != leafSHA256(client.leaf.Raw) {
			t.Errorf("%s client, server side: %+v", kind, hs)
		}
	}
}

// A client of another CA is refused by the server, a server of another CA
// by the client, and both say so.
func TestTLSStrangersAreRefused(t *testing.T) {
	dir := t.TempDir()
	root, other := newCA(t, "root"), newCA(t, "other")
	trust := filepath.Join(dir, "ca.pem")
	writeFile(t, trust, certsPEM(root.cert))
	p := newTLSProbe(t, dir)
	server := newPod(t, dir, "server", root, "p256")
	stranger := newPod(t, dir, "stranger", other, "p256", "server.x.svc")
	client := newPod(t, dir, "client", root, "ed25519")
	port := freePort(t)
	p.serve(server.bundleQuery(trust), port, http.StatusOK)

	// In TLS 1.3 the client finishes its handshake first: the server's
	// refusal is an alert in place of the line.
	d := p.dial(with(stranger.bundleQuery(trust), "verify", "chain"), port)
	if d.OK || d.Line != "" || !strings.Contains(d.Error, "server refused the connection") || d.Server.VerifiedChainLength != 2 {
		t.Errorf("client of another CA: %+v, want the server's refusal", d)
	}
	hs := p.served(port, 1).Handshakes[0]
	if hs.OK || hs.Error != "client certificate not verified: x509: certificate signed by unknown authority" || hs.Peer == nil || hs.Peer.SHA256 != leafSHA256(stranger.leaf.Raw) || hs.Peer.VerifiedChainLength != 0 {
		t.Errorf("client of another CA, server side: %+v", hs)
	}

	t.Logf("client of another CA: dial %q, server %q", d.Error, hs.Error)
	// A server of another CA, in both verification modes.
	strangerPort := freePort(t)
	p.serve(stranger.bundleQuery(trust), strangerPort, http.StatusOK)
	for _, verify := range []string{"chain", "full"} {
		d := p.dial(with(with(client.bundleQuery(trust), "verify", verify), "serverName", "server.x.svc"), strangerPort)
		if d.OK || d.Error != "server certificate not verified: x509: certificate signed by unknown authority" || d.Server == nil || d.Server.SHA256 != leafSHA256(stranger.leaf.Raw) || d.ClientSHA256 != "" {
			t.Errorf("server of another CA, verify=%s: %+v", verify, d)
		}
	}
	for _, hs := range p.served(strangerPort, 2).Handshakes {
		if hs.OK || !strings.Contains(hs.Error, "remote error") {
			t.Errorf("server of another CA, server side: %+v, want the client's alert", hs)
		}
	}

	// Nothing listens: an error, still a completed attempt.
	if d := p.dial(client.bundleQuery(trust), freePort(t)); d.OK || !strings.Contains(d.Error, "connection refused") {
		t.Errorf("dial to a closed port: %+v", d)
	}
}

// The listener reads its credentials at every handshake: a rotated bundle
// is presented at the next one, without a restart.
func TestTLSRotation(t *testing.T) {
	dir := t.TempDir()
	root := newCA(t, "root")
	trust := filepath.Join(dir, "ca.pem")
	writeFile(t, trust, certsPEM(root.cert))
	p := newTLSProbe(t, dir)
	server := newPod(t, dir, "server", root, "p256")
	client := newPod(t, dir, "client", root, "p256")
	port := freePort(t)
	p.serve(server.bundleQuery(trust), port, http.StatusOK)
	first := leafSHA256(server.leaf.Raw)
	if d := p.dial(with(client.bundleQuery(trust), "verify", "chain"), port); !d.OK || d.Server.SHA256 != first {
		t.Fatalf("before rotation: %+v", d)
	}
	server.rotate(t, root, "ed25519")
	second := leafSHA256(server.leaf.Raw)
	if s := p.served(port, 1); s.PresentingSHA256 != second {
		t.Errorf("after rotation the listener presents %s, want the new leaf %s", s.PresentingSHA256, second)
	}
	if d := p.dial(with(client.bundleQuery(trust), "verify", "chain"), port); !d.OK || d.Server.SHA256 != second {
		t.Errorf("after rotation: %+v, want the new leaf %s", d, second)
	}
	if hs := p.served(port, 2).Handshakes; hs[0].ServedSHA256 != first || hs[1].ServedSHA256 != second {
		t.Errorf("served leaves %s, %s; want %s then %s", hs[0].ServedSHA256, hs[1].ServedSHA256, first, second)
	}
	// Credentials that become unusable fail the handshake, and are recorded.
	writeFile(t, server.bundle, certsPEM(server.leaf))
	if d := p.dial(with(client.bundleQuery(trust), "verify", "chain"), port); d.OK {
		t.Errorf("with a bundle without key: %+v, want a failure", d)
	}
	if s := p.served(port, 3); !strings.Contains(s.Handshakes[2].Error, "the probe's credentials") || s.PresentingError == "" {
		t.Errorf("with a bundle without key: %+v", s)
	}
}

// Requests without the secret, for paths outside the allow-list or escaping
// it, or with bad parameters, are refused before anything is read.
func TestTLSRefusals(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	root := newCA(t, "root")
	trust := filepath.Join(dir, "ca.pem")
	writeFile(t, trust, certsPEM(root.cert))
	writeFile(t, filepath.Join(outside, "ca.pem"), certsPEM(root.cert))
	good := newPod(t, dir, "pod", root, "p256")
	escaped := newPod(t, outside, "pod", root, "p256")
	other := newPod(t, dir, "other", root, "p256")
	if err := os.Symlink(escaped.bundle, filepath.Join(dir, "link.pem")); err != nil {
		t.Fatal(err)
	}
	p := newTLSProbe(t, dir)
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)

	for _, c := range []struct {
		name   string
		q      url.Values
		status int
		want   string
	}{
		{"trust outside", good.bundleQuery(filepath.Join(outside, "ca.pem")), http.StatusForbidden, "outside the pod's volume mounts"},
		{"bundle outside", escaped.bundleQuery(trust), http.StatusForbidden, "outside the pod's volume mounts"},
		{"unclean path", good.bundleQuery(dir + "/pod/../pod/credentialbundle.pem"), http.StatusForbidden, "not clean"},
		{"symlink out", url.Values{"bundle": {filepath.Join(dir, "link.pem")}, "trust": {trust}}, http.StatusBadRequest, "escapes"},
		{"no trust", url.Values{"bundle": {good.bundle}}, http.StatusBadRequest, "no trust parameter"},
		{"no credentials", url.Values{"trust": {trust}}, http.StatusBadRequest, "bundle=PATH, or as key=PATH and chain=PATH"},
		{"bundle and key", with(good.bundleQuery(trust), "key", good.key), http.StatusBadRequest, "bundle=PATH, or as key=PATH and chain=PATH"},
		{"key without chain", url.Values{"key": {good.key}, "trust": {trust}}, http.StatusBadRequest, "bundle=PATH, or as key=PATH and chain=PATH"},
		{"missing file", url.Values{"bundle": {filepath.Join(dir, "missing")}, "trust": {trust}}, http.StatusBadRequest, "no such file"},
		{"trust without certificates", url.Values{"bundle": {good.bundle}, "trust": {good.key}}, http.StatusBadRequest, "holds no CERTIFICATE block"},
		{"key outside", url.Values{"key": {escaped.key}, "chain": {good.chain}, "trust": {trust}}, http.StatusForbidden, "outside"},
		{"key of another leaf", url.Values{"key": {other.key}, "chain": {good.chain}, "trust": {trust}}, http.StatusBadRequest, "private key does not match public key"},
		{"leaf not first", url.Values{"key": {good.key}, "chain": {trust}, "trust": {trust}}, http.StatusBadRequest, "private key does not match public key"},
	} {
		for _, ep := range []string{"/tls/serve", "/tls/dial"} {
			q := url.Values{}
			for k, v := range c.q {
				q[k] = v
			}
			q.Set("port", strconv.Itoa(port))
			q.Set("addr", addr)
			status, body := call(t, p.srv, http.MethodPost, ep+"?"+q.Encode(), testSecret)
			if status != c.status || !strings.Contains(body, c.want) {
				t.Errorf("%s, %s: %d %q, want %d and %q", c.name, ep, status, body, c.status, c.want)
			}
			noKeys(t, body)
		}
	}
	for _, c := range []struct {
		name, target string
		secret       string
		status       int
	}{
		{"serve without the secret", "/tls/serve?" + with(good.bundleQuery(trust), "port", strconv.Itoa(port)).Encode(), "", http.StatusForbidden},
		{"dial without the secret", "/tls/dial?" + with(good.bundleQuery(trust), "addr", addr).Encode(), "", http.StatusForbidden},
		{"read without the secret", "/tls/serve?port=" + strconv.Itoa(port), "", http.StatusForbidden},
		{"bad port", "/tls/serve?" + with(good.bundleQuery(trust), "port", "0").Encode(), testSecret, http.StatusBadRequest},
		{"no addr", "/tls/dial?" + good.bundleQuery(trust).Encode(), testSecret, http.StatusBadRequest},
		{"bad verify", "/tls/dial?" + with(with(good.bundleQuery(trust), "addr", addr), "verify", "none").Encode(), testSecret, http.StatusBadRequest},
		{"bad timeout", "/tls/dial?" + with(with(good.bundleQuery(trust), "addr", addr), "timeout", "1h").Encode(), testSecret, http.StatusBadRequest},
		{"not served", "/tls/serve?port=" + strconv.Itoa(port), testSecret, http.StatusNotFound},
	} {
		method := http.MethodPost
		if strings.HasPrefix(c.name, "read") || c.name == "not served" {
			method = http.MethodGet
		}
		if status, body := call(t, p.srv, method, c.target, c.secret); status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, status, body, c.status)
		}
	}
	// Nothing was started by the refused requests.
	if ln, err := net.Listen("tcp", addr); err != nil {
		t.Errorf("port %d is taken after refused requests: %v", port, err)
	} else {
		ln.Close()
	}
}
