package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

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
}

// NewClient returns a client for the probes of a run whose secret is secret.
func NewClient(cs kubernetes.Interface, secret string) *Client {
	return &Client{cs: cs, secret: secret, port: Port}
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
	body, err := get(ctx, req)
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
	body, err := get(ctx, c.request("GET", namespace, pod).Suffix("healthz"))
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
	if _, err := get(ctx, req); err != nil {
		return fmt.Errorf("probe %s/%s: POST /watch %s: %w", namespace, pod, path, err)
	}
	return nil
}

// Watched returns what the probe's watcher of path has seen so far.
func (c *Client) Watched(ctx context.Context, namespace, pod, path string) (*Watch, error) {
	body, err := get(ctx, c.request("GET", namespace, pod).Suffix("watch").Param("path", path))
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
	body, err := get(ctx, c.request("POST", namespace, pod).Suffix("write-test").Param("path", dir))
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
	body, err := get(ctx, c.request("GET", namespace, pod).Suffix("oidc").Param("token", tokenPath))
	if err != nil {
		return nil, fmt.Errorf("probe %s/%s: GET /oidc: %w", namespace, pod, err)
	}
	var rp Relying
	if err := json.Unmarshal(body, &rp); err != nil {
		return nil, fmt.Errorf("probe %s/%s: decoding /oidc answer: %w", namespace, pod, err)
	}
	return &rp, nil
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
// available" for a pod that is not ready), which Request.DoRaw drops.
func get(ctx context.Context, req *rest.Request) ([]byte, error) {
	res := req.Do(ctx)
	body, err := res.Raw()
	if err != nil {
		return nil, res.Error()
	}
	return body, nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
