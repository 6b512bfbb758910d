package probe_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe/server"
)

// fakeAPIServer stands in for the API server's pod proxy: requests for
// /api/v1/namespaces/ns1/pods/http:pod1:8080/proxy/<rest> reach the probe
// handler as /<rest>, query included; everything else gets a 503 Status, as
// the API server answers for a pod that is not running.
func fakeAPIServer(t *testing.T) (kubernetes.Interface, *[]string) {
	t.Helper()
	const prefix = "/api/v1/namespaces/ns1/pods/http:pod1:8080/proxy"
	probeHandler := server.NewHandler()
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

func TestFiles(t *testing.T) {
	c, seen := fakeAPIServer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("jwt"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	// A path with characters that need escaping in a query.
	odd := filepath.Join(dir, "a b&c=d")

	r, err := probe.Files(context.Background(), c, "ns1", "pod1", file, missing, odd)
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
}

func TestHealthy(t *testing.T) {
	c, _ := fakeAPIServer(t)
	if err := probe.Healthy(context.Background(), c, "ns1", "pod1"); err != nil {
		t.Errorf("Healthy = %v", err)
	}
}

func TestErrorsNameThePod(t *testing.T) {
	c, _ := fakeAPIServer(t)
	ctx := context.Background()
	_, filesErr := probe.Files(ctx, c, "ns1", "pod2", "/etc/hostname")
	healthErr := probe.Healthy(ctx, c, "ns1", "pod2")
	_, noPathErr := probe.Files(ctx, c, "ns1", "pod1")
	for name, err := range map[string]error{"Files": filesErr, "Healthy": healthErr, "Files without paths": noPathErr} {
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), "probe ns1/pod") {
			t.Errorf("%s: error %q does not name the pod", name, err)
		}
	}
	if filesErr != nil && !strings.Contains(filesErr.Error(), "no endpoints available") {
		t.Errorf("Files: error %q does not carry the API server's message", filesErr)
	}
}
