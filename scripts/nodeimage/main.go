// Command nodeimage makes the kind node image for a Kubernetes version, offline.
//
//	go run ./scripts/nodeimage [--kubernetes-version v1.37.2]
//	go run ./scripts/nodeimage --kubernetes-source DIR [--kubernetes-version V] [--tag-file F]
//	go run ./scripts/nodeimage unpack --kubernetes-version v1.37.2 --dir DIR
//
// Everything is built here from source: the seven Kubernetes binaries from
// the k8s.io/kubernetes Go module; etcd, CoreDNS and pause at the versions
// `kubeadm config images list` names; a Debian root file system from
// debootstrap; the project's own entrypoint, systemd units and configuration
// (rootfs/ beside this file); and the control-plane images, written from Go
// and preloaded into containerd. An official kindest/node image is never used:
// the cluster profiles disable kind's default CNI and rely on the CNI
// configuration this image ships, which the official image lacks.
//
// The result is tagged kic.local/node:<version>-<hash of its inputs> (see
// inputHash: the version, the Go toolchain, and every non-standard-library
// package this program and the node tools are built from) and
// kic.local/node:<version>, the tag cluster profiles use. A run with nothing
// changed finds the hash tag and finishes in seconds. Each step prints its name
// and elapsed time; its log is kept under _artifacts/nodeimage/<version>/.
//
// With --kubernetes-source the seven Kubernetes binaries come from a local
// tree instead, on top of its release's node image (see sourceimage.go), and
// the image is tagged kic.local/node:<tree version>-src-<hash of its inputs>,
// so that it never shadows a release's image. `unpack` writes a writable copy
// of a release's module to patch.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Tag prefix of the images this program makes; cluster profiles use
// NodeRepository + ":" + version.
const NodeRepository = "kic.local/node"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "unpack" {
		os.Exit(unpackMain(os.Args[2:]))
	}
	var o options
	flag.StringVar(&o.version, "kubernetes-version", "", "Kubernetes version to build (v1.34.x to v1.37.x; default v1.37.2); with --kubernetes-source: the tree's version, when neither git nor its "+sourceMarker+" file tells")
	flag.StringVar(&o.source, "kubernetes-source", "", "build the Kubernetes binaries from this local tree (a kubernetes/kubernetes checkout, or an unpacked k8s.io/kubernetes module) on top of its release's node image")
	flag.StringVar(&o.tagFile, "tag-file", "", "write the reference of the image made (or found) to this file")
	flag.StringVar(&o.workDir, "work-dir", "_build/nodeimage", "directory for build trees and caches")
	flag.StringVar(&o.artifactsDir, "artifacts-dir", "_artifacts/nodeimage", "directory for step logs")
	flag.BoolVar(&o.force, "force", false, "rebuild even if the image for these inputs exists")
	flag.BoolVar(&o.prepareOnly, "prepare-only", false, "only build the binaries and the root file system (no Docker engine needed)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: nodeimage [flags]\n       nodeimage unpack --kubernetes-version vX.Y.Z --dir DIR\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "node-image: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	tag, err := runMain(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "node-image: FAILED after %s: %v\n", since(start), err)
		os.Exit(1)
	}
	if o.tagFile != "" {
		if err := os.WriteFile(o.tagFile, []byte(tag+"\n"), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "node-image: write the tag file: %v\n", err)
			os.Exit(1)
		}
	}
	fmt.Printf("node-image: %s ready in %s\n", tag, since(start))
}

func unpackMain(args []string) int {
	fs := flag.NewFlagSet("unpack", flag.ExitOnError)
	ver := fs.String("kubernetes-version", "", "the release to unpack (v1.34.x to v1.37.x)")
	dir := fs.String("dir", "", "where to unpack it (must be missing or empty)")
	fs.Parse(args)
	if *ver == "" || *dir == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: nodeimage unpack --kubernetes-version vX.Y.Z --dir DIR")
		return 2
	}
	v, err := parseVersion(*ver)
	if err != nil {
		fmt.Fprintf(os.Stderr, "node-image unpack: %v\n", err)
		return 2
	}
	if err := unpack(context.Background(), v, *dir); err != nil {
		fmt.Fprintf(os.Stderr, "node-image unpack: %v\n", err)
		return 1
	}
	fmt.Printf("node-image unpack: k8s.io/kubernetes@%s is in %s (writable; %s names its version)\n", v, *dir, sourceMarker)
	return 0
}

type options struct {
	version      string
	source       string
	tagFile      string
	workDir      string
	artifactsDir string
	force        bool
	prepareOnly  bool
}

// runMain builds the image the options ask for.
func runMain(ctx context.Context, o options) (string, error) {
	if o.source == "" {
		return run(ctx, o)
	}
	if o.prepareOnly {
		return "", fmt.Errorf("--prepare-only builds a release's binaries and root file system; it does not apply to --kubernetes-source")
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	return runSource(ctx, o, root)
}

// newBuilder is the builder of release v with the options' directories.
func newBuilder(v version, root string, o options) *builder {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	return &builder{
		v:         v,
		root:      root,
		work:      abs(o.workDir),
		artifacts: filepath.Join(abs(o.artifactsDir), v.String()),
	}
}

// run builds (or finds) the node image of a release.
func run(ctx context.Context, o options) (string, error) {
	if o.version == "" {
		o.version = "v1.37.2"
	}
	v, err := parseVersion(o.version)
	if err != nil {
		return "", err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	b := newBuilder(v, root, o)
	alias := NodeRepository + ":" + v.String()
	if o.prepareOnly {
		return "binaries and root file system for " + v.String(), b.prepare(ctx)
	}

	if err := b.step(ctx, "docker", b.checkDocker); err != nil {
		return "", err
	}
	hash, err := b.inputHash(ctx)
	if err != nil {
		return "", err
	}
	tag := nodeTag(v, hash)
	if !o.force && b.imageExists(ctx, tag) {
		if err := b.tag(ctx, tag, alias); err != nil {
			return "", err
		}
		fmt.Printf("node-image: %s is up to date (inputs %s)\n", alias, hash[:12])
		return alias, nil
	}
	if err := b.build(ctx, tag, alias, hash); err != nil {
		return "", err
	}
	return alias, nil
}

// nodeTag is the tag of the image made from inputs with this hash.
func nodeTag(v version, hash string) string {
	return fmt.Sprintf("%s:%s-%s", NodeRepository, v, hash[:12])
}

// prepare runs the steps that need no Docker engine: the preflight checks,
// the Go builds and the root file system.
func (b *builder) prepare(ctx context.Context) error {
	if err := b.step(ctx, "preflight", b.preflight); err != nil {
		return err
	}
	// The Go builds and debootstrap run side by side: debootstrap mostly waits
	// on the network and dpkg, the compiler on the CPU.
	rootfsDone := make(chan error, 1)
	go func() { rootfsDone <- b.step(ctx, "rootfs", b.buildRootfs) }()
	goErr := b.buildGoComponents(ctx)
	rootErr := <-rootfsDone
	return errors.Join(goErr, rootErr)
}

// build runs every step of a from-source build.
func (b *builder) build(ctx context.Context, tag, alias, hash string) error {
	if err := b.prepare(ctx); err != nil {
		return err
	}
	defer func() {
		if p := b.base.Path(); p != "" {
			os.Remove(p) // the shared base layer's temporary tar
		}
	}()
	for _, s := range []struct {
		name string
		fn   stepFunc
	}{
		{"control-plane-images", b.writeControlPlaneImages},
		{"assemble", b.assemble},
		{"preload", b.preload},
		{"image", func(ctx context.Context, l *stepLog) error { return b.writeNodeImage(ctx, l, tag, alias, hash) }},
	} {
		if err := b.step(ctx, s.name, s.fn); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) buildGoComponents(ctx context.Context) error {
	for _, s := range []struct {
		name string
		fn   stepFunc
	}{
		{"kubernetes-binaries", b.buildKubernetes},
		{"image-list", b.readImageList},
		{"etcd", b.buildEtcd},
		{"coredns", b.buildCoreDNS},
		{"node-tools", b.buildNodeTools},
	} {
		if err := b.step(ctx, s.name, s.fn); err != nil {
			return err
		}
	}
	return nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
