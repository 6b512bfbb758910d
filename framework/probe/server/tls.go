package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Mutual TLS between pods, with the credentials the kubelet projects
// (podCertificate volumes): POST /tls/serve starts a listener, POST /tls/dial
// connects to one. Both read the credential and trust files through the
// allow-list, as /files does, at every handshake, so that a rotated
// certificate is used without a restart.
const (
	// maxTLSServers bounds the listeners one probe runs.
	maxTLSServers = 8
	// tlsConnTimeout bounds each connection a listener accepts.
	tlsConnTimeout = 10 * time.Second
	// defaultDialTimeout and maxDialTimeout bound a /tls/dial.
	defaultDialTimeout = 5 * time.Second
	maxDialTimeout     = time.Minute
	// maxBundleRetries is how often key and chain files are read again when
	// a rotation came between the two reads.
	maxBundleRetries = 3
)

// tlsListenHost is the host listeners bind: all of the pod's addresses.
// Tests bind 127.0.0.1.
var tlsListenHost = ""

// tlsFiles are the files of one set of credentials, each in the allow-list:
// bundle (a PKCS#8 "PRIVATE KEY" block, then CERTIFICATE blocks leaf first,
// the kubelet's credentialBundlePath), or key and chain (the same in two
// files), and trust (CA certificates to verify the peer against).
type tlsFiles struct {
	bundle, key, chain *target
	trust              target
}

// tlsFiles reads bundle=, or key= and chain=, and trust= from q, and places
// them in the allow-list.
func (a allowList) tlsFiles(q url.Values) (tlsFiles, error) {
	var f tlsFiles
	get := func(name string) (string, error) {
		if vs := q[name]; len(vs) > 1 {
			return "", fmt.Errorf("%s given %d times: want one", name, len(vs))
		}
		return q.Get(name), nil
	}
	var ps [4]string
	for i, name := range []string{"bundle", "key", "chain", "trust"} {
		v, err := get(name)
		if err != nil {
			return f, err
		}
		ps[i] = v
	}
	bundle, key, chain, trust := ps[0], ps[1], ps[2], ps[3]
	paths := []string{trust}
	switch {
	case trust == "":
		return f, errors.New("no trust parameter: want trust=PATH, the CA certificates to verify the peer against")
	case bundle != "" && key == "" && chain == "":
		paths = append(paths, bundle)
	case bundle == "" && key != "" && chain != "":
		paths = append(paths, key, chain)
	default:
		return f, errors.New("want the credentials as bundle=PATH, or as key=PATH and chain=PATH")
	}
	ts, err := a.targets(paths)
	if err != nil {
		return f, err
	}
	f.trust = ts[0]
	if bundle != "" {
		f.bundle = &ts[1]
	} else {
		f.key, f.chain = &ts[1], &ts[2]
	}
	return f, nil
}

// readTarget reads a regular file in the allow-list through the one open of
// /files, and returns its bytes and its atomic-writer generation.
func readTarget(tg target) ([]byte, string, error) {
	fr := inspectTarget(tg, true)
	switch {
	case fr.Error != "":
		return nil, "", fmt.Errorf("%s: %s", tg.path, fr.Error)
	case !fr.Exists:
		return nil, "", fmt.Errorf("%s: no such file", tg.path)
	case fr.IsDir:
		return nil, "", fmt.Errorf("%s is a directory", tg.path)
	case fr.Truncated:
		return nil, "", fmt.Errorf("%s is longer than %d bytes", tg.path, ContentLimit)
	}
	return fr.Content, fr.Generation, nil
}

// certificate reads the credentials. tls.X509KeyPair takes the CERTIFICATE
// blocks of its first argument, in order, and the first "PRIVATE KEY" block
// of its second (PKCS#8: RSA, ECDSA, Ed25519), and checks that the key is
// the first certificate's: a bundle is passed as both.
func (f tlsFiles) certificate() (tls.Certificate, error) {
	if f.bundle != nil {
		b, _, err := readTarget(*f.bundle)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("credential bundle: %w", err)
		}
		cert, err := tls.X509KeyPair(b, b)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("credential bundle %s: %w", f.bundle.path, err)
		}
		return cert, nil
	}
	for i := 1; ; i++ {
		key, keyGen, err := readTarget(*f.key)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("private key: %w", err)
		}
		chain, chainGen, err := readTarget(*f.chain)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("certificate chain: %w", err)
		}
		// Both files are in one projected volume, which the kubelet swaps
		// as a whole: the two reads straddled a rotation.
		if keyGen != chainGen && i < maxBundleRetries {
			continue
		}
		cert, err := tls.X509KeyPair(chain, key)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("key %s and chain %s: %w", f.key.path, f.chain.path, err)
		}
		return cert, nil
	}
}

// pool reads the trust file's CERTIFICATE blocks.
func (f tlsFiles) pool() (*x509.CertPool, error) {
	b, _, err := readTarget(f.trust)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("trust %s holds no CERTIFICATE block", f.trust.path)
	}
	return pool, nil
}

// serverConfig is what a listener serves one handshake with: the
// credentials and trust as the files hold them now, a verified client
// certificate required, TLS 1.3 only.
func (f tlsFiles) serverConfig() (*tls.Config, string, error) {
	cert, err := f.certificate()
	if err != nil {
		return nil, "", err
	}
	pool, err := f.pool()
	if err != nil {
		return nil, "", err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}, leafSHA256(cert.Certificate[0]), nil
}

func leafSHA256(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// peerOf describes the certificates a peer sent, and the verified chains.
func peerOf(certs []*x509.Certificate, chains [][]*x509.Certificate) *TLSPeer {
	if len(certs) == 0 {
		return nil
	}
	leaf := certs[0]
	p := &TLSPeer{Subject: leaf.Subject.String(), DNSNames: leaf.DNSNames, SHA256: leafSHA256(leaf.Raw), Sent: len(certs)}
	for _, u := range leaf.URIs {
		p.URIs = append(p.URIs, u.String())
	}
	if len(chains) > 0 {
		p.VerifiedChainLength = len(chains[0])
	}
	return p
}

// handshakeError describes a failed handshake, naming whose certificate
// was not verified, and the certificates the peer sent, if any.
func handshakeError(err error, whose string) (string, *TLSPeer) {
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		return fmt.Sprintf("%s certificate not verified: %v", whose, ve.Err), peerOf(ve.UnverifiedCertificates, nil)
	}
	return "handshake: " + err.Error(), nil
}

// tlsServers are the probe's listeners, by port.
type tlsServers struct {
	mu    sync.Mutex
	ports map[int]*tlsServer
	allow allowList
}

// tlsServer is one listener.
type tlsServer struct {
	files tlsFiles
	mu    sync.Mutex
	s     TLSServe
}

// serve handles POST /tls/serve?bundle=PATH&trust=PATH&port=N (or key= and
// chain= for bundle=): it starts a listener on port N, once (409 for a port
// already served), and answers its TLSServe.
func (ts *tlsServers) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	port, err := strconv.Atoi(q.Get("port"))
	if err != nil || port < 1 || port > 65535 {
		http.Error(w, fmt.Sprintf("port=%q: want a TCP port, 1 to 65535", q.Get("port")), http.StatusBadRequest)
		return
	}
	files, err := ts.allow.tlsFiles(q)
	if err != nil {
		refuse(w, err)
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if _, ok := ts.ports[port]; ok {
		http.Error(w, fmt.Sprintf("port %d is already served: a listener is started once, GET /tls/serve?port=%d reads it", port, port), http.StatusConflict)
		return
	}
	if len(ts.ports) >= maxTLSServers {
		http.Error(w, fmt.Sprintf("already serving %d ports", maxTLSServers), http.StatusTooManyRequests)
		return
	}
	if _, _, err := files.serverConfig(); err != nil {
		http.Error(w, "credentials: "+err.Error(), http.StatusBadRequest)
		return
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(tlsListenHost, strconv.Itoa(port)))
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, syscall.EADDRINUSE) {
			status = http.StatusConflict
		}
		http.Error(w, fmt.Sprintf("listening on port %d: %v", port, err), status)
		return
	}
	s := &tlsServer{files: files, s: TLSServe{Port: port, Addr: ln.Addr().String(), Started: time.Now().UTC(), Trust: files.trust.path, Handshakes: []TLSHandshake{}}}
	if files.bundle != nil {
		s.s.Bundle = files.bundle.path
	} else {
		s.s.Key, s.s.Chain = files.key.path, files.chain.path
	}
	ts.ports[port] = s
	go s.run(ln)
	s.answer(w)
}

// get handles GET /tls/serve?port=N.
func (ts *tlsServers) get(w http.ResponseWriter, r *http.Request) {
	port, _ := strconv.Atoi(r.URL.Query().Get("port"))
	ts.mu.Lock()
	s, ok := ts.ports[port]
	ts.mu.Unlock()
	if !ok {
		http.Error(w, fmt.Sprintf("not serving port %q: POST /tls/serve first", r.URL.Query().Get("port")), http.StatusNotFound)
		return
	}
	s.answer(w)
}

// answer writes the record, with the leaf the listener presents now.
func (s *tlsServer) answer(w http.ResponseWriter) {
	_, sha, err := s.files.serverConfig()
	s.mu.Lock()
	res := s.s
	res.Handshakes = append([]TLSHandshake{}, s.s.Handshakes...)
	s.mu.Unlock()
	res.PresentingSHA256 = sha
	if err != nil {
		res.PresentingError = err.Error()
	}
	writeJSON(w, res)
}

// run accepts connections until the listener fails for good.
func (s *tlsServer) run(ln net.Listener) {
	n := 0
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // out of descriptors, say: try again
			time.Sleep(100 * time.Millisecond)
			continue
		}
		n++
		go s.handle(c, n)
	}
}

// handle makes the handshake of connection n, with the credential files
// read for it, writes "hello <n>" and records the handshake.
func (s *tlsServer) handle(c net.Conn, n int) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(tlsConnTimeout))
	hs := TLSHandshake{N: n, Time: time.Now().UTC(), Remote: c.RemoteAddr().String()}
	conn := tls.Server(c, &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cfg, sha, err := s.files.serverConfig()
			if err != nil {
				return nil, fmt.Errorf("the probe's credentials: %w", err)
			}
			hs.ServedSHA256 = sha
			return cfg, nil
		},
	})
	if err := conn.Handshake(); err != nil {
		hs.Error, hs.Peer = handshakeError(err, "client")
	} else {
		cs := conn.ConnectionState()
		hs.Version = tls.VersionName(cs.Version)
		hs.Peer = peerOf(cs.PeerCertificates, cs.VerifiedChains)
		if _, err := fmt.Fprintf(conn, "hello %d\n", n); err != nil {
			hs.Error = fmt.Sprintf("writing the line: %v", err)
		} else {
			hs.OK = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.s.Accepted++
	if len(s.s.Handshakes) >= MaxTLSHandshakes {
		s.s.Handshakes = s.s.Handshakes[1:]
	}
	s.s.Handshakes = append(s.s.Handshakes, hs)
}

// dial handles POST /tls/dial?bundle=PATH&trust=PATH&addr=HOST:PORT (or
// key= and chain= for bundle=), with serverName=NAME, verify=chain and
// timeout=D optional. It answers 200 with a TLSDial for every attempt made,
// whether or not TLS succeeded.
func (ts *tlsServers) dial(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	addr := q.Get("addr")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		http.Error(w, fmt.Sprintf("addr=%q: want HOST:PORT (%v)", addr, err), http.StatusBadRequest)
		return
	}
	files, err := ts.allow.tlsFiles(q)
	if err != nil {
		refuse(w, err)
		return
	}
	var chainOnly bool
	switch v := q.Get("verify"); v {
	case "", "full":
	case "chain":
		chainOnly = true
	default:
		http.Error(w, fmt.Sprintf("verify=%q: want full (the default) or chain", v), http.StatusBadRequest)
		return
	}
	timeout := defaultDialTimeout
	if v := q.Get("timeout"); v != "" {
		if timeout, err = time.ParseDuration(v); err != nil || timeout <= 0 || timeout > maxDialTimeout {
			http.Error(w, fmt.Sprintf("timeout=%q: want a duration up to %s", v, maxDialTimeout), http.StatusBadRequest)
			return
		}
	}
	cert, err := files.certificate()
	if err != nil {
		http.Error(w, "credentials: "+err.Error(), http.StatusBadRequest)
		return
	}
	pool, err := files.pool()
	if err != nil {
		http.Error(w, "credentials: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	writeJSON(w, dialTLS(ctx, addr, q.Get("serverName"), cert, pool, chainOnly))
}

// dialTLS connects to addr with cert, verifies the server against pool and
// reads its line.
//
// With chainOnly the server's chain is verified against pool for server
// authentication, with no host name check: pod certificates name the pod's
// identity in URI SANs (spiffe://...), which crypto/tls does not match, and
// carry no DNS or IP SAN a dialer could ask for. The caller checks the
// identity itself, in TLSDial.Server.URIs. crypto/tls offers this only as
// InsecureSkipVerify plus VerifyConnection, which then makes the whole
// verification.
func dialTLS(ctx context.Context, addr, serverName string, cert tls.Certificate, pool *x509.CertPool, chainOnly bool) TLSDial {
	res := TLSDial{Addr: addr, ServerName: serverName, VerifyChainOnly: chainOnly}
	var chains [][]*x509.Certificate
	cfg := &tls.Config{
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			res.ClientSHA256 = leafSHA256(cert.Certificate[0])
			return &cert, nil
		},
		RootCAs:    pool,
		ServerName: serverName,
		MinVersion: tls.VersionTLS13,
	}
	if chainOnly {
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			certs := cs.PeerCertificates
			if len(certs) == 0 {
				return errors.New("the server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range certs[1:] {
				inter.AddCert(c)
			}
			var err error
			chains, err = certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
			}
			return nil
		}
	}
	if cfg.ServerName == "" && !chainOnly {
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		res.Error = fmt.Sprintf("connecting: %v", err)
		return res
	}
	defer raw.Close()
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		res.Error, res.Server = handshakeError(err, "server")
		return res
	}
	cs := conn.ConnectionState()
	if !chainOnly {
		chains = cs.VerifiedChains
	}
	res.Version = tls.VersionName(cs.Version)
	res.Server = peerOf(cs.PeerCertificates, chains)
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	line, err := bufio.NewReader(io.LimitReader(conn, 1024)).ReadString('\n')
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "remote error" {
			// In TLS 1.3 the server checks the client's certificate
			// after the client's handshake is done: it answers with an
			// alert instead of the line.
			res.Error = fmt.Sprintf("the server refused the connection after the handshake (its check of the client certificate, in TLS 1.3): %v", err)
		} else {
			res.Error = fmt.Sprintf("reading the server's line: %v", err)
		}
		return res
	}
	res.Line = line[:len(line)-1]
	res.OK = true
	return res
}
