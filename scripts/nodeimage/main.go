// Command nodeimage makes the kind node image for a Kubernetes version, offline.
//
//	go run ./scripts/nodeimage [--kubernetes-version v1.37.2]
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
	var o options
	flag.StringVar(&o.version, "kubernetes-version", "v1.37.2", "Kubernetes version to build (v1.34.x to v1.37.x)")
	flag.StringVar(&o.workDir, "work-dir", "_build/nodeimage", "directory for build trees and caches")
	flag.StringVar(&o.artifactsDir, "artifacts-dir", "_artifacts/nodeimage", "directory for step logs")
	flag.BoolVar(&o.force, "force", false, "rebuild even if the image for these inputs exists")
	flag.BoolVar(&o.prepareOnly, "prepare-only", false, "only build the binaries and the root file system (no Docker engine needed)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	tag, err := run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "node-image: FAILED after %s: %v\n", since(start), err)
		os.Exit(1)
	}
	fmt.Printf("node-image: %s ready in %s\n", tag, since(start))
}

type options struct {
	version      string
	workDir      string
	artifactsDir string
	force        bool
	prepareOnly  bool
}

func run(ctx context.Context, o options) (string, error) {
	v, err := parseVersion(o.version)
	if err != nil {
		return "", err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	b := &builder{
		v:         v,
		root:      root,
		work:      abs(o.workDir),
		artifacts: filepath.Join(abs(o.artifactsDir), v.String()),
	}
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
