package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeGeneration does what the kubelet's atomic writer does: a new
// ..<timestamp> directory, ..data renamed to point at it, the old one removed.
func writeGeneration(t *testing.T, dir, gen, content, old string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, gen), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, gen, "token"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(gen, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "token")); err != nil {
		if err := os.Symlink("..data/token", filepath.Join(dir, "token")); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWatchRecordsEachGenerationOnce(t *testing.T) {
	dir := t.TempDir()
	writeGeneration(t, dir, "..2026_01_01_00_00_00.1", "first.token.sig", "")
	srv := httptest.NewServer(testHandler(t, "/nonexistent", dir))
	defer srv.Close()
	path := filepath.Join(dir, "token")

	if status, body := call(t, srv, http.MethodPost, "/watch?path="+path+"&interval=50ms&content=true", testSecret); status != http.StatusOK {
		t.Fatalf("start watch: %d %s", status, body)
	}
	time.Sleep(200 * time.Millisecond)
	writeGeneration(t, dir, "..2026_01_01_00_08_00.2", "second.token.sig", "..2026_01_01_00_00_00.1")
	time.Sleep(200 * time.Millisecond)

	status, body := call(t, srv, http.MethodGet, "/watch?path="+path, testSecret)
	if status != http.StatusOK {
		t.Fatalf("GET /watch: %d %s", status, body)
	}
	var w Watch
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		t.Fatal(err)
	}
	if len(w.Generations) != 2 {
		t.Fatalf("generations %+v, want 2", w.Generations)
	}
	for i, want := range []struct{ dir, content string }{{"..2026_01_01_00_00_00.1", "first.token.sig"}, {"..2026_01_01_00_08_00.2", "second.token.sig"}} {
		g := w.Generations[i]
		if g.Dir != want.dir || string(g.Content) != want.content || g.Reads < 1 {
			t.Errorf("generation %d = dir %q content %q reads %d, want %q %q", i, g.Dir, g.Content, g.Reads, want.dir, want.content)
		}
	}
	if w.Errors != 0 || w.Empty != 0 || w.Reads < 4 {
		t.Errorf("reads %d, errors %d (%v), empty %d", w.Reads, w.Errors, w.FirstErrors, w.Empty)
	}
}

func TestWatchRefusesRelativePathsAndUnknownWatches(t *testing.T) {
	srv := httptest.NewServer(testHandler(t, "/nonexistent", "/x"))
	defer srv.Close()
	for _, tc := range []struct {
		method, target string
		status         int
	}{
		{http.MethodPost, "/watch?path=relative", http.StatusForbidden},
		{http.MethodPost, "/watch?path=/elsewhere", http.StatusForbidden},
		{http.MethodPost, "/watch?path=/x/../etc/passwd", http.StatusForbidden},
		{http.MethodPost, "/watch?path=/x&interval=1ms", http.StatusBadRequest},
		{http.MethodGet, "/watch?path=/never", http.StatusNotFound},
	} {
		if status, body := call(t, srv, tc.method, tc.target, testSecret); status != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.target, status, body, tc.status)
		}
	}
}
