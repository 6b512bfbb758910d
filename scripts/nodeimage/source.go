package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
)

// sourceTree is a local Kubernetes tree the binaries of a node image come
// from: a git checkout of kubernetes/kubernetes, or an unpacked
// k8s.io/kubernetes module (which has no staging/ directory: the module zip
// leaves out nested modules).
type sourceTree struct {
	// Dir is the tree's absolute path.
	Dir string
	// Checkout: the tree holds the staging modules (staging/src/k8s.io/...),
	// which replace the published k8s.io/* modules in the build.
	Checkout bool
	// Staging are the staging modules kubernetes' go.mod replaces by a
	// directory (k8s.io/api, k8s.io/client-go, ...).
	Staging []string
	// Version is what the binaries report (kubeadm version, the node's
	// kubelet version) and what kind hands kubeadm: the tree's own.
	Version string
	// VersionFrom says how Version was found.
	VersionFrom string
	// Commit and TreeState are stamped like Kubernetes' own build does
	// (gitCommit, gitTreeState): zeros and "clean" for an unpacked module.
	Commit, TreeState string
	// Base is the release the tree's version starts with: the published node
	// image the source image is built on, and, for an unpacked module, the
	// version of the published staging modules.
	Base version
}

// sourceMarker is the file `nodeimage unpack` writes into a tree it unpacks,
// naming the version it came from (an unpacked module says it nowhere else).
const sourceMarker = ".kic-source"

var zeroCommit = strings.Repeat("0", 40)

// detectSource reads what a tree is and which version it is. A version given
// on the command line (override) wins; otherwise the tree's marker file, then
// `git describe` of a checkout.
func detectSource(ctx context.Context, dir, override string) (sourceTree, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return sourceTree{}, fmt.Errorf("kubernetes source %s: %w", dir, err)
	}
	t := sourceTree{Dir: abs, Commit: zeroCommit, TreeState: "clean"}
	goMod := filepath.Join(abs, "go.mod")
	data, err := os.ReadFile(goMod)
	if err != nil {
		return t, fmt.Errorf("kubernetes source %s is not a Kubernetes tree: %w", abs, err)
	}
	mf, err := modfile.Parse(goMod, data, nil)
	if err != nil {
		return t, fmt.Errorf("kubernetes source %s: %w", abs, err)
	}
	if mf.Module == nil || mf.Module.Mod.Path != "k8s.io/kubernetes" {
		return t, fmt.Errorf("kubernetes source %s is not a Kubernetes tree: its go.mod declares module %q, want k8s.io/kubernetes", abs, modulePath(mf))
	}
	var present, missing []string
	for _, r := range mf.Replace {
		if !modfile.IsDirectoryPath(r.New.Path) || !strings.HasPrefix(r.Old.Path, "k8s.io/") {
			continue
		}
		t.Staging = append(t.Staging, r.Old.Path)
		if _, err := os.Stat(filepath.Join(abs, r.New.Path, "go.mod")); err == nil {
			present = append(present, r.Old.Path)
		} else {
			missing = append(missing, r.Old.Path)
		}
	}
	switch {
	case len(t.Staging) == 0:
		return t, fmt.Errorf("kubernetes source %s: its go.mod replaces no k8s.io/* module by a staging directory, unlike every Kubernetes release", abs)
	case len(missing) == 0:
		t.Checkout = true
	case len(present) > 0:
		return t, fmt.Errorf("kubernetes source %s has only part of its staging modules (%s missing): a checkout needs all of staging/, an unpacked module none", abs, strings.Join(missing, ", "))
	}

	switch {
	case override != "":
		t.Version, t.VersionFrom = override, "--kubernetes-version"
	default:
		v, from, err := treeVersion(ctx, abs)
		if err != nil {
			return t, err
		}
		t.Version, t.VersionFrom = v, from
	}
	if t.VersionFrom == "git describe" || (override != "" && isGitTree(ctx, abs)) {
		commit, state, err := gitState(ctx, abs)
		if err != nil {
			return t, err
		}
		t.Commit, t.TreeState = commit, state
	}
	base, err := baseRelease(t.Version)
	if err != nil {
		return t, fmt.Errorf("kubernetes source %s (version %s from %s): %w", abs, t.Version, t.VersionFrom, err)
	}
	t.Base = base
	return t, nil
}

func modulePath(mf *modfile.File) string {
	if mf.Module == nil {
		return ""
	}
	return mf.Module.Mod.Path
}

// treeVersion finds the tree's version without a command-line override.
func treeVersion(ctx context.Context, dir string) (v, from string, err error) {
	if data, err := os.ReadFile(filepath.Join(dir, sourceMarker)); err == nil {
		v, err := readMarker(data)
		if err != nil {
			return "", "", fmt.Errorf("kubernetes source %s: %s: %w", dir, sourceMarker, err)
		}
		return v, sourceMarker, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("kubernetes source %s: %w", dir, err)
	}
	if isGitTree(ctx, dir) {
		out, err := hostexec.Command("git", "-C", dir, "describe", "--tags", "--match", "v[0-9]*", "--abbrev=14").Output(ctx)
		if err != nil {
			return "", "", fmt.Errorf("kubernetes source %s: git describe finds no v* tag (fetch the tags, or pass --kubernetes-version): %w", dir, err)
		}
		_, state, err := gitState(ctx, dir)
		if err != nil {
			return "", "", err
		}
		return kubeGitVersion(strings.TrimSpace(out), state == "dirty"), "git describe", nil
	}
	return "", "", fmt.Errorf("cannot tell the Kubernetes version of %s: it is no git checkout and has no %s file (unpack a release with `go run ./scripts/nodeimage unpack`), so pass KUBERNETES_VERSION=v1.MINOR.PATCH (--kubernetes-version)", dir, sourceMarker)
}

// readMarker reads the "version vX.Y.Z" line of a marker file.
func readMarker(data []byte) (string, error) {
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "version" {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("no \"version vX.Y.Z\" line")
}

func isGitTree(ctx context.Context, dir string) bool {
	if !hostexec.Available("git") {
		return false
	}
	out, err := hostexec.Command("git", "-C", dir, "rev-parse", "--show-toplevel").Output(ctx)
	if err != nil {
		return false
	}
	top, err := filepath.EvalSymlinks(strings.TrimSpace(out))
	if err != nil {
		return false
	}
	here, err := filepath.EvalSymlinks(dir)
	return err == nil && top == here
}

// gitState is the checkout's commit and whether files differ from it.
func gitState(ctx context.Context, dir string) (commit, state string, err error) {
	commit, err = hostexec.Command("git", "-C", dir, "rev-parse", "HEAD").Output(ctx)
	if err != nil {
		return "", "", fmt.Errorf("kubernetes source %s: git rev-parse HEAD: %w", dir, err)
	}
	status, err := hostexec.Command("git", "-C", dir, "status", "--porcelain").Output(ctx)
	if err != nil {
		return "", "", fmt.Errorf("kubernetes source %s: git status: %w", dir, err)
	}
	state = "clean"
	if strings.TrimSpace(status) != "" {
		state = "dirty"
	}
	return strings.TrimSpace(commit), state, nil
}

var describeRE = regexp.MustCompile(`^(v\d+\.\d+\.\d+)(-[0-9A-Za-z.]+)?-(\d+)-g([0-9a-f]+)$`)

// kubeGitVersion turns `git describe` output into the version Kubernetes'
// own build stamps (hack/lib/version.sh): v1.37.2-5-gabc… is
// v1.37.2-5+abc…, v1.38.0-alpha.1-5-gabc… is v1.38.0-alpha.1.5+abc…, a
// tagged commit its tag; "-dirty" follows when files differ from the commit.
func kubeGitVersion(describe string, dirty bool) string {
	v := describe
	if m := describeRE.FindStringSubmatch(describe); m != nil {
		if m[2] != "" {
			v = m[1] + m[2] + "." + m[3] + "+" + m[4]
		} else {
			v = m[1] + "-" + m[3] + "+" + m[4]
		}
	}
	if dirty {
		v += "-dirty"
	}
	return v
}

var releasePrefixRE = regexp.MustCompile(`^v?(1\.\d+\.\d+)([-+][0-9A-Za-z.+_-]*)?$`)

// baseRelease is the release a tree version starts with (v1.37.2 for
// v1.37.2-5+abc-dirty). A pre-release of a minor (v1.38.0-alpha.1) has no
// published release of its own to start from; it is refused with the range.
func baseRelease(v string) (version, error) {
	m := releasePrefixRE.FindStringSubmatch(v)
	if m == nil {
		return version{}, fmt.Errorf("version %q is not a Kubernetes version (v1.MINOR.PATCH, optionally followed by -pre-release or +build)", v)
	}
	if strings.HasPrefix(m[2], "-alpha") || strings.HasPrefix(m[2], "-beta") || strings.HasPrefix(m[2], "-rc") {
		return version{}, fmt.Errorf("version %q is a pre-release: the source build starts from a published release's node image (v1.%d.x to v1.%d.x)", v, minMinor, maxMinor)
	}
	return parseVersion(m[1])
}

// imageTagVersion is a tree version as it can appear in an image tag (and
// as kubeadm writes it in the control-plane images' tags): "+" is not
// allowed there and becomes "_".
func imageTagVersion(v string) string { return strings.ReplaceAll(v, "+", "_") }
