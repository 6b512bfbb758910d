package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe/server"
)

// Client asks probes through the API server's pod proxy, with the run's
// secret on every request (the probe refuses any request without it).
type Client struct {
	cs     kubernetes.Interface
	secret string
	port   int
	last   *answers
}

// NewClient returns a client for the probes of a run whose secret is secret.
func NewClient(cs kubernetes.Interface, secret string) *Client {
	return &Client{cs: cs, secret: secret, port: Port, last: &answers{m: map[string]Answer{}}}
}

// OnPort returns a client for the probe listening on port (a second probe
// in the pod, started with $PROBE_PORT).
func (c *Client) OnPort(port int) *Client {
	cp := *c
	cp.port = port
	return &cp
}

// Files asks the probe in namespace/pod to describe paths by their metadata,
// size and SHA-256; their bytes stay in the pod. It returns one FileReport per
// path, in the order given. A path that is missing or unreadable in the pod is
// not an error here: it is reported in its FileReport (Exists, Error). A path
// outside the pod's volume mounts is refused by the probe (an error). Errors
// name the pod and wrap the cause, for example the API server's answer when
// the pod is not running yet.
func (c *Client) Files(ctx context.Context, namespace, pod string, paths ...string) (*Report, error) {
	return c.files(ctx, namespace, pod, false, paths)
}

// Contents is Files with the files' bytes (at most ContentLimit each), for
// an assertion that needs them. Callers must not log or store secret bytes
// (tokens, keys): use token.Fingerprint or the SHA-256 in messages.
func (c *Client) Contents(ctx context.Context, namespace, pod string, paths ...string) (*Report, error) {
	return c.files(ctx, namespace, pod, true, paths)
}

func (c *Client) files(ctx context.Context, namespace, pod string, content bool, paths []string) (*Report, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("probe %s/%s: no paths to ask for", namespace, pod)
	}
	// Pods().ProxyGet takes its query as a map, which cannot repeat "path";
	// the request is built the same way here, with one Param per path.
	req := c.request("GET", namespace, pod).Suffix("files")
	for _, p := range paths {
		req = req.Param("path", p)
	}
	if content {
		req = req.Param("content", "true")
	}
	body, err := c.get(ctx, namespace, pod, req)
	if err != nil {
		return nil, fmt.Errorf("probe %s/%s: GET /files: %w", namespace, pod, err)
	}
	var r Report
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("probe %s/%s: decoding /files answer: %w (body %q)", namespace, pod, err, truncate(body, 200))
	}
	if len(r.Files) != len(paths) {
		return nil, fmt.Errorf("probe %s/%s: asked for %d paths, the report has %d", namespace, pod, len(paths), len(r.Files))
	}
	return &r, nil
}

// Healthy returns nil when the probe in namespace/pod answers /healthz with
// "ok", and otherwise an error naming the pod. It asks once.
func (c *Client) Healthy(ctx context.Context, namespace, pod string) error {
	body, err := c.get(ctx, namespace, pod, c.request("GET", namespace, pod).Suffix("healthz"))
	if err != nil {
		return fmt.Errorf("probe %s/%s: GET /healthz: %w", namespace, pod, err)
	}
	if got := strings.TrimSpace(string(body)); got != "ok" {
		return fmt.Errorf("probe %s/%s: GET /healthz answered %q, want \"ok\"", namespace, pod, truncate(body, 200))
	}
	return nil
}

// StartWatch makes the probe in namespace/pod read path every interval and
// record each read (POST /watch); with content, each generation keeps its
// bytes. It asks once. Watched returns the record.
func (c *Client) StartWatch(ctx context.Context, namespace, pod, path string, interval time.Duration, content bool) error {
	req := c.request("POST", namespace, pod).Suffix("watch").Param("path", path).Param("interval", interval.String())
	if content {
		req = req.Param("content", "true")
	}
	if _, err := c.get(ctx, namespace, pod, req); err != nil {
		return fmt.Errorf("probe %s/%s: POST /watch %s: %w", namespace, pod, path, err)
	}
	return nil
}

// Watched returns what the probe's watcher of path has seen so far.
func (c *Client) Watched(ctx context.Context, namespace, pod, path string) (*Watch, error) {
	body, err := c.get(ctx, namespace, pod, c.request("GET", namespace, pod).Suffix("watch").Param("path", path))
	if err != nil {
		return nil, fmt.Errorf("probe %s/%s: GET /watch %s: %w", namespace, pod, path, err)
	}
	var w Watch
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("probe %s/%s: decoding /watch answer: %w", namespace, pod, err)
	}
	return &w, nil
}

// WriteTest asks the probe whether a file can be created in dir (it is
// removed at once): the way to show a mount is read-only (Errno "EROFS").
func (c *Client) WriteTest(ctx context.Context, namespace, pod, dir string) (*WriteTest, error) {
	body, err := c.get(ctx, namespace, pod, c.request("POST", namespace, pod).Suffix("write-test").Param("path", dir))
	if err != nil {
		return nil, fmt.Errorf("probe %s/%s: POST /write-test %s: %w", namespace, pod, dir, err)
	}
	var wt WriteTest
	if err := json.Unmarshal(body, &wt); err != nil {
		return nil, fmt.Errorf("probe %s/%s: decoding /write-test answer: %w", namespace, pod, err)
	}
	return &wt, nil
}

// RelyingParty asks the probe to act as a relying party inside the pod with
// the token at tokenPath: it reads the discovery document from the API
// server and the key set from its jwks_uri, presenting the token to the API
// server only, and returns both documents (never the token).
func (c *Client) RelyingParty(ctx context.Context, namespace, pod, tokenPath string) (*Relying, error) {
	body, err := c.get(ctx, namespace, pod, c.request("GET", namespace, pod).Suffix("oidc").Param("token", tokenPath))
	if err != nil {
		return nil, fmt.Errorf("probe %s/%s: GET /oidc: %w", namespace, pod, err)
	}
	var rp Relying
	if err := json.Unmarshal(body, &rp); err != nil {
		return nil, fmt.Errorf("probe %s/%s: decoding /oidc answer: %w", namespace, pod, err)
	}
	return &rp, nil
}

// ServeTLS makes the probe in namespace/pod listen on port, on all the
// pod's addresses, for mutual TLS (1.3) with the credentials cr, requiring a
// client certificate verified against the CA certificates in the file trust.
// The files are read at every handshake, so a rotated certificate is served
// without a restart. Each connection gets the line "hello <n>" and is
// closed; ServedTLS returns the record. A port is served once: a second
// ServeTLS on it fails (the probe answers 409, apierrors.IsAlreadyExists),
// and the first listener is left as it is.
func (c *Client) ServeTLS(ctx context.Context, namespace, pod string, cr TLSCredentials, trust string, port int) error {
	req := cr.params(c.request("POST", namespace, pod).Suffix("tls", "serve")).Param("trust", trust).Param("port", strconv.Itoa(port))
	if _, err := c.get(ctx, namespace, pod, req); err != nil {
		return fmt.Errorf("probe %s/%s: POST /tls/serve port %d: %w", namespace, pod, port, err)
	}
	return nil
}

// ServedTLS returns what the probe's listener on port has recorded, and the
// SHA-256 of the leaf it presents now.
func (c *Client) ServedTLS(ctx context.Context, namespace, pod string, port int) (*TLSServe, error) {
	body, err := c.get(ctx, namespace, pod, c.request("GET", namespace, pod).Suffix("tls", "serve").Param("port", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("probe %s/%s: GET /tls/serve port %d: %w", namespace, pod, port, err)
	}
	var s TLSServe
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("probe %s/%s: decoding /tls/serve answer: %w", namespace, pod, err)
	}
	return &s, nil
}

// DialTLS makes the probe in namespace/pod connect to addr (HOST:PORT, a
// ServeTLS listener) with the credentials cr as its client certificate, over
// TLS 1.3, verify the server against the CA certificates in the file trust,
// and read the server's line; the probe bounds it with 5 s. serverName, when
// not empty, is sent and checked (else the host of addr is checked). With
// verifyChainOnly the server's chain is verified for server authentication
// but no host name is checked: pod certificates carry URI SANs
// (spiffe://...) and no DNS or IP SAN, so check TLSDial.Server.URIs.
//
// A failed handshake is not an error here: it is in TLSDial.OK and Error.
// The error is for a request the probe refused (a path outside its
// allow-list, credentials it cannot read) or could not answer.
func (c *Client) DialTLS(ctx context.Context, namespace, pod string, cr TLSCredentials, trust, addr, serverName string, verifyChainOnly bool) (*TLSDial, error) {
	req := cr.params(c.request("POST", namespace, pod).Suffix("tls", "dial")).Param("trust", trust).Param("addr", addr)
	if serverName != "" {
		req = req.Param("serverName", serverName)
	}
	if verifyChainOnly {
		req = req.Param("verify", "chain")
	}
	body, err := c.get(ctx, namespace, pod, req)
	if err != nil {
		return nil, fmt.Errorf("probe %s/%s: POST /tls/dial %s: %w", namespace, pod, addr, err)
	}
	var d TLSDial
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("probe %s/%s: decoding /tls/dial answer: %w", namespace, pod, err)
	}
	return &d, nil
}

// params adds the credentials to req: bundle, or key and chain.
func (cr TLSCredentials) params(req *rest.Request) *rest.Request {
	for _, p := range []struct{ name, value string }{{"bundle", cr.Bundle}, {"key", cr.Key}, {"chain", cr.Chain}} {
		if p.value != "" {
			req = req.Param(p.name, p.value)
		}
	}
	return req
}

// request starts a request through the API server's proxy to the probe's
// port, /api/v1/namespaces/<namespace>/pods/http:<pod>:<port>/proxy/...,
// carrying the secret.
func (c *Client) request(verb, namespace, pod string) *rest.Request {
	return c.cs.CoreV1().RESTClient().Verb(verb).
		Namespace(namespace).
		Resource("pods").
		SubResource("proxy").
		Name(utilnet.JoinSchemeNamePort("http", pod, strconv.Itoa(c.port))).
		SetHeader(server.SecretHeader, c.secret)
}

// get runs req and returns the body. For a failure it returns the API
// server's Status message when there is one (for example "no endpoints
// available" for a pod that is not ready), which Request.DoRaw drops, and
// the probe's own message, which client-go keeps only as a cause for most
// codes (400, 409: "the server rejected our request for an unknown reason").
func (c *Client) get(ctx context.Context, namespace, pod string, req *rest.Request) ([]byte, error) {
	res := req.Do(ctx)
	body, err := res.Raw()
	if err != nil {
		err = withProbeMessage(res.Error())
		c.last.record(namespace, pod, c.port, req.URL().Path, nil, err)
		return nil, err
	}
	c.last.record(namespace, pod, c.port, req.URL().Path, body, nil)
	return body, nil
}

// withProbeMessage adds the text of the probe's answer to err, when err
// does not already say it. The result wraps err (apierrors.IsConflict and
// the like still work).
func withProbeMessage(err error) error {
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Details == nil {
		return err
	}
	for _, c := range se.ErrStatus.Details.Causes {
		if c.Type == metav1.CauseTypeUnexpectedServerResponse && c.Message != "" && c.Message != "unknown" && !strings.Contains(se.ErrStatus.Message, c.Message) {
			return fmt.Errorf("%w: %s", err, c.Message)
		}
	}
	return err
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
