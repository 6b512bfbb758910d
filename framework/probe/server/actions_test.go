package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWriteTestLeavesNothingBehind(t *testing.T) {
	dir := t.TempDir()
	srv := httptest.NewServer(testHandler(t, "/nonexistent", dir))
	defer srv.Close()
	status, body := call(t, srv, http.MethodPost, "/write-test?path="+url.QueryEscape(dir), testSecret)
	var wt WriteTest
	if err := json.Unmarshal([]byte(body), &wt); status != http.StatusOK || err != nil {
		t.Fatalf("POST /write-test: %d %s %v", status, body, err)
	}
	if !wt.Wrote || wt.Error != "" || wt.Errno != "" {
		t.Errorf("writable directory: %+v, want wrote", wt)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("the directory holds %v (%v) after the write test, want nothing", entries, err)
	}
	// Outside the allow-list, and a missing directory, are refused or
	// reported, never created.
	for _, p := range []string{"/tmp", filepath.Join(dir, "..")} {
		if status, body := call(t, srv, http.MethodPost, "/write-test?path="+url.QueryEscape(p), testSecret); status != http.StatusForbidden {
			t.Errorf("write test in %s: %d %s, want 403", p, status, body)
		}
	}
	status, body = call(t, srv, http.MethodPost, "/write-test?path="+url.QueryEscape(filepath.Join(dir, "missing")), testSecret)
	if err := json.Unmarshal([]byte(body), &wt); status != http.StatusOK || err != nil || wt.Wrote || wt.Error == "" {
		t.Errorf("missing directory: %d %s, want an error and nothing written", status, body)
	}
	if status, _ := call(t, srv, http.MethodPost, "/write-test?path="+url.QueryEscape(dir), ""); status != http.StatusForbidden {
		t.Errorf("write test without the secret: %d, want 403", status)
	}
}

// The relying party inside the pod presents its token only to servers with
// a certificate of the cluster's CA: the API server under any name (its
// jwks_uri names its advertise address), never another host a discovery
// document names.
func TestOIDCPresentsTheTokenOnlyToTheClusterCA(t *testing.T) {
	var mu sync.Mutex
	auth := map[string]string{}
	var jwksURI string
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth[r.URL.Path] = r.Header.Get("Authorization")
		uri := jwksURI
		mu.Unlock()
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_, _ = w.Write([]byte(`{"issuer":"https://kubernetes.default.svc.cluster.local","jwks_uri":"` + uri + `"}`))
		case "/openid/v1/jwks":
			_, _ = w.Write([]byte(`{"keys":[]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	// A server with a certificate of another CA.
	var strangerHits atomic.Int32
	stranger := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		strangerHits.Add(1)
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	stranger.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	stranger.StartTLS()
	defer stranger.Close()

	u, _ := url.Parse(api.URL)
	t.Setenv("KUBERNETES_SERVICE_HOST", u.Hostname())
	t.Setenv("KUBERNETES_SERVICE_PORT", u.Port())
	dir := t.TempDir()
	saDir := filepath.Join(dir, "sa")
	tokDir := filepath.Join(dir, "tokens")
	for _, d := range []string{saDir, tokDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(saDir, "ca.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tokDir, "token"), []byte("a.b.c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := newHandlerWith(Config{Secret: testSecret, Allow: []string{tokDir}}, "/nonexistent", saDir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ask := func() Relying {
		t.Helper()
		status, body := call(t, srv, http.MethodGet, "/oidc?token="+url.QueryEscape(filepath.Join(tokDir, "token")), testSecret)
		var rp Relying
		if err := json.Unmarshal([]byte(body), &rp); status != http.StatusOK || err != nil {
			t.Fatalf("GET /oidc: %d %s %v", status, body, err)
		}
		if strings.Contains(body, "a.b.c") {
			t.Errorf("the answer holds the token: %s", body)
		}
		return rp
	}

	// jwks_uri on the API server: the token goes to both requests.
	mu.Lock()
	jwksURI = api.URL + "/openid/v1/jwks"
	mu.Unlock()
	rp := ask()
	if rp.Error != "" || rp.DiscoveryStatus != 200 || rp.JWKSStatus != 200 || string(rp.JWKS) != `{"keys":[]}` || len(rp.TokenSentTo) != 2 {
		t.Errorf("jwks_uri on the API server: %+v", rp)
	}
	mu.Lock()
	if got := auth["/openid/v1/jwks"]; got != "Bearer a.b.c" {
		t.Errorf("the key set request carried %q, want the pod's token", got)
	}
	// jwks_uri on a server of another CA: the handshake fails, no request.
	jwksURI = stranger.URL + "/openid/v1/jwks"
	mu.Unlock()
	rp = ask()
	if strangerHits.Load() != 0 || len(rp.TokenSentTo) != 1 || !strings.Contains(rp.Error, "certificate") {
		t.Errorf("jwks_uri on a stranger: %d requests reached it, token sent to %v, error %q; want none, the API server only, a certificate error", strangerHits.Load(), rp.TokenSentTo, rp.Error)
	}
	// A plain-http jwks_uri is refused before any request.
	mu.Lock()
	jwksURI = "http://" + u.Host + "/openid/v1/jwks"
	mu.Unlock()
	if rp := ask(); !strings.Contains(rp.Error, "only https") || len(rp.TokenSentTo) != 1 {
		t.Errorf("http jwks_uri: %+v, want it refused", rp)
	}

	// A token outside the allow-list is refused.
	if status, _ := call(t, srv, http.MethodGet, "/oidc?token="+url.QueryEscape(filepath.Join(saDir, "ca.crt")), testSecret); status != http.StatusForbidden {
		t.Errorf("token outside the allow-list: %d, want 403", status)
	}
}

// selfSigned returns a certificate of its own CA for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stranger"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
