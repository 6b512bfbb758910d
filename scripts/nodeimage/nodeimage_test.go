package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{"v1.37.2": "v1.37.2", "1.36.3": "v1.36.3", "v1.34.0": "v1.34.0"} {
		v, err := parseVersion(in)
		if err != nil || v.String() != want {
			t.Errorf("parseVersion(%q) = %v, %v; want %s", in, v, err, want)
		}
	}
	if v, _ := parseVersion("v1.37.2"); v.staging() != "v0.37.2" {
		t.Errorf("staging version %s, want v0.37.2", v.staging())
	}
	for in, want := range map[string]string{"v1.33.7": "builds v1.34.x to v1.37.x", "v1.38.0": "builds v1.34.x", "1.37": "not of the form", "latest": "not of the form"} {
		if _, err := parseVersion(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseVersion(%q) error %v, want it to say %q", in, err, want)
		}
	}
}

// A merged-/usr tree: /lib -> usr/lib, a library reached through a symlink.
func TestResolveAllFollowsDirectoryAndFileLinks(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "usr/lib/x86_64-linux-gnu"), 0o755))
	must(os.Symlink("usr/lib", filepath.Join(root, "lib")))
	must(os.WriteFile(filepath.Join(root, "usr/lib/x86_64-linux-gnu/libm.so.6.1"), nil, 0o644))
	must(os.Symlink("libm.so.6.1", filepath.Join(root, "usr/lib/x86_64-linux-gnu/libm.so.6")))
	must(os.Symlink("loop", filepath.Join(root, "loop")))
	if got := resolveAll(root, "/lib/x86_64-linux-gnu/libm.so.6"); got != "/usr/lib/x86_64-linux-gnu/libm.so.6.1" {
		t.Errorf("resolveAll = %s", got)
	}
	if got := resolveDirLinks(root, "/lib/x86_64-linux-gnu/libm.so.6"); got != "/usr/lib/x86_64-linux-gnu/libm.so.6" {
		t.Errorf("resolveDirLinks = %s", got)
	}
	if got := resolveAll(root, "/loop"); got != "/loop" {
		t.Errorf("a symlink loop must end, got %s", got)
	}
}

// The host's own dynamically linked binaries need libc and the loader.
func TestSharedLibrariesOfAHostBinary(t *testing.T) {
	bin := "/usr/bin/ls"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no /usr/bin/ls on this host")
	}
	libs, err := sharedLibraries("/", []string{bin})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(libs, " ")
	for _, want := range []string{"libc.so.6", "ld-linux"} {
		if !strings.Contains(joined, want) {
			t.Errorf("libraries of %s %v lack %s", bin, libs, want)
		}
	}
}
