package probe_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe/server"
)

// fakeAPIServer stands in for the API server's pod proxy: requests for
// /api/v1/namespaces/ns1/pods/http:pod1:8080/proxy/<rest> reach the probe
// handler as /<rest>, query included; everything else gets a 503 Status, as
// the API server answers for a pod that is not running.
func fakeAPIServer(t *testing.T, allow ...string) (kubernetes.Interface, *[]string) {
	t.Helper()
	const prefix = "/api/v1/namespaces/ns1/pods/http:pod1:8080/proxy"
	if len(allow) == 0 {
		allow = []string{"/nonexistent"}
	}
	probeHandler, err := server.NewHandler(server.Config{Secret: testSecret, Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.URL.RequestURI())
		rest, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \"http:pod2:8080\"","reason":"ServiceUnavailable","code":503}`))
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = rest
		r2.URL.RawPath = ""
		probeHandler.ServeHTTP(w, r2)
	}))
	t.Cleanup(srv.Close)
	c, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c, &seen
}

const testSecret = "0123456789abcdef-client-test"

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	cs, seen := fakeAPIServer(t, dir)
	c := probe.NewClient(cs, testSecret)
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("jwt"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	// A path with characters that need escaping in a query.
	odd := filepath.Join(dir, "a b&c=d")

	r, err := c.Contents(context.Background(), "ns1", "pod1", file, missing, odd)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{r.Files[0].Path, r.Files[1].Path, r.Files[2].Path}; !reflect.DeepEqual(got, []string{file, missing, odd}) {
		t.Errorf("paths = %q, want the three asked for, in order", got)
	}
	f, err := r.File(file)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Exists || string(f.Content) != "jwt" || f.Mode != "0600" {
		t.Errorf("token: %+v", f)
	}
	if f, _ := r.File(missing); f.Exists || f.Error != "" {
		t.Errorf("missing: %+v, want Exists false and no error", f)
	}
	if len(*seen) != 1 || strings.Count((*seen)[0], "path=") != 3 {
		t.Errorf("requests = %q, want one GET with three path parameters", *seen)
	}

	// Files leaves the bytes in the pod: digest and metadata only.
	r, err = c.Files(context.Background(), "ns1", "pod1", file)
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Files[0]; !f.Exists || len(f.Content) != 0 || f.SHA256 != sha256Hex("jwt") || f.Size != 3 {
		t.Errorf("Files: %+v, want digest and size, no content", f)
	}
}

// A client with another run's secret is refused by the probe, and says so.
func TestWrongSecretIsRefused(t *testing.T) {
	dir := t.TempDir()
	cs, _ := fakeAPIServer(t, dir)
	_, err := probe.NewClient(cs, "0123456789abcdef-another-run").Files(context.Background(), "ns1", "pod1", filepath.Join(dir, "x"))
	if err == nil || !strings.Contains(err.Error(), server.SecretHeader) {
		t.Errorf("Files with another secret: %v, want the probe's refusal naming %s", err, server.SecretHeader)
	}
}

func TestEnv(t *testing.T) {
	env := probe.Env("kic-probe", []corev1.VolumeMount{{MountPath: "/var/run/secrets/tokens/"}, {MountPath: "/sub/token", SubPath: "token"}})
	if len(env) != 2 || env[0].Name != server.SecretEnv || env[0].Value != "" || env[0].ValueFrom.SecretKeyRef.Name != "kic-probe" || env[0].ValueFrom.SecretKeyRef.Key != probe.SecretKey {
		t.Errorf("secret env = %+v, want it read from Secret kic-probe, never a literal value", env)
	}
	if got, want := env[1].Value, probe.ServiceAccountDir+":/var/run/secrets/tokens:/sub/token"; env[1].Name != server.AllowEnv || got != want {
		t.Errorf("%s = %q, want %q", env[1].Name, got, want)
	}
	cfg, err := server.ConfigFromEnv(func(k string) string {
		if k == server.SecretEnv {
			return testSecret
		}
		return env[1].Value
	})
	if err != nil || len(cfg.Allow) != 3 {
		t.Errorf("the probe reads the allow-list as %+v, %v", cfg, err)
	}
}

func TestHealthy(t *testing.T) {
	cs, _ := fakeAPIServer(t)
	if err := probe.NewClient(cs, testSecret).Healthy(context.Background(), "ns1", "pod1"); err != nil {
		t.Errorf("Healthy = %v", err)
	}
}

func TestErrorsNameThePod(t *testing.T) {
	cs, _ := fakeAPIServer(t)
	c := probe.NewClient(cs, testSecret)
	ctx := context.Background()
	_, filesErr := c.Files(ctx, "ns1", "pod2", "/etc/hostname")
	healthErr := c.Healthy(ctx, "ns1", "pod2")
	_, noPathErr := c.Files(ctx, "ns1", "pod1")
	_, outsideErr := c.Files(ctx, "ns1", "pod1", "/proc/1/environ")
	for name, err := range map[string]error{"Files": filesErr, "Healthy": healthErr, "Files without paths": noPathErr} {
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), "probe ns1/pod") {
			t.Errorf("%s: error %q does not name the pod", name, err)
		}
	}
	if outsideErr == nil || !strings.Contains(outsideErr.Error(), "outside the pod's volume mounts") {
		t.Errorf("Files(/proc/1/environ): %v, want the probe's refusal", outsideErr)
	}
	if filesErr != nil && !strings.Contains(filesErr.Error(), "no endpoints available") {
		t.Errorf("Files: error %q does not carry the API server's message", filesErr)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
