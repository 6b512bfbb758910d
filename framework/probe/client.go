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
)

// Files asks the probe in namespace/pod to describe paths and returns its
// report, which holds one FileReport per path in the order given. A path that
// is missing or unreadable in the pod is not an error here: it is reported in
// its FileReport (Exists, Error). Errors name the pod and wrap the cause, for
// example the API server's answer when the pod is not running yet.
func Files(ctx context.Context, c kubernetes.Interface, namespace, pod string, paths ...string) (*Report, error) {
	return FilesAt(ctx, c, namespace, pod, Port, paths...)
}

// FilesAt is Files asking the probe that listens on port (a second probe in
// the pod, started with $PROBE_PORT).
func FilesAt(ctx context.Context, c kubernetes.Interface, namespace, pod string, port int, paths ...string) (*Report, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("probe %s/%s: no paths to ask for", namespace, pod)
	}
	// Pods().ProxyGet takes its query as a map, which cannot repeat "path";
	// the request is built the same way here, with one Param per path.
	req := proxyVerbPort(c, "GET", namespace, pod, port).Suffix("files")
	for _, p := range paths {
		req = req.Param("path", p)
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
func Healthy(ctx context.Context, c kubernetes.Interface, namespace, pod string) error {
	return HealthyAt(ctx, c, namespace, pod, Port)
}

// HealthyAt is Healthy for the probe listening on port.
func HealthyAt(ctx context.Context, c kubernetes.Interface, namespace, pod string, port int) error {
	body, err := get(ctx, proxyVerbPort(c, "GET", namespace, pod, port).Suffix("healthz"))
	if err != nil {
		return fmt.Errorf("probe %s/%s: GET /healthz: %w", namespace, pod, err)
	}
	if got := strings.TrimSpace(string(body)); got != "ok" {
		return fmt.Errorf("probe %s/%s: GET /healthz answered %q, want \"ok\"", namespace, pod, truncate(body, 200))
	}
	return nil
}

// StartWatch makes the probe in namespace/pod read path every interval and
// record each read (POST /watch); it asks once. Watched returns the record.
func StartWatch(ctx context.Context, c kubernetes.Interface, namespace, pod, path string, interval time.Duration) error {
	req := proxyVerb(c, "POST", namespace, pod).Suffix("watch").Param("path", path).Param("interval", interval.String())
	if _, err := get(ctx, req); err != nil {
		return fmt.Errorf("probe %s/%s: POST /watch %s: %w", namespace, pod, path, err)
	}
	return nil
}

// Watched returns what the probe's watcher of path has seen so far.
func Watched(ctx context.Context, c kubernetes.Interface, namespace, pod, path string) (*Watch, error) {
	body, err := get(ctx, proxy(c, namespace, pod).Suffix("watch").Param("path", path))
	if err != nil {
		return nil, fmt.Errorf("probe %s/%s: GET /watch %s: %w", namespace, pod, path, err)
	}
	var w Watch
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("probe %s/%s: decoding /watch answer: %w", namespace, pod, err)
	}
	return &w, nil
}

// proxy starts a GET through the API server's proxy to the probe's port:
// /api/v1/namespaces/<namespace>/pods/http:<pod>:<Port>/proxy/...
func proxy(c kubernetes.Interface, namespace, pod string) *rest.Request {
	return proxyVerb(c, "GET", namespace, pod)
}

func proxyVerb(c kubernetes.Interface, verb, namespace, pod string) *rest.Request {
	return proxyVerbPort(c, verb, namespace, pod, Port)
}

func proxyVerbPort(c kubernetes.Interface, verb, namespace, pod string, port int) *rest.Request {
	return c.CoreV1().RESTClient().Verb(verb).
		Namespace(namespace).
		Resource("pods").
		SubResource("proxy").
		Name(utilnet.JoinSchemeNamePort("http", pod, strconv.Itoa(port)))
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
