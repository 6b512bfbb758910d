package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every endpoint refuses a request without the run's secret, or with
// another one, and says why.
func TestRequestWithoutTheSecretIsRefused(t *testing.T) {
	tr := newTree(t)
	srv := httptest.NewServer(testHandler(t, tr.mountInfo, tr.root))
	defer srv.Close()
	plain := url.QueryEscape(filepath.Join(tr.root, "plain"))
	for _, target := range []string{"/healthz", "/files?path=" + plain + "&content=true", "/watch?path=" + plain} {
		for _, secret := range []string{"", "0123456789abcdef-other-secret", testSecret + "x", testSecret[:len(testSecret)-1]} {
			method := http.MethodGet
			status, body := call(t, srv, method, target, secret)
			if status != http.StatusForbidden || strings.Contains(body, "hello") || !strings.Contains(body, SecretHeader) {
				t.Errorf("%s %s with secret %q: %d %q, want 403 naming %s", method, target, secret, status, body, SecretHeader)
			}
		}
		status, body := call(t, srv, http.MethodPost, target, "")
		if status != http.StatusForbidden {
			t.Errorf("POST %s without the secret: %d %q, want 403", target, status, body)
		}
	}
	if status, body := call(t, srv, http.MethodGet, "/healthz", testSecret); status != http.StatusOK || body != "ok" {
		t.Errorf("GET /healthz with the secret: %d %q, want 200 ok", status, body)
	}
}

// A path outside the allow-list is refused as a whole request (403), and
// nothing of the other paths in it is served.
func TestPathOutsideTheMountsIsRefused(t *testing.T) {
	tr := newTree(t)
	srv := httptest.NewServer(testHandler(t, tr.mountInfo, tr.vol))
	defer srv.Close()
	token := filepath.Join(tr.vol, "token")
	for _, p := range []string{
		filepath.Join(tr.root, "plain"), // beside the mount
		"/proc/1/environ",
		"/proc/self/environ",
		"/etc/passwd",
		tr.vol + "/../plain",   // not clean: escapes by ".."
		tr.vol + "//token",     // not clean
		tr.vol + " other/file", // a sibling whose name starts like the entry
		"relative/path",
	} {
		q := url.Values{"path": {token, p}, "content": {"true"}}
		status, body := call(t, srv, http.MethodGet, "/files?"+q.Encode(), testSecret)
		if status != http.StatusForbidden || strings.Contains(body, "header.payload.sig") {
			t.Errorf("GET /files for %q: %d %q, want 403 and no content", p, status, body)
		}
	}
}

// A symlink inside the mount that points out of it, relative or absolute, is
// described as a link, but its target is neither opened nor described.
func TestSymlinkOutOfTheMountIsRefused(t *testing.T) {
	tr := newTree(t)
	secretFile := filepath.Join(tr.root, "plain") // outside the volume: "hello\n"
	for name, target := range map[string]string{
		"abs-escape": secretFile,
		"rel-escape": "../plain",
		"proc":       "/proc/self/environ",
		"dir-escape": "..",
	} {
		if err := os.Symlink(target, filepath.Join(tr.vol, name)); err != nil {
			t.Fatal(err)
		}
	}
	h := testHandler(t, tr.mountInfo, tr.vol)
	for _, name := range []string{"abs-escape", "rel-escape", "proc", "dir-escape"} {
		p := filepath.Join(tr.vol, name)
		f := getReport(t, h, p).Files[0]
		if !f.IsSymlink || f.Exists || len(f.Content) != 0 || f.SHA256 != "" || f.Mode != "" || f.Entries != nil || f.Resolved != "" || f.Error == "" {
			t.Errorf("%s: got %s, want a link whose escaping target is refused with an error", name, dump(f))
		}
	}
	// A symlink inside the mount is followed, as the kubelet's own are.
	if f := getReport(t, h, filepath.Join(tr.vol, "token")).Files[0]; !f.Exists || string(f.Content) != "header.payload.sig" {
		t.Errorf("token inside the mount: got %s", dump(f))
	}
}

// Without content=true a file is described by digest and metadata, and its
// bytes stay in the pod; the watcher keeps bytes only when asked too.
func TestContentOnlyWhenAsked(t *testing.T) {
	tr := newTree(t)
	h := testHandler(t, tr.mountInfo, tr.vol)
	token := filepath.Join(tr.vol, "token")
	f := getReportQuery(t, h, url.Values{"path": {token}}).Files[0]
	if len(f.Content) != 0 || f.SHA256 != sum([]byte("header.payload.sig")) || f.Size != int64(len("header.payload.sig")) || f.Mode != "0600" {
		t.Errorf("without content: got %s, want digest, size and mode only", dump(f))
	}

	srv := httptest.NewServer(h)
	defer srv.Close()
	if status, body := call(t, srv, http.MethodPost, "/watch?path="+url.QueryEscape(token)+"&interval=50ms", testSecret); status != http.StatusOK {
		t.Fatalf("POST /watch: %d %s", status, body)
	}
	// The watcher reads in its own goroutine: wait for its first read.
	var w Watch
	for deadline := time.Now().Add(5 * time.Second); len(w.Generations) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		status, body := call(t, srv, http.MethodGet, "/watch?path="+url.QueryEscape(token), testSecret)
		if err := json.Unmarshal([]byte(body), &w); status != http.StatusOK || err != nil {
			t.Fatalf("GET /watch: %d %s %v", status, body, err)
		}
	}
	if len(w.Generations) != 1 || len(w.Generations[0].Content) != 0 || w.Generations[0].SHA256 != sum([]byte("header.payload.sig")) {
		t.Errorf("watch without content: %+v, want one generation with digest only", w.Generations)
	}
}

// A single-file entry (a subPath mount of one file) serves only that file,
// and never a symlink put in its place.
func TestSingleFileEntry(t *testing.T) {
	tr := newTree(t)
	plain := filepath.Join(tr.root, "plain")
	h := testHandler(t, tr.mountInfo, plain)
	if f := getReport(t, h, plain).Files[0]; !f.Exists || string(f.Content) != "hello\n" {
		t.Errorf("single file: got %s", dump(f))
	}
	link := filepath.Join(tr.root, "link-entry")
	if err := os.Symlink(filepath.Join(tr.vol, "token"), link); err != nil {
		t.Fatal(err)
	}
	if f := getReport(t, testHandler(t, tr.mountInfo, link), link).Files[0]; f.Exists || len(f.Content) != 0 || !strings.Contains(f.Error, "not a directory or a regular file") {
		t.Errorf("symlink as a single-file entry: got %s, want it refused", dump(f))
	}
}

// A missing entry (a volume the pod does not have, such as the API token of
// a pod that does not automount it) is reported as missing, not as an error.
func TestMissingEntryIsMissing(t *testing.T) {
	tr := newTree(t)
	missing := filepath.Join(tr.root, "no-such-volume")
	f := getReport(t, testHandler(t, tr.mountInfo, missing), filepath.Join(missing, "token")).Files[0]
	if f.Exists || f.Error != "" {
		t.Errorf("got %s, want a missing file without error", dump(f))
	}
}

func TestConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{AllowEnv: "/vol"}, SecretEnv},
		{map[string]string{SecretEnv: "short", AllowEnv: "/vol"}, "at least 16"},
		{map[string]string{SecretEnv: testSecret}, "lists no paths"},
		{map[string]string{SecretEnv: testSecret, AllowEnv: "/vol:relative"}, "absolute, clean"},
		{map[string]string{SecretEnv: testSecret, AllowEnv: "/vol/../etc"}, "absolute, clean"},
		{map[string]string{SecretEnv: testSecret, AllowEnv: "/"}, "whole file system"},
		{map[string]string{SecretEnv: testSecret, AllowEnv: "/vol:/proc"}, "/proc is never served"},
		{map[string]string{SecretEnv: testSecret, AllowEnv: "/proc/1"}, "/proc is never served"},
		{map[string]string{SecretEnv: testSecret, AllowEnv: "/sys/fs"}, "/sys is never served"},
		{map[string]string{SecretEnv: testSecret, AllowEnv: "/dev"}, "/dev is never served"},
	} {
		_, err := ConfigFromEnv(func(k string) string { return tc.env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ConfigFromEnv(%v) = %v, want an error containing %q", tc.env, err, tc.want)
		}
	}
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{SecretEnv: testSecret, AllowEnv: "/var/run/secrets/tokens::/etc/projected"}[k]
	})
	if err != nil || strings.Join(cfg.Allow, ",") != "/var/run/secrets/tokens,/etc/projected" || cfg.Secret != testSecret {
		t.Errorf("ConfigFromEnv = %+v, %v", cfg, err)
	}
	if _, err := NewHandler(Config{Allow: []string{"/vol"}}); err == nil {
		t.Error("NewHandler without a secret: no error")
	}
}
