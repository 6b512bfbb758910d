package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
)

// copyBuilderSources copies go.mod, go.sum and the directories of this
// module's packages the node-image builder is made of (as the go command
// lists them) into a new temporary module root.
func copyBuilderSources(t *testing.T, ctx context.Context) string {
	t.Helper()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := hostexec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}",
		"./scripts/nodeimage", "./scripts/nodeimage/pause", "./scripts/nodeimage/crictl")
	c.Dir = root
	out, err := c.Output(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	copyFile := func(src string) {
		rel, err := filepath.Rel(root, src)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, rel), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(filepath.Join(root, "go.mod"))
	copyFile(filepath.Join(root, "go.sum"))
	for _, dir := range readLines(out) {
		if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				copyFile(p)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// The image tag follows every file of every package of this module the
// builder links (framework/images, framework/hostexec, ...), the node tools
// and the embedded node files, and nothing else: not the checkout's place,
// not the tests.
func TestNodeTagFollowsEveryBuilderSource(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first, second := copyBuilderSources(t, ctx), copyBuilderSources(t, ctx)
	v := version{1, 37, 2}
	tagOf := func(root string) string {
		t.Helper()
		hash, err := (&builder{v: v, root: root}).inputHash(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return nodeTag(v, hash)
	}
	base := tagOf(first)
	if again := tagOf(second); again != base {
		t.Fatalf("two copies of the same sources give tags %s and %s", base, again)
	}
	for _, tc := range []struct {
		file    string
		changes bool
	}{
		{"framework/images/images.go", true},
		{"framework/images/tree.go", true},
		{"framework/hostexec/hostexec.go", true},
		{"framework/hostexec/lookpath.go", true},
		{"scripts/nodeimage/builder.go", true},
		{"scripts/nodeimage/crictl/main.go", true},
		{"scripts/nodeimage/pause/main.go", true},
		{"scripts/nodeimage/rootfs/etc/crictl.yaml", true},
		{"scripts/nodeimage/rootfs/usr/local/bin/entrypoint", true},
		{"framework/hostexec/hostexec_test.go", false},
		{"scripts/nodeimage/nodeimage_test.go", false},
	} {
		p := filepath.Join(first, tc.file)
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(orig) == 0 || orig[len(orig)-1] != '\n' {
			t.Fatalf("%s does not end in a newline", tc.file)
		}
		changed := append([]byte(nil), orig...)
		changed[len(changed)-1] = ' ' // one byte
		if err := os.WriteFile(p, changed, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := tagOf(first); (got != base) != tc.changes {
			t.Errorf("one byte changed in %s: tag %s, before %s; want a new tag: %v", tc.file, got, base, tc.changes)
		}
		if err := os.WriteFile(p, orig, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := tagOf(first); got != base {
		t.Errorf("restored sources give tag %s, want %s", got, base)
	}
}

// The builder's packages include the framework packages it links, with
// their files, and no standard-library package.
func TestBuilderPackages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := builderPackages(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	const mod = "github.com/kube-identity-conformance/kube-identity-conformance/"
	byPath := map[string]goPackage{}
	for _, p := range pkgs {
		if p.Standard || !strings.Contains(p.ImportPath, ".") {
			t.Errorf("standard-library package %s listed", p.ImportPath)
		}
		byPath[p.ImportPath] = p
	}
	for path, file := range map[string]string{
		mod + "framework/images":             "tree.go",
		mod + "framework/hostexec":           "lookpath.go",
		mod + "scripts/nodeimage":            "rootfs/etc/crictl.yaml",
		mod + "scripts/nodeimage/crictl":     "main.go",
		"k8s.io/cri-api/pkg/apis/runtime/v1": "",
	} {
		p, ok := byPath[path]
		if !ok {
			t.Errorf("package %s not listed", path)
			continue
		}
		if file == "" {
			if p.hashedByContent() || p.Module.Version == "" {
				t.Errorf("%s: want it named by module version, got module %+v", path, p.Module)
			}
			continue
		}
		if !p.hashedByContent() {
			t.Errorf("%s is not hashed by content", path)
		}
		found := false
		for _, f := range p.sourceFiles() {
			found = found || f == file
			if strings.HasSuffix(f, "_test.go") {
				t.Errorf("%s: test file %s hashed", path, f)
			}
		}
		if !found {
			t.Errorf("%s: %s not among its files %v", path, file, p.sourceFiles())
		}
	}
}

// External modules count by version (and replacement), go.mod by the
// directives that change compilation; a module replaced by a directory is
// hashed by content.
func TestHashInputsModulesAndDirectives(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	parse := func(s string) *modfile.File {
		f, err := modfile.Parse("go.mod", []byte(s), nil)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	const goMod = "module example.com/m\n\ngo 1.26.8\n\nrequire example.com/ext v1.0.0\n"
	pkgs := func(extVersion string, local *goModule) []goPackage {
		return []goPackage{
			{ImportPath: "example.com/m/a", Dir: dir, GoFiles: []string{"a.go"}, Module: &goModule{Path: "example.com/m", Main: true}},
			{ImportPath: "example.com/ext/b", Dir: "/nonexistent", GoFiles: []string{"b.go"}, Module: &goModule{Path: "example.com/ext", Version: extVersion, Sum: "h1:x", Replace: local}},
		}
	}
	hash := func(mf *modfile.File, p []goPackage) string {
		t.Helper()
		h, err := hashInputs(version{1, 37, 2}, "go1.26.8", mf, p)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	base := hash(parse(goMod), pkgs("v1.0.0", nil))
	if hash(parse(goMod), pkgs("v1.0.0", nil)) != base {
		t.Fatal("the same inputs give another hash")
	}
	for name, h := range map[string]string{
		"external module version": hash(parse(goMod), pkgs("v1.0.1", nil)),
		"replacement":             hash(parse(goMod), pkgs("v1.0.0", &goModule{Path: "example.com/fork", Version: "v1.0.0"})),
		"go directive":            hash(parse(strings.Replace(goMod, "go 1.26.8", "go 1.26.0", 1)), pkgs("v1.0.0", nil)),
		"godebug":                 hash(parse(goMod+"godebug x509negativeserial=1\n"), pkgs("v1.0.0", nil)),
	} {
		if h == base {
			t.Errorf("a change of the %s keeps the hash", name)
		}
	}
	if h := hash(parse(goMod+"require example.com/unrelated v1.2.3\n"), pkgs("v1.0.0", nil)); h != base {
		t.Errorf("a requirement no builder package is in changed the hash")
	}
	// Replaced by a directory: its files count, and a missing one is an error.
	if _, err := hashInputs(version{1, 37, 2}, "go1.26.8", parse(goMod), pkgs("v1.0.0", &goModule{Path: "../ext"})); err == nil || !strings.Contains(err.Error(), "example.com/ext/b") {
		t.Errorf("a directory-replaced module's unreadable file: error %v", err)
	}
}
