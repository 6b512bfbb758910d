package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
)

// programDir is this program's package, relative to the module root; the node
// tools (nodeTools) are packages below it, built into the image.
const programDir = "./scripts/nodeimage"

var nodeTools = []string{"pause", "crictl"}

// builderPatterns are the packages whose dependencies make up the recipe:
// this program and the node tools it builds into the image.
func builderPatterns() []string {
	out := []string{programDir}
	for _, t := range nodeTools {
		out = append(out, programDir+"/"+t)
	}
	return out
}

// goPackage is the part of `go list -json` the input hash reads.
type goPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	Module     *goModule

	GoFiles, CgoFiles, CFiles, CXXFiles, MFiles, HFiles, FFiles, SFiles []string
	SwigFiles, SwigCXXFiles, SysoFiles, EmbedFiles                      []string

	Error      *struct{ Err string }
	DepsErrors []*struct{ Err string }
}

type goModule struct {
	Path, Version, Sum string
	Main               bool
	Replace            *goModule
}

// sourceFiles are the package's files the compiler reads (tests excluded),
// relative to its directory.
func (p goPackage) sourceFiles() []string {
	var out []string
	for _, l := range [][]string{p.GoFiles, p.CgoFiles, p.CFiles, p.CXXFiles, p.MFiles, p.HFiles, p.FFiles, p.SFiles,
		p.SwigFiles, p.SwigCXXFiles, p.SysoFiles, p.EmbedFiles} {
		out = append(out, l...)
	}
	sort.Strings(out)
	return out
}

// hashedByContent reports whether the package's files are hashed byte by byte:
// packages of this module (and of a module replaced by a directory), which no
// version names. Other modules are named by path, version and go.sum hash: the
// go command verifies their content against go.sum.
func (p goPackage) hashedByContent() bool {
	m := p.Module
	return m == nil || m.Main || (m.Replace != nil && m.Replace.Version == "")
}

// builderPackages lists every non-standard-library package this program and
// the node tools are built from (`go list -deps`), with CGO_ENABLED=0 as the
// node tools are built.
func builderPackages(ctx context.Context, root string) ([]goPackage, error) {
	return listPackages(ctx, root, []string{"CGO_ENABLED=0"}, builderPatterns())
}

// listPackages lists the non-standard-library packages patterns are built
// from, in module dir with env.
func listPackages(ctx context.Context, dir string, env, patterns []string) ([]goPackage, error) {
	var stdout, stderr bytes.Buffer
	c := hostexec.Command("go", append([]string{"list", "-deps", "-json"}, patterns...)...)
	c.Dir, c.Env = dir, env
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(ctx); err != nil {
		return nil, fmt.Errorf("list the packages of %s: %w\n%s", strings.Join(patterns, " "), err, strings.TrimSpace(stderr.String()))
	}
	var pkgs []goPackage
	for dec := json.NewDecoder(&stdout); ; {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("read go list output: %w", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("package %s: %s", p.ImportPath, p.Error.Err)
		}
		if len(p.DepsErrors) > 0 {
			return nil, fmt.Errorf("package %s: %s", p.ImportPath, p.DepsErrors[0].Err)
		}
		if !p.Standard {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("go list names no package for %s in %s", strings.Join(patterns, " "), dir)
	}
	return pkgs, nil
}

// inputHash hashes every input of the image: the Kubernetes version, the Go
// toolchain, the go.mod directives that change how code compiles, and every
// non-standard-library package this program and the node tools are built from
// (files of this module's packages, including the embedded node files; other
// modules by path, version and go.sum hash).
func (b *builder) inputHash(ctx context.Context) (string, error) {
	goVersion, err := hostexec.Command("go", "env", "GOVERSION").Output(ctx)
	if err != nil {
		return "", fmt.Errorf("go version: %w", err)
	}
	goMod := filepath.Join(b.root, "go.mod")
	data, err := os.ReadFile(goMod)
	if err != nil {
		return "", fmt.Errorf("hash the recipe: %w", err)
	}
	mf, err := modfile.Parse(goMod, data, nil)
	if err != nil {
		return "", fmt.Errorf("hash the recipe: %w", err)
	}
	pkgs, err := builderPackages(ctx, b.root)
	if err != nil {
		return "", fmt.Errorf("hash the recipe: %w", err)
	}
	return hashInputs(b.v, goVersion, mf, pkgs)
}

// hashInputs is inputHash once its inputs are gathered. Names in the hash are
// import paths, never host paths, so that every checkout gives the same hash.
func hashInputs(v version, goVersion string, mf *modfile.File, pkgs []goPackage) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "kubernetes %s\ngo %s\n", v, goVersion)
	if mf.Go != nil {
		fmt.Fprintf(h, "go.mod go %s\n", mf.Go.Version)
	}
	if mf.Toolchain != nil {
		fmt.Fprintf(h, "go.mod toolchain %s\n", mf.Toolchain.Name)
	}
	var godebug []string
	for _, g := range mf.Godebug {
		godebug = append(godebug, g.Key+"="+g.Value)
	}
	sort.Strings(godebug)
	for _, g := range godebug {
		fmt.Fprintf(h, "go.mod godebug %s\n", g)
	}

	if err := hashPackages(h, pkgs); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashPackages writes packages into h: the files of those hashed by content,
// the module version and go.sum hash of the others.
func hashPackages(h io.Writer, pkgs []goPackage) error {
	sorted := append([]goPackage(nil), pkgs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ImportPath < sorted[j].ImportPath })
	for i, p := range sorted {
		if i > 0 && p.ImportPath == sorted[i-1].ImportPath {
			return fmt.Errorf("hash the inputs: package %s listed twice", p.ImportPath)
		}
		if !p.hashedByContent() {
			m := p.Module
			if m.Replace != nil {
				m = m.Replace
			}
			fmt.Fprintf(h, "package %s module %s@%s %s\n", p.ImportPath, m.Path, m.Version, m.Sum)
			continue
		}
		files := p.sourceFiles()
		fmt.Fprintf(h, "package %s files %d\n", p.ImportPath, len(files))
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				return fmt.Errorf("hash the inputs: package %s: %w", p.ImportPath, err)
			}
			fmt.Fprintf(h, "file %s %d\n", path.Join(p.ImportPath, filepath.ToSlash(f)), len(data))
			h.Write(data)
		}
	}
	return nil
}
