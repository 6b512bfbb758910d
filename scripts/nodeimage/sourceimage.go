package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/images"
)

// A node image from a local Kubernetes tree is the published release's node
// image (the root file system, the preloaded etcd, CoreDNS and pause, built by
// the same recipe) with layers on top holding what the tree builds:
//
//	kubectl, kubeadm             /usr/bin/<name>
//	kube-proxy, kube-scheduler,  /kind/images/<name>.tar, an image archive the
//	kube-controller-manager,     node imports into containerd at boot
//	kube-apiserver               (kic-import-images.service, before the kubelet)
//	kubelet                      /usr/bin/kubelet
//	meta                         /kind/version, the import unit, its script, and
//	                             the kubelet's need of it
//
// bottom to top, one layer each. A rebuild writes only the layers whose
// content changed and those above them (a layer's identity includes the
// layers below); the base image's layers are never rewritten. The order puts
// what contributors change most (the kubelet, kube-apiserver) near the top.
//
// The binaries come from the same wrapper module as a release's: it
// requires k8s.io/kubernetes, replaced by the tree, and the staging modules,
// replaced by the tree's staging/ directories in a checkout or by their
// published versions for an unpacked module. Their build directory stays put
// per tree, so the go command relinks only the binaries whose inputs changed.

// sourceLayers are the layers above the base image, bottom first.
var sourceLayers = []string{"kubectl", "kubeadm", "kube-proxy", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "kubelet", "meta"}

// importUnit orders the import before the kubelet and before
// multi-user.target, which kind waits for before it runs kubeadm.
const importUnit = `[Unit]
Description=Import the control-plane images built from a Kubernetes source tree
After=containerd.service
Requires=containerd.service
Before=kubelet.service multi-user.target
ConditionDirectoryNotEmpty=/kind/images

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/bin/kic-import-images

[Install]
WantedBy=multi-user.target
`

// importDropIn makes the kubelet need the import: an import that fails
// keeps the kubelet from starting, so the cluster fails to come up instead
// of running the release's preloaded images under the same tags.
const importDropIn = `[Unit]
Requires=kic-import-images.service
After=kic-import-images.service
`

// importScript imports every archive of /kind/images and pins the images, as
// the release's build pins its preloaded ones (so the kubelet's image
// garbage collection never removes them).
const importScript = `#!/bin/sh
set -eu
i=0
until ctr version >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -gt 600 ]; then echo "containerd does not answer" >&2; exit 1; fi
  sleep 0.1
done
for f in /kind/images/*.tar; do
  ctr -n k8s.io images import --all-platforms "$f"
done
for ref in {{REFS}}; do
  ctr -n k8s.io images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
done
`

// sourceBuild is one build of a node image from a tree.
type sourceBuild struct {
	*builder // the base release's builder: its caches, its root file system
	tree     sourceTree
	dir      string // this tree's build directory
}

func (s *sourceBuild) moduleDir() string { return filepath.Join(s.dir, "module") }
func (s *sourceBuild) binDir() string    { return filepath.Join(s.dir, "bin") }
func (s *sourceBuild) bin(name string) string {
	return filepath.Join(s.binDir(), name)
}

// sourceDir is a tree's build directory under the work directory, named by
// a hash of its path: the same tree always builds in the same place.
func sourceDir(work, tree string) string {
	return filepath.Join(work, "source-"+keyOf("source", tree)[:12])
}

// sourceTag is the tag of a source image: the tree's version and a hash of
// every input, never a release's own tag.
func sourceTag(treeVersion, hash string) string {
	return fmt.Sprintf("%s:%s-src-%s", NodeRepository, imageTagVersion(treeVersion), hash[:12])
}

// runSource builds (or finds) the node image of a local tree and returns
// its reference.
func runSource(ctx context.Context, o options, root string) (string, error) {
	tree, err := detectSource(ctx, o.source, o.version)
	if err != nil {
		return "", err
	}
	kind := "unpacked module (staging modules at " + tree.Base.staging() + ")"
	if tree.Checkout {
		kind = "checkout (staging modules from its staging/)"
	}
	fmt.Printf("node-image: source %s: %s, version %s (from %s), on the %s node image\n", tree.Dir, kind, tree.Version, tree.VersionFrom, tree.Base)

	// The base: the release's own image, built by the same recipe if missing.
	baseOpts := o
	baseOpts.source, baseOpts.version = "", tree.Base.String()
	baseOpts.force = false // --force rebuilds the tree's image, not the release's
	alias, err := run(ctx, baseOpts)
	if err != nil {
		return "", fmt.Errorf("the %s node image the source image is built on: %w", tree.Base, err)
	}
	b := newBuilder(tree.Base, root, o)
	// The base by its input tag, which names one image for good (the alias
	// moves to the next recipe's image).
	baseInputs, err := hostexec.Command("docker", "image", "inspect", "--format", `{{index .Config.Labels "`+labelInputs+`"}}`, alias).Output(ctx)
	if err != nil || len(baseInputs) < 12 {
		return "", fmt.Errorf("the inputs label of the base image %s (%q): %v", alias, baseInputs, err)
	}
	baseRef := nodeTag(tree.Base, baseInputs)
	b.artifacts = filepath.Join(b.artifacts, "..", "source-"+imageTagVersion(tree.Version))
	s := &sourceBuild{builder: b, tree: tree, dir: sourceDir(b.work, tree.Dir)}

	var hash string
	if err := s.step(ctx, "source-inputs", func(ctx context.Context, l *stepLog) error {
		var err error
		hash, err = s.inputHash(ctx, l, baseInputs)
		return err
	}); err != nil {
		return "", err
	}
	tag := sourceTag(tree.Version, hash)
	if !o.force && s.imageExists(ctx, tag) {
		fmt.Printf("node-image: %s is up to date (the tree's inputs are unchanged)\n", tag)
		return tag, nil
	}
	for _, st := range []struct {
		name string
		fn   stepFunc
	}{
		{"source-binaries", s.buildBinaries},
		{"rootfs", s.buildRootfs}, // cached: kube-proxy's image takes iptables from it
		{"source-image", func(ctx context.Context, l *stepLog) error { return s.writeImage(ctx, l, baseRef, tag, hash) }},
	} {
		if err := s.step(ctx, st.name, st.fn); err != nil {
			return "", err
		}
	}
	return tag, nil
}

// writeModule writes the wrapper module and tidies it when its inputs (the
// go.mod files it is made from) changed since the last tidy.
func (s *sourceBuild) writeModule(ctx context.Context, l *stepLog) error {
	goMod := filepath.Join(s.tree.Dir, "go.mod")
	data, err := os.ReadFile(goMod)
	if err != nil {
		return err
	}
	upstream, err := modfile.Parse(goMod, data, nil)
	if err != nil {
		return err
	}
	parts := []string{"wrapper-v1", s.tree.Dir, string(data)}
	replaces := []replacement{{Path: "k8s.io/kubernetes", To: module.Version{Path: s.tree.Dir}}}
	for _, m := range s.tree.Staging {
		if s.tree.Checkout {
			dir := filepath.Join(s.tree.Dir, "staging", "src", m)
			gm, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err != nil {
				return err
			}
			parts = append(parts, m, string(gm))
			replaces = append(replaces, replacement{Path: m, To: module.Version{Path: dir}})
		} else {
			replaces = append(replaces, replacement{Path: m, To: module.Version{Path: m, Version: s.tree.Base.staging()}})
		}
	}
	key := keyOf(parts...)
	if stampOK(s.moduleDir(), key) {
		l.printf("wrapper module up to date in %s", s.moduleDir())
		return nil
	}
	if err := os.RemoveAll(s.moduleDir()); err != nil {
		return err
	}
	if err := writeWrapperModule(s.moduleDir(), "kic.local/build/kubernetes-source", upstream, module.Version{Path: "k8s.io/kubernetes", Version: "v0.0.0"}, replaces, kubernetesPackages()); err != nil {
		return err
	}
	l.printf("%d staging modules replaced (%s)", len(s.tree.Staging), map[bool]string{true: "by the tree's staging/", false: "by " + s.tree.Base.staging()}[s.tree.Checkout])
	if err := goCmd(l, s.moduleDir(), "mod", "tidy").Run(ctx); err != nil {
		return err
	}
	return writeStamp(s.moduleDir(), key)
}

// inputHash hashes what goes into the source image: every package the
// seven binaries are built from (the tree's files and its staging modules'
// byte by byte, other modules by version and go.sum hash, as for the
// recipe), the version stamp, the Go toolchain and the base image's inputs.
// An unchanged tree gives the same hash, so it is not rebuilt; any change
// to a file the binaries are built from gives a new one.
func (s *sourceBuild) inputHash(ctx context.Context, l *stepLog, baseInputs string) (string, error) {
	if err := s.writeModule(ctx, l); err != nil {
		return "", err
	}
	pkgs, err := listPackages(ctx, s.moduleDir(), goBuildEnv, kubernetesPackages())
	if err != nil {
		return "", err
	}
	goVersion, err := hostexec.Command("go", "env", "GOVERSION").Output(ctx)
	if err != nil {
		return "", fmt.Errorf("go version: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "source image v1\nversion %s\ncommit %s %s\ngo %s\nbase %s\n", s.tree.Version, s.tree.Commit, s.tree.TreeState, goVersion, baseInputs)
	fmt.Fprintf(h, "import unit\n%s\nkubelet drop-in\n%s\nimport script\n%s\n", importUnit, importDropIn, importScript)
	var byContent int
	for _, p := range pkgs {
		if p.hashedByContent() {
			byContent++
		}
	}
	if err := hashPackages(h, pkgs); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	l.printf("%d packages, %d of them hashed file by file: %s", len(pkgs), byContent, sum)
	return sum, nil
}

// buildBinaries builds the seven binaries into the tree's bin directory,
// stamped with the tree's version; the go command relinks only those whose
// inputs changed.
func (s *sourceBuild) buildBinaries(ctx context.Context, l *stepLog) error {
	args := append([]string{"build", "-trimpath", "-ldflags", versionLDFlags(s.tree.Version, s.tree.Base, s.tree.Commit, s.tree.TreeState), "-o", s.binDir() + "/"}, kubernetesPackages()...)
	if err := goCmd(l, s.moduleDir(), args...).Run(ctx); err != nil {
		return err
	}
	out, err := hostexec.Command(s.bin("kubeadm"), "version", "-o", "short").Output(ctx)
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != s.tree.Version {
		return fmt.Errorf("the tree's kubeadm reports version %q, want %s", out, s.tree.Version)
	}
	return nil
}

// sourceRecord is what a tree's last image was made of, so that the next
// build reuses the layers that did not change.
type sourceRecord struct {
	Image  string
	Base   string // the base image's ID
	Layers []recordedLayer
}

type recordedLayer struct {
	Name   string
	Key    string // a hash of the layer's content
	DiffID string
}

func (s *sourceBuild) recordPath() string { return filepath.Join(s.dir, "last-image.json") }

func (s *sourceBuild) readRecord(ctx context.Context, baseID string) (sourceRecord, bool) {
	var r sourceRecord
	data, err := os.ReadFile(s.recordPath())
	if err != nil || json.Unmarshal(data, &r) != nil || r.Base != baseID || !s.imageExists(ctx, r.Image) {
		return sourceRecord{}, false
	}
	return r, true
}

// writeImage writes the layers above the base that changed and loads the
// image.
func (s *sourceBuild) writeImage(ctx context.Context, l *stepLog, baseRef, tag, hash string) error {
	kubeImages, err := listImages(ctx, l, s.bin("kubeadm"), s.tree.Version)
	if err != nil {
		return err
	}
	// The release's kubeadm says which images its node image preloads; its
	// build is cached with the release image's (and made again if the cache
	// was removed while the image stayed).
	if err := s.buildKubernetes(ctx, l); err != nil {
		return fmt.Errorf("the base release's binaries: %w", err)
	}
	baseImages, err := listImages(ctx, l, filepath.Join(s.kubernetesDir(), "bin", "kubeadm"), s.v.String())
	if err != nil {
		return fmt.Errorf("the images of the base release: %w", err)
	}
	if kubeImages.Etcd != baseImages.Etcd || kubeImages.CoreDNS != baseImages.CoreDNS || kubeImages.Pause != baseImages.Pause {
		return fmt.Errorf("the tree's kubeadm wants %s, %s and %s, the %s node image preloads %s, %s and %s: a tree that changes them is not supported",
			kubeImages.Etcd, kubeImages.CoreDNS, kubeImages.Pause, s.v, baseImages.Etcd, baseImages.CoreDNS, baseImages.Pause)
	}
	baseID, err := hostexec.Command("docker", "image", "inspect", "--format", "{{.Id}}", baseRef).Output(ctx)
	if err != nil {
		return fmt.Errorf("base image %s: %w", baseRef, err)
	}
	baseLayers, err := images.LayerIDs(ctx, baseRef)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, "layers")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	refs := map[string]string{"kube-apiserver": kubeImages.APIServer, "kube-controller-manager": kubeImages.ControllerManager, "kube-scheduler": kubeImages.Scheduler, "kube-proxy": kubeImages.Proxy}
	var pinned []string
	for _, n := range []string{"kube-proxy", "kube-scheduler", "kube-controller-manager", "kube-apiserver"} {
		pinned = append(pinned, refs[n])
	}
	meta := []images.File{
		{Path: "/kind/version", Data: []byte(s.tree.Version + "\n"), Mode: 0o644},
		{Path: "/etc/systemd/system/kic-import-images.service", Data: []byte(importUnit), Mode: 0o644},
		{Path: "/etc/systemd/system/multi-user.target.wants/kic-import-images.service", Link: "/etc/systemd/system/kic-import-images.service"},
		{Path: "/etc/systemd/system/kubelet.service.d/20-kic-import-images.conf", Data: []byte(importDropIn), Mode: 0o644},
		{Path: "/usr/local/bin/kic-import-images", Data: []byte(strings.ReplaceAll(importScript, "{{REFS}}", strings.Join(pinned, " "))), Mode: 0o755},
	}

	prev, havePrev := s.readRecord(ctx, baseID)
	record := sourceRecord{Image: tag, Base: baseID}
	var layers []images.Layer
	for _, id := range baseLayers {
		layer, err := images.PresentLayer(id)
		if err != nil {
			return err
		}
		layers = append(layers, layer)
	}
	reusing := havePrev
	var written, reused []string
	for i, name := range sourceLayers {
		key, err := s.layerKey(name, refs[name], meta)
		if err != nil {
			return err
		}
		if reusing && i < len(prev.Layers) && prev.Layers[i].Name == name && prev.Layers[i].Key == key {
			layer, err := images.PresentLayer(prev.Layers[i].DiffID)
			if err != nil {
				return err
			}
			layers = append(layers, layer)
			record.Layers = append(record.Layers, prev.Layers[i])
			reused = append(reused, name)
			continue
		}
		reusing = false // every layer above a changed one is new
		layer, err := s.writeLayer(tmp, name, refs[name], meta)
		if err != nil {
			return fmt.Errorf("layer %s: %w", name, err)
		}
		diffID, err := layer.DiffID()
		if err != nil {
			return err
		}
		layers = append(layers, layer)
		record.Layers = append(record.Layers, recordedLayer{Name: name, Key: key, DiffID: diffID.String()})
		written = append(written, name)
	}
	l.printf("layers reused: %v; written: %v", reused, written)
	fmt.Printf("node-image: source layers written: %s; reused: %s\n", listOrNone(written), listOrNone(reused))
	img := images.Image{Ref: tag, Layers: layers, Config: nodeConfig(map[string]string{
		labelVersion: s.tree.Version,
		labelInputs:  hash,
		labelSource:  s.tree.Dir,
		labelBase:    baseRef,
	})}
	if err := images.Load(ctx, img); err != nil {
		return err
	}
	data, err := json.MarshalIndent(record, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.recordPath(), data, 0o644); err != nil {
		return err
	}
	if havePrev && prev.Image != tag {
		s.removeImage(ctx, l, prev.Image)
	}
	return nil
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// layerKey hashes what a layer holds: its binary and, for a control-plane
// image, the image's reference; for meta, its files.
func (s *sourceBuild) layerKey(name, ref string, meta []images.File) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "layer %s ref %s\n", name, ref)
	if name == "meta" {
		for _, f := range meta {
			fmt.Fprintf(h, "%s %o %s %d\n", f.Path, f.Mode, f.Link, len(f.Data))
			h.Write(f.Data)
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	f, err := os.Open(s.bin(name))
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", s.bin(name), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeLayer writes one layer above the base.
func (s *sourceBuild) writeLayer(dir, name, ref string, meta []images.File) (images.Layer, error) {
	switch name {
	case "meta":
		return images.FilesLayer(dir, meta)
	case "kubectl", "kubeadm", "kubelet":
		return images.FilesLayer(dir, []images.File{{Path: "/usr/bin/" + name, Source: s.bin(name), Mode: 0o755}})
	}
	img, err := s.kubeImage(dir, ref, name, s.bin(name))
	if err != nil {
		return images.Layer{}, err
	}
	defer os.Remove(img.Layers[0].Path())
	archive := filepath.Join(dir, name+".tar")
	if err := images.WriteArchive(archive, img); err != nil {
		return images.Layer{}, err
	}
	defer os.Remove(archive)
	return images.FilesLayer(dir, []images.File{{Path: "/kind/images/" + name + ".tar", Source: archive, Mode: 0o644}})
}

// removeImage removes the tree's previous image; one a container still uses
// (the node of a kept cluster) stays, and the build says so.
func (s *sourceBuild) removeImage(ctx context.Context, l *stepLog, ref string) {
	if err := l.cmd("docker", "rmi", ref).Run(ctx); err != nil {
		why := "not removed: " + err.Error()
		if users, uerr := containersUsing(ctx, ref); uerr != nil {
			why += "; " + uerr.Error()
		} else if len(users) > 0 {
			why = "in use by " + strings.Join(users, ", ")
		}
		fmt.Printf("node-image: kept the tree's previous image %s (%s; `docker rmi %s` removes it later)\n", ref, why, ref)
	}
}

// unpack writes a writable copy of a published k8s.io/kubernetes module into
// dir, with the marker that names its version: a tree to patch and build.
func unpack(ctx context.Context, v version, dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("unpack into %s: the directory is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unpack into %s: %w", dir, err)
	}
	out, err := hostexec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@"+v.String()).Output(ctx)
	if err != nil {
		return fmt.Errorf("download k8s.io/kubernetes@%s: %w", v, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		return fmt.Errorf("download k8s.io/kubernetes@%s: %w", v, err)
	}
	if info.Error != "" || info.Dir == "" {
		return fmt.Errorf("download k8s.io/kubernetes@%s: %s", v, info.Error)
	}
	if err := copyTree(info.Dir, dir); err != nil {
		return fmt.Errorf("unpack %s into %s: %w", info.Dir, dir, err)
	}
	marker := fmt.Sprintf("# Written by `go run ./scripts/nodeimage unpack`: the tree below is k8s.io/kubernetes@%s\n# from the Go module cache (%s), made writable.\nversion %s\n", v, info.Dir, v)
	return os.WriteFile(filepath.Join(dir, sourceMarker), []byte(marker), 0o644)
}

// copyTree copies a directory tree of regular files and directories (a
// module's content), making everything writable by its owner.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case info.Mode().IsRegular():
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm()|0o200)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, in); err != nil {
				out.Close()
				return err
			}
			return out.Close()
		default:
			return fmt.Errorf("%s: not a regular file or directory (%s)", p, info.Mode().Type())
		}
	})
}
