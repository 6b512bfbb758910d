package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
)

// kubernetesCommands are the seven binaries a node and its images need.
var kubernetesCommands = []string{"kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"}

// imageList is what `kubeadm config images list` names for the version.
type imageList struct {
	APIServer, ControllerManager, Scheduler, Proxy string
	CoreDNS, Pause, Etcd                           string
}

func (b *builder) kubernetesDir() string { return filepath.Join(b.work, "kubernetes-"+b.v.String()) }
func (b *builder) componentsDir() string { return filepath.Join(b.work, "components-"+b.v.String()) }

// goBuildEnv builds static binaries, reproducibly.
var goBuildEnv = []string{"CGO_ENABLED=0", "GOFLAGS=-mod=mod -buildvcs=false"}

// buildKubernetes builds the seven binaries from k8s.io/kubernetes through a
// small module that requires it and replaces each staging k8s.io/* module
// (which kubernetes' own go.mod points at ./staging) with its published
// v0.X.Y, with the version stamped so that kubeadm and kubectl report it.
func (b *builder) buildKubernetes(ctx context.Context, l *stepLog) error {
	dir := b.kubernetesDir()
	key := keyOf("kubernetes", b.v.String(), strings.Join(kubernetesCommands, ","), "stamp-v1")
	if stampOK(dir, key) {
		l.printf("cached in %s", dir)
		fmt.Printf("node-image: %-22s cached (%s)\n", "kubernetes-binaries", dir)
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	mod := filepath.Join(dir, "module")
	upstream, err := downloadGoMod(ctx, l, "k8s.io/kubernetes", b.v.String())
	if err != nil {
		return err
	}
	var replaces []replacement
	for _, r := range upstream.Replace {
		if modfile.IsDirectoryPath(r.New.Path) && strings.HasPrefix(r.Old.Path, "k8s.io/") {
			replaces = append(replaces, replacement{Path: r.Old.Path, To: module.Version{Path: r.Old.Path, Version: b.v.staging()}})
		}
	}
	l.printf("%d staging modules replaced by their published %s", len(replaces), b.v.staging())
	pkgs := kubernetesPackages()
	if err := writeWrapperModule(mod, "kic.local/build/kubernetes", upstream, module.Version{Path: "k8s.io/kubernetes", Version: b.v.String()}, replaces, pkgs); err != nil {
		return err
	}
	if err := goCmd(l, mod, "mod", "tidy").Run(ctx); err != nil {
		return err
	}
	ldflags := versionLDFlags(b.v.String(), b.v, zeroCommit, "clean")
	args := append([]string{"build", "-trimpath", "-ldflags", ldflags, "-o", filepath.Join(dir, "bin") + "/"}, pkgs...)
	if err := goCmd(l, mod, args...).Run(ctx); err != nil {
		return err
	}
	out, err := hostexec.Command(filepath.Join(dir, "bin", "kubeadm"), "version", "-o", "short").Output(ctx)
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != b.v.String() {
		return fmt.Errorf("kubeadm reports version %q, want %s", out, b.v)
	}
	return writeStamp(dir, key)
}

// readImageList asks the freshly built kubeadm which images this release uses.
func (b *builder) readImageList(ctx context.Context, l *stepLog) error {
	list, err := listImages(ctx, l, filepath.Join(b.kubernetesDir(), "bin", "kubeadm"), b.v.String())
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.images = list
	b.mu.Unlock()
	return nil
}

// listImages asks a kubeadm which images a Kubernetes version uses.
func listImages(ctx context.Context, l *stepLog, kubeadm, kubeVersion string) (imageList, error) {
	c := hostexec.Command(kubeadm, "config", "images", "list", "--kubernetes-version", kubeVersion)
	c.Env = []string{"KUBECONFIG=/dev/null"}
	out, err := c.Output(ctx)
	if err != nil {
		return imageList{}, err
	}
	l.printf("%s", out)
	var list imageList
	fields := map[string]*string{
		"kube-apiserver": &list.APIServer, "kube-controller-manager": &list.ControllerManager,
		"kube-scheduler": &list.Scheduler, "kube-proxy": &list.Proxy,
		"coredns": &list.CoreDNS, "pause": &list.Pause, "etcd": &list.Etcd,
	}
	for _, ref := range readLines(out) {
		if i := strings.LastIndex(ref, ":"); i > 0 {
			if f, ok := fields[path.Base(ref[:i])]; ok {
				*f = ref
			}
		}
	}
	for name, f := range fields {
		if *f == "" {
			return imageList{}, fmt.Errorf("kubeadm config images list names no %s image:\n%s", name, out)
		}
	}
	return list, nil
}

// tagOf returns the tag part of an image reference.
func tagOf(ref string) string { return ref[strings.LastIndex(ref, ":")+1:] }

var etcdTagRE = regexp.MustCompile(`^(\d+\.\d+\.\d+)(-\d+)?$`)

// buildEtcd builds etcd at the version of kubeadm's etcd image (3.7.0-0 is
// etcd v3.7.0). etcd's server module has relative replace directives, so it is
// built through a wrapper module rather than `go install`.
func (b *builder) buildEtcd(ctx context.Context, l *stepLog) error {
	m := etcdTagRE.FindStringSubmatch(tagOf(b.images.Etcd))
	if m == nil {
		return fmt.Errorf("cannot read an etcd version from image %s", b.images.Etcd)
	}
	return b.buildComponent(ctx, l, "etcd", module.Version{Path: "go.etcd.io/etcd/server/v3", Version: "v" + m[1]}, "go.etcd.io/etcd/server/v3")
}

// buildCoreDNS builds CoreDNS at the version of kubeadm's CoreDNS image.
func (b *builder) buildCoreDNS(ctx context.Context, l *stepLog) error {
	return b.buildComponent(ctx, l, "coredns", module.Version{Path: "github.com/coredns/coredns", Version: tagOf(b.images.CoreDNS)}, "github.com/coredns/coredns")
}

// buildComponent builds one main package of a published module into
// components-<version>/bin/<name>, cached by module version.
func (b *builder) buildComponent(ctx context.Context, l *stepLog, name string, mv module.Version, pkg string) error {
	dir := filepath.Join(b.work, "component-"+name+"-"+mv.Version)
	key := keyOf(name, mv.Path, mv.Version)
	if stampOK(dir, key) {
		fmt.Printf("node-image: %-22s cached (%s %s)\n", name, mv.Path, mv.Version)
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	upstream, err := downloadGoMod(ctx, l, mv.Path, mv.Version)
	if err != nil {
		return err
	}
	mod := filepath.Join(dir, "module")
	if err := writeWrapperModule(mod, "kic.local/build/"+name, upstream, mv, nil, []string{pkg}); err != nil {
		return err
	}
	if err := goCmd(l, mod, "mod", "tidy").Run(ctx); err != nil {
		return err
	}
	if err := goCmd(l, mod, "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, name), pkg).Run(ctx); err != nil {
		return err
	}
	return writeStamp(dir, key)
}

func (b *builder) componentBinary(name string) string {
	switch name {
	case "etcd":
		return filepath.Join(b.work, "component-etcd-v"+etcdTagRE.FindStringSubmatch(tagOf(b.images.Etcd))[1], "etcd")
	case "coredns":
		return filepath.Join(b.work, "component-coredns-"+tagOf(b.images.CoreDNS), "coredns")
	}
	return filepath.Join(b.componentsDir(), name)
}

// buildNodeTools builds the project's own pause (the sandbox image) and
// crictl (a small CRI client kind runs on nodes; cri-tools is neither packaged
// by Debian nor served by the module proxy here).
func (b *builder) buildNodeTools(ctx context.Context, l *stepLog) error {
	if err := os.MkdirAll(b.componentsDir(), 0o755); err != nil {
		return err
	}
	for _, name := range nodeTools {
		if err := goCmd(l, b.root, "build", "-trimpath", "-ldflags", "-s -w", "-o", b.componentBinary(name), programDir+"/"+name).Run(ctx); err != nil {
			return err
		}
	}
	return nil
}

func goCmd(l *stepLog, dir string, args ...string) *hostexec.Cmd {
	c := l.cmd("go", args...)
	c.Dir = dir
	c.Env = goBuildEnv
	return c
}

// downloadGoMod fetches a module's go.mod through the module proxy.
func downloadGoMod(ctx context.Context, l *stepLog, path, version string) (*modfile.File, error) {
	out, err := hostexec.Command("go", "mod", "download", "-json", path+"@"+version).Output(ctx)
	l.printf("$ go mod download -json %s@%s\n%s", path, version, out)
	if err != nil {
		return nil, fmt.Errorf("download %s@%s: %w", path, version, err)
	}
	var info struct{ GoMod, Error string }
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		return nil, fmt.Errorf("download %s@%s: %w", path, version, err)
	}
	if info.Error != "" {
		return nil, fmt.Errorf("download %s@%s: %s", path, version, info.Error)
	}
	data, err := os.ReadFile(info.GoMod)
	if err != nil {
		return nil, err
	}
	f, err := modfile.Parse(info.GoMod, data, nil)
	if err != nil {
		return nil, fmt.Errorf("parse go.mod of %s@%s: %w", path, version, err)
	}
	return f, nil
}

// replacement is a replace directive of a wrapper module: To is a module
// version, or a directory when To.Version is empty.
type replacement struct {
	Path string
	To   module.Version
}

// kubernetesPackages are the main packages of kubernetesCommands.
func kubernetesPackages() []string {
	var pkgs []string
	for _, c := range kubernetesCommands {
		pkgs = append(pkgs, "k8s.io/kubernetes/cmd/"+c)
	}
	return pkgs
}

// versionLDFlags strips the binaries and stamps the version they report, as
// Kubernetes' own build does (hack/lib/version.sh), with a fixed build date.
func versionLDFlags(gitVersion string, v version, commit, treeState string) string {
	flags := []string{"-s", "-w"}
	for _, p := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X", p+".gitVersion="+gitVersion,
			"-X", fmt.Sprintf("%s.gitMajor=%d", p, v.major),
			"-X", fmt.Sprintf("%s.gitMinor=%d", p, v.minor),
			"-X", p+".gitCommit="+commit,
			"-X", p+".gitTreeState="+treeState,
			"-X", p+".buildDate=2000-01-01T00:00:00Z")
	}
	return strings.Join(flags, " ")
}

// writeWrapperModule writes a module that requires target (copying its go and
// godebug directives) with the given replaces, and a tools.go importing pkgs.
func writeWrapperModule(dir, name string, upstream *modfile.File, target module.Version, replaces []replacement, pkgs []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f := new(modfile.File)
	if err := f.AddModuleStmt(name); err != nil {
		return err
	}
	if upstream.Go != nil {
		if err := f.AddGoStmt(upstream.Go.Version); err != nil {
			return err
		}
	}
	for _, g := range upstream.Godebug {
		if err := f.AddGodebug(g.Key, g.Value); err != nil {
			return err
		}
	}
	if err := f.AddRequire(target.Path, target.Version); err != nil {
		return err
	}
	for _, r := range replaces {
		if err := f.AddReplace(r.Path, "", r.To.Path, r.To.Version); err != nil {
			return err
		}
	}
	data, err := f.Format()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), data, 0o644); err != nil {
		return err
	}
	var tools strings.Builder
	tools.WriteString("//go:build tools\n\n// Package tools pins the commands this module builds.\npackage tools\n\nimport (\n")
	for _, p := range pkgs {
		fmt.Fprintf(&tools, "\t_ %q\n", p)
	}
	tools.WriteString(")\n")
	return os.WriteFile(filepath.Join(dir, "tools.go"), []byte(tools.String()), 0o644)
}
