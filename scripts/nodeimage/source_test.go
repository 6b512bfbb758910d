package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kubeGoMod is the part of kubernetes' go.mod detection reads.
const kubeGoMod = `module k8s.io/kubernetes

go 1.25.0

require k8s.io/api v0.0.0

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
)
`

// fakeTree writes a tree: an unpacked module, or a checkout when staging.
func fakeTree(t *testing.T, goMod string, staging ...string) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "go.mod"), goMod)
	for _, m := range staging {
		write(t, filepath.Join(dir, "staging/src", m, "go.mod"), "module "+m+"\n")
	}
	return dir
}

func write(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDetectSourceUnpackedModule(t *testing.T) {
	dir := fakeTree(t, kubeGoMod)
	write(t, filepath.Join(dir, sourceMarker), "# unpacked\nversion v1.37.2\n")
	tree, err := detectSource(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if tree.Checkout || tree.Version != "v1.37.2" || tree.VersionFrom != sourceMarker || tree.Base.String() != "v1.37.2" ||
		tree.Commit != zeroCommit || tree.TreeState != "clean" || strings.Join(tree.Staging, ",") != "k8s.io/api,k8s.io/client-go" {
		t.Errorf("detected %+v, want an unpacked v1.37.2 module with two staging modules", tree)
	}
	// The command line wins over the marker.
	if tree, err := detectSource(context.Background(), dir, "v1.37.3"); err != nil || tree.Version != "v1.37.3" || tree.VersionFrom != "--kubernetes-version" {
		t.Errorf("with an override: %+v, %v; want v1.37.3 from --kubernetes-version", tree, err)
	}
}

func TestDetectSourceCheckout(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := fakeTree(t, kubeGoMod, "k8s.io/api", "k8s.io/client-go")
	git := func(args ...string) {
		t.Helper()
		c := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "one")
	git("tag", "v1.37.2")
	tree, err := detectSource(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if !tree.Checkout || tree.Version != "v1.37.2" || tree.VersionFrom != "git describe" || tree.TreeState != "clean" || len(tree.Commit) != 40 || tree.Commit == zeroCommit {
		t.Errorf("detected %+v, want a clean checkout at tag v1.37.2", tree)
	}
	write(t, filepath.Join(dir, "pkg.go"), "package kubernetes\n")
	git("add", "pkg.go")
	git("commit", "-q", "-m", "two")
	write(t, filepath.Join(dir, "pkg.go"), "package kubernetes // changed\n")
	tree, err = detectSource(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1.37.2-1+" + tree.Commit[:14] + "-dirty"; tree.Version != want || tree.TreeState != "dirty" || tree.Base.String() != "v1.37.2" {
		t.Errorf("detected version %s (%s), base %s; want %s, dirty, base v1.37.2", tree.Version, tree.TreeState, tree.Base, want)
	}
}

func TestDetectSourceRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, goMod string
		staging     []string
		marker      string
		want        string
	}{
		{"another module", "module example.com/x\n", nil, "", `declares module "example.com/x", want k8s.io/kubernetes`},
		{"no staging replaces", "module k8s.io/kubernetes\n", nil, "version v1.37.2\n", "replaces no k8s.io/* module"},
		{"part of staging", kubeGoMod, []string{"k8s.io/api"}, "version v1.37.2\n", "k8s.io/client-go missing"},
		{"no version", kubeGoMod, nil, "", "pass KUBERNETES_VERSION"},
		{"a bad marker", kubeGoMod, nil, "v1.37.2\n", `no "version vX.Y.Z" line`},
		{"a pre-release", kubeGoMod, nil, "version v1.38.0-alpha.1\n", "is a pre-release"},
		{"a minor the recipe does not build", kubeGoMod, nil, "version v1.33.9\n", "builds v1.34.x to v1.37.x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := fakeTree(t, tc.goMod, tc.staging...)
			if tc.marker != "" {
				write(t, filepath.Join(dir, sourceMarker), tc.marker)
			}
			if _, err := detectSource(context.Background(), dir, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
	if _, err := detectSource(context.Background(), filepath.Join(t.TempDir(), "missing"), ""); err == nil || !strings.Contains(err.Error(), "is not a Kubernetes tree") {
		t.Errorf("a missing directory: error %v", err)
	}
}

func TestKubeGitVersion(t *testing.T) {
	for _, tc := range []struct {
		describe string
		dirty    bool
		want     string
	}{
		{"v1.37.2", false, "v1.37.2"},
		{"v1.37.2", true, "v1.37.2-dirty"},
		{"v1.37.2-5-g0123456789abcd", false, "v1.37.2-5+0123456789abcd"},
		{"v1.38.0-alpha.1-12-g0123456789abcd", true, "v1.38.0-alpha.1.12+0123456789abcd-dirty"},
	} {
		if got := kubeGitVersion(tc.describe, tc.dirty); got != tc.want {
			t.Errorf("kubeGitVersion(%q, %v) = %q, want %q", tc.describe, tc.dirty, got, tc.want)
		}
	}
}

func TestSourceTagNeverShadowsARelease(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	for v, want := range map[string]string{
		"v1.37.2":                        "kic.local/node:v1.37.2-src-abababababab",
		"v1.37.2-5+0123456789abcd-dirty": "kic.local/node:v1.37.2-5_0123456789abcd-dirty-src-abababababab",
	} {
		if got := sourceTag(v, hash); got != want {
			t.Errorf("sourceTag(%s) = %s, want %s", v, got, want)
		}
	}
	if a, b := sourceDir("/w", "/src/a"), sourceDir("/w", "/src/b"); a == b || a != sourceDir("/w", "/src/a") {
		t.Errorf("build directories %s and %s: want one stable directory per tree", a, b)
	}
}

func TestUnpackRefusesANonEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "x"), "")
	if err := unpack(context.Background(), version{1, 37, 2}, dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("error %v, want it to refuse a non-empty directory", err)
	}
}
