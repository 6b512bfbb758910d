package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tree is a temporary directory laid out like the volumes the probe reports
// on, with a mountinfo file that marks the projected volume read-only.
type tree struct {
	root, vol, mountInfo string
}

// The timestamped directory, as the kubelet's atomic writer names it.
const tsDir = "..2026_01_01_00_00_00.123"

func newTree(t *testing.T) *tree {
	t.Helper()
	root := t.TempDir()
	// A space in the volume path exercises the \040 escape of mountinfo.
	vol := filepath.Join(root, "projected vol")

	mkdir := func(p string, mode fs.FileMode) {
		t.Helper()
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // not subject to umask
			t.Fatal(err)
		}
	}
	write := func(p string, data []byte, mode fs.FileMode) {
		t.Helper()
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	symlink := func(target, p string) {
		t.Helper()
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}

	write(filepath.Join(root, "plain"), []byte("hello\n"), 0o640)
	write(filepath.Join(root, "big"), bytes.Repeat([]byte("x"), ContentLimit+10), 0o644)

	mkdir(filepath.Join(root, "dir"), 0o750)
	write(filepath.Join(root, "dir", "a"), []byte("a"), 0o600)
	mkdir(filepath.Join(root, "dir", "sub"), 0o700)
	symlink("a", filepath.Join(root, "dir", "ln"))
	symlink("missing", filepath.Join(root, "dangling"))
	mkdir(filepath.Join(root, "sticky"), fs.ModeSticky|0o777)

	// kubelet atomic writer layout:
	//   ..2026_01_01_00_00_00.123/token, ..data -> ..2026_..., token -> ..data/token
	mkdir(vol, 0o755)
	mkdir(filepath.Join(vol, tsDir), 0o755)
	write(filepath.Join(vol, tsDir, "token"), []byte("header.payload.sig"), 0o600)
	symlink(tsDir, filepath.Join(vol, "..data"))
	symlink("..data/token", filepath.Join(vol, "token"))

	mountInfo := filepath.Join(root, "mountinfo")
	escaped := strings.ReplaceAll(vol, " ", `\040`)
	write(mountInfo, []byte(strings.Join([]string{
		"21 1 0:20 / / rw,relatime shared:1 - overlay overlay rw,lowerdir=/l",
		"22 21 0:21 / " + root + " rw,nosuid shared:2 master:3 - tmpfs tmpfs rw",
		"23 22 0:22 / " + escaped + " ro,relatime - tmpfs tmpfs rw,size=1024k",
	}, "\n")+"\n"), 0o644)

	return &tree{root: root, vol: vol, mountInfo: mountInfo}
}

// testSecret is the run's secret in these tests.
const testSecret = "0123456789abcdef-test-secret"

// testHandler is the handler with testSecret, allowing allow.
func testHandler(t *testing.T, mountInfo string, allow ...string) http.Handler {
	t.Helper()
	h, err := newHandler(Config{Secret: testSecret, Allow: allow}, mountInfo)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// call makes one request with the secret header set to secret (none when
// empty) and returns the status and body.
func call(t *testing.T, srv *httptest.Server, method, target, secret string) (int, string) {
	t.Helper()
	resp, body := send(t, srv, method, target, secret)
	return resp.StatusCode, body
}

// send is call returning the whole response (its body already read).
func send(t *testing.T, srv *httptest.Server, method, target, secret string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		req.Header.Set(SecretHeader, secret)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// getReport asks for paths with their content.
func getReport(t *testing.T, h http.Handler, paths ...string) *Report {
	t.Helper()
	return getReportQuery(t, h, url.Values{"path": paths, "content": {"true"}})
}

func getReportQuery(t *testing.T, h http.Handler, q url.Values) *Report {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, body := send(t, srv, http.MethodGet, "/files?"+q.Encode(), testSecret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /files: %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var r Report
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("decoding report: %v\n%s", err, body)
	}
	return &r
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestFiles(t *testing.T) {
	tr := newTree(t)
	t.Setenv("POD_NAME", "probe-pod")
	t.Setenv("POD_NAMESPACE", "probe-ns")
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())

	paths := []string{
		filepath.Join(tr.root, "plain"),
		filepath.Join(tr.root, "dir"),
		filepath.Join(tr.vol, "token"),
		filepath.Join(tr.vol, "..data"),
		filepath.Join(tr.root, "missing"),
		filepath.Join(tr.root, "dangling"),
		filepath.Join(tr.root, "sticky"),
		filepath.Join(tr.root, "big"),
	}
	r := getReport(t, testHandler(t, tr.mountInfo, tr.root), paths...)

	if r.Pod != "probe-pod" || r.Namespace != "probe-ns" {
		t.Errorf("Pod, Namespace = %q, %q; want probe-pod, probe-ns", r.Pod, r.Namespace)
	}
	if r.Time.IsZero() {
		t.Error("Time is zero")
	}
	if len(r.Files) != len(paths) {
		t.Fatalf("got %d files, want %d", len(r.Files), len(paths))
	}

	token := []byte("header.payload.sig")
	big := r.Files[7]
	if len(big.Content) != ContentLimit {
		t.Errorf("big: len(Content) = %d, want %d", len(big.Content), ContentLimit)
	}
	big.Content = nil

	want := []FileReport{{
		Path:       paths[0],
		Exists:     true,
		Mode:       "0640",
		UID:        uid,
		GID:        gid,
		Size:       6,
		Content:    []byte("hello\n"),
		SHA256:     sum([]byte("hello\n")),
		MountPoint: tr.root,
	}, {
		Path:       paths[1],
		Exists:     true,
		IsDir:      true,
		Mode:       "0750",
		UID:        uid,
		GID:        gid,
		Size:       r.Files[1].Size, // directory sizes depend on the filesystem
		MountPoint: tr.root,
		Entries: []DirEntry{
			{Name: "a", Mode: "0600", UID: uid, GID: gid},
			{Name: "ln", Mode: "0777", UID: uid, GID: gid, IsSymlink: true, SymlinkTarget: "a"},
			{Name: "sub", Mode: "0700", UID: uid, GID: gid, IsDir: true},
		},
	}, {
		Path:          paths[2],
		Exists:        true,
		IsSymlink:     true,
		SymlinkTarget: "..data/token",
		Mode:          "0600",
		LinkMode:      "0777",
		UID:           uid,
		GID:           gid,
		LinkUID:       uid,
		LinkGID:       gid,
		Size:          int64(len(token)),
		Content:       token,
		SHA256:        sum(token),
		MountPoint:    tr.vol,
		ReadOnlyMount: true,
	}, {
		Path:          paths[3],
		Exists:        true,
		IsDir:         true,
		IsSymlink:     true,
		SymlinkTarget: tsDir,
		Mode:          "0755",
		LinkMode:      "0777",
		UID:           uid,
		GID:           gid,
		LinkUID:       uid,
		LinkGID:       gid,
		Size:          r.Files[3].Size,
		MountPoint:    tr.vol,
		ReadOnlyMount: true,
		Entries: []DirEntry{
			{Name: "token", Mode: "0600", UID: uid, GID: gid},
		},
	}, {
		Path: paths[4],
	}, {
		Path:          paths[5],
		IsSymlink:     true,
		SymlinkTarget: "missing",
		LinkMode:      "0777",
		LinkUID:       uid,
		LinkGID:       gid,
		MountPoint:    tr.root,
	}, {
		Path:       paths[6],
		Exists:     true,
		IsDir:      true,
		Mode:       "01777",
		UID:        uid,
		GID:        gid,
		Size:       r.Files[6].Size,
		MountPoint: tr.root,
		Entries:    []DirEntry{},
	}, {
		Path:       paths[7],
		Exists:     true,
		Mode:       "0644",
		UID:        uid,
		GID:        gid,
		Size:       ContentLimit + 10,
		Truncated:  true,
		SHA256:     sum(bytes.Repeat([]byte("x"), ContentLimit+10)),
		MountPoint: tr.root,
	}}
	// An empty directory's Entries do not survive the JSON round trip.
	want[6].Entries = nil

	// The token is read from the atomic writer's generation directory, and
	// the report says so (one open: the descriptor's own path).
	for _, f := range r.Files {
		if strings.HasSuffix(f.Path, "/token") && f.Generation != "..2026_01_01_00_00_00.123" {
			t.Errorf("token generation %q, want ..2026_01_01_00_00_00.123 (resolved %q)", f.Generation, f.Resolved)
		}
	}
	for i := range want {
		got := r.Files[i]
		if i == 7 {
			got = big
		}
		if got.Exists && (got.Inode == 0 || got.MTime.IsZero()) {
			t.Errorf("file %s: inode %d, mtime %v: both come from the opened descriptor", got.Path, got.Inode, got.MTime)
		}
		// Machine-dependent facts, checked above.
		got.Inode, got.MTime, got.Resolved, got.Generation = 0, time.Time{}, "", ""
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("file %s:\n got %s\nwant %s", want[i].Path, dump(got), dump(want[i]))
		}
	}
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestReportFile(t *testing.T) {
	r := &Report{Pod: "p", Namespace: "ns", Files: []FileReport{{Path: "/a", Exists: true}, {Path: "/b"}}}
	f, err := r.File("/b")
	if err != nil || f.Path != "/b" || f.Exists {
		t.Errorf("File(/b) = %+v, %v", f, err)
	}
	if _, err := r.File("/c"); err == nil || !strings.Contains(err.Error(), `"/c"`) || !strings.Contains(err.Error(), "ns/p") {
		t.Errorf("File(/c) error = %v, want one naming the path and the pod", err)
	}
}

func TestHealthzAndBadRequest(t *testing.T) {
	srv := httptest.NewServer(testHandler(t, "/nonexistent", "/vol"))
	defer srv.Close()
	for _, tc := range []struct {
		path, method string
		status       int
		body         string
	}{
		{"/healthz", http.MethodGet, http.StatusOK, "ok"},
		{"/files", http.MethodGet, http.StatusBadRequest, "no path parameter"},
		{"/files?path=/vol&content=yes", http.MethodGet, http.StatusBadRequest, "want true or false"},
		{"/files?path=/", http.MethodPost, http.StatusMethodNotAllowed, ""},
		{"/other", http.MethodGet, http.StatusNotFound, ""},
	} {
		status, body := call(t, srv, tc.method, tc.path, testSecret)
		if status != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, status, body, tc.status, tc.body)
		}
	}
}

func TestMissingMountInfo(t *testing.T) {
	tr := newTree(t)
	r := getReport(t, testHandler(t, filepath.Join(tr.root, "no-mountinfo"), tr.root), filepath.Join(tr.root, "plain"))
	f := r.Files[0]
	if !f.Exists || f.Mode != "0640" || !strings.Contains(f.Error, "reading mounts") || f.MountPoint != "" {
		t.Errorf("got %s, want the file described and a mount error", dump(f))
	}
}

func TestFormatMode(t *testing.T) {
	for _, tc := range []struct {
		mode fs.FileMode
		want string
	}{
		{0o644, "0644"},
		{0o600, "0600"},
		{0o7, "0007"},
		{fs.ModeDir | 0o755, "0755"},
		{fs.ModeDir | fs.ModeSticky | 0o777, "01777"},
		{fs.ModeDir | fs.ModeSetgid | 0o755, "02755"},
		{fs.ModeSetuid | 0o755, "04755"},
		{fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | 0o777, "07777"},
		{fs.ModeSymlink | 0o777, "0777"},
	} {
		if got := formatMode(tc.mode); got != tc.want {
			t.Errorf("formatMode(%v) = %q, want %q", tc.mode, got, tc.want)
		}
	}
}

func ExampleReport_File() {
	r := &Report{Pod: "sa-token-test", Files: []FileReport{{Path: "/service-account/token", Exists: true, Mode: "0644"}}}
	f, err := r.File("/service-account/token")
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Exists, f.Mode)
	// Output: true 0644
}
