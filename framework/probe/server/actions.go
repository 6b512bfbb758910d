package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// WriteTest is the answer to POST /write-test?path=DIR: whether a new file
// could be created in DIR (it is removed at once), and why not.
type WriteTest struct {
	Path string `json:"path"`
	// Wrote is true when the file could be created (and was removed).
	Wrote bool `json:"wrote"`
	// Error is the error of the create; Errno names it when it is one of
	// EROFS, EACCES, EPERM.
	Error string `json:"error,omitempty"`
	Errno string `json:"errno,omitempty"`
}

// writeTest handles POST /write-test?path=DIR. DIR must be an allowed
// directory (or lie in one). The probe creates a file of a random name there
// with O_EXCL, inside the allow-list entry (os.Root), and removes it at once:
// nothing of the pod's files is ever changed.
func (h *handler) writeTest(w http.ResponseWriter, r *http.Request) {
	targets, err := h.allow.targets(r.URL.Query()["path"])
	if err == nil && len(targets) != 1 {
		err = errors.New("want exactly one path: POST /write-test?path=/dir")
	}
	if err != nil {
		refuse(w, err)
		return
	}
	tg := targets[0]
	res := WriteTest{Path: tg.path}
	root, err := os.OpenRoot(tg.entry)
	if err != nil {
		refuse(w, &refusal{fmt.Sprintf("write test in %s: the allow-list entry %s is not an openable directory: %v", tg.path, tg.entry, err)})
		return
	}
	defer root.Close()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	name := filepath.Join(tg.rel, ".kic-write-test-"+hex.EncodeToString(b[:]))
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		res.Error = err.Error()
		for _, e := range []syscall.Errno{syscall.EROFS, syscall.EACCES, syscall.EPERM} {
			if errors.Is(err, e) {
				res.Errno = errnoName(e)
			}
		}
	} else {
		res.Wrote = true
		cerr := f.Close()
		if rerr := root.Remove(name); rerr != nil || cerr != nil {
			res.Error = fmt.Sprintf("created %s, then could not clean up: %v", name, errors.Join(cerr, rerr))
		}
	}
	writeJSON(w, res)
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.EROFS:
		return "EROFS"
	case syscall.EACCES:
		return "EACCES"
	case syscall.EPERM:
		return "EPERM"
	}
	return ""
}

// Relying is the answer to GET /oidc?token=PATH: what a relying party inside
// the pod, holding only the token at PATH and the cluster's CA, reads from
// the service-account issuer, as an in-cluster Vault would: the discovery
// document from the API server (kubernetes.default.svc), then the key set
// from the document's jwks_uri. The suite verifies the token with them.
type Relying struct {
	DiscoveryURL    string          `json:"discoveryURL"`
	DiscoveryStatus int             `json:"discoveryStatus"`
	Discovery       json.RawMessage `json:"discovery,omitempty"`
	JWKSURI         string          `json:"jwksURI,omitempty"`
	JWKSStatus      int             `json:"jwksStatus,omitempty"`
	JWKS            json.RawMessage `json:"jwks,omitempty"`
	// TokenSentTo lists the hosts the token was presented to: each one
	// proved, in the TLS handshake, a certificate of the cluster's CA (the
	// only root the relying party trusts).
	TokenSentTo []string `json:"tokenSentTo,omitempty"`
	Error       string   `json:"error,omitempty"`
}

// oidcTimeout bounds each of the relying party's requests.
const oidcTimeout = 10 * time.Second

// oidc handles GET /oidc?token=PATH.
func (h *handler) oidc(w http.ResponseWriter, r *http.Request) {
	targets, err := h.allow.targets(r.URL.Query()["token"])
	if err == nil && len(targets) != 1 {
		err = errors.New("want exactly one token path: GET /oidc?token=/var/run/secrets/tokens/token")
	}
	if err != nil {
		refuse(w, err)
		return
	}
	fr := inspectTarget(targets[0], true)
	if !fr.Exists || fr.Error != "" || len(fr.Content) == 0 || fr.Truncated {
		refuse(w, &refusal{fmt.Sprintf("token %s: not a readable token file (exists %v, %d bytes, error %q)", fr.Path, fr.Exists, len(fr.Content), fr.Error)})
		return
	}
	tok := strings.TrimSpace(string(fr.Content))
	caPath := filepath.Join(h.saDir, "ca.crt")
	ca, err := os.ReadFile(caPath)
	if err != nil {
		writeJSON(w, Relying{Error: fmt.Sprintf("the cluster's CA %s: %v", caPath, err)})
		return
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		writeJSON(w, Relying{Error: fmt.Sprintf("%s holds no PEM certificate", caPath)})
		return
	}
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		writeJSON(w, Relying{Error: "$KUBERNETES_SERVICE_HOST or $KUBERNETES_SERVICE_PORT is not set: not in a pod"})
		return
	}
	// The cluster's CA is the only root: the token is sent (after the
	// handshake) only to a server with a certificate of that CA, the API
	// server under whatever name jwks_uri gives it (kube-apiserver's
	// default is its advertise address, https://<node IP>:6443).
	hc := &http.Client{
		Timeout:   oidcTimeout,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		// A redirect could carry the token elsewhere: none is followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	rp := Relying{DiscoveryURL: "https://" + net.JoinHostPort(host, port) + "/.well-known/openid-configuration"}
	var status int
	if rp.Discovery, status, err = rp.get(r.Context(), hc, rp.DiscoveryURL, tok); err != nil {
		rp.DiscoveryStatus, rp.Error = status, err.Error()
		writeJSON(w, rp)
		return
	}
	rp.DiscoveryStatus = status
	var d struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(rp.Discovery, &d); err != nil || d.JWKSURI == "" {
		rp.Error = fmt.Sprintf("the discovery document has no jwks_uri (%v)", err)
		writeJSON(w, rp)
		return
	}
	rp.JWKSURI = d.JWKSURI
	rp.JWKS, rp.JWKSStatus, err = rp.get(r.Context(), hc, d.JWKSURI, tok)
	if err != nil {
		rp.Error = err.Error()
	}
	writeJSON(w, rp)
}

// get fetches u over https with tok, through hc, which trusts only the
// cluster's CA.
func (rp *Relying) get(ctx context.Context, hc *http.Client, u, tok string) (json.RawMessage, int, error) {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme != "https" {
		return nil, 0, fmt.Errorf("%q: a relying party fetches only https URLs", u)
	}
	ctx, cancel := context.WithTimeout(ctx, oidcTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", u, err)
	}
	rp.TokenSentTo = append(rp.TokenSentTo, parsed.Host)
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, ContentLimit))
	if err != nil {
		return nil, res.StatusCode, fmt.Errorf("GET %s: %w", u, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, res.StatusCode, fmt.Errorf("GET %s: %s: %.200s", u, res.Status, body)
	}
	if !json.Valid(body) {
		return nil, res.StatusCode, fmt.Errorf("GET %s: not JSON: %.200s", u, body)
	}
	return body, res.StatusCode, nil
}

// serviceAccountDir is where the kubelet mounts the automounted API
// credentials (probe.ServiceAccountDir).
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
