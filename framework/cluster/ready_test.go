package cluster

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// twoContexts writes a kubeconfig with contexts "a" (current) and "b",
// pointing at serverA and serverB.
func twoContexts(t *testing.T, serverA, serverB string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	data := `apiVersion: v1
kind: Config
current-context: a
clusters:
- name: a
  cluster: {server: "` + serverA + `"}
- name: b
  cluster: {server: "` + serverB + `"}
users:
- name: u
  user: {token: t}
contexts:
- name: a
  context: {cluster: a, user: u}
- name: b
  context: {cluster: b, user: u}
`
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRESTConfigHonoursTheContext(t *testing.T) {
	kc := twoContexts(t, "https://a.example:6443", "https://b.example:6443")
	for kubeContext, want := range map[string]string{"": "https://a.example:6443", "a": "https://a.example:6443", "b": "https://b.example:6443"} {
		cfg, err := RESTConfig(kc, kubeContext)
		if err != nil || cfg.Host != want {
			t.Errorf("RESTConfig(context %q) = %v, %v; want host %s", kubeContext, cfg, err, want)
		}
	}
	if _, err := RESTConfig(kc, "c"); err == nil || !strings.Contains(err.Error(), `no context "c"`) || !strings.Contains(err.Error(), "a, b") {
		t.Errorf("unknown context: %v, want it named with the contexts there are", err)
	}
}

// Reach asks the context's API server and says which context it used.
func TestReachUsesTheContext(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	serve := func(name string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits[name]++
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"gitVersion":"v1.37.2-` + name + `"}`))
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	a, b := serve("a"), serve("b")
	kc := twoContexts(t, a.URL, b.URL)
	info, err := Reach(context.Background(), kc, "b", 5*time.Second)
	mu.Lock()
	hitA := hits["a"]
	mu.Unlock()
	if err != nil || info.Context != "b" || info.Version != "v1.37.2-b" || hitA != 0 {
		t.Errorf("Reach(context b) = %+v, %v (hits %v); want server b only", info, err, hits)
	}
	if info, err := Reach(context.Background(), kc, "", 5*time.Second); err != nil || info.Context != "a" {
		t.Errorf("Reach(no context) = %+v, %v; want the current-context a", info, err)
	}
}
