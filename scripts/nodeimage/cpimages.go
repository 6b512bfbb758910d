package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/images"
)

const imagePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func (b *builder) imagesArchive() string {
	return filepath.Join(b.work, "node-"+b.v.String(), "images", "control-plane-images.tar")
}

// writeControlPlaneImages writes every image kubeadm needs for this release
// into one archive, from Go, with no base image: each holds just its binary
// (kube-proxy also the iptables userland it runs, with every library).
func (b *builder) writeControlPlaneImages(ctx context.Context, l *stepLog) error {
	out := b.imagesArchive()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := filepath.Dir(out)
	bin := func(name string) string { return filepath.Join(b.kubernetesDir(), "bin", name) }
	dirs := []images.File{tmpDir}

	var imgs []images.Image
	for ref, name := range map[string]string{b.images.APIServer: "kube-apiserver", b.images.ControllerManager: "kube-controller-manager", b.images.Scheduler: "kube-scheduler", b.images.Proxy: "kube-proxy"} {
		img, err := b.kubeImage(tmp, ref, name, bin(name))
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
	}

	layer, err := images.FilesLayer(tmp, append([]images.File{
		{Path: "/usr/local/bin/etcd", Source: b.componentBinary("etcd"), Mode: 0o755},
		{Path: "/var/lib/etcd", Mode: os.ModeDir | 0o700},
	}, dirs...))
	if err != nil {
		return err
	}
	imgs = append(imgs, images.Image{Ref: b.images.Etcd, Layers: []images.Layer{layer}, Config: images.Config{
		Cmd: []string{"/usr/local/bin/etcd"}, Env: []string{imagePath}}})

	layer, err = images.FilesLayer(tmp, []images.File{
		{Path: "/coredns", Source: b.componentBinary("coredns"), Mode: 0o755},
		{Path: "/etc/ssl/certs/ca-certificates.crt", Source: filepath.Join(b.rootfsDir(), "etc/ssl/certs/ca-certificates.crt"), Mode: 0o644},
	})
	if err != nil {
		return err
	}
	imgs = append(imgs, images.Image{Ref: b.images.CoreDNS, Layers: []images.Layer{layer}, Config: images.Config{
		Entrypoint: []string{"/coredns"}, ExposedPorts: []string{"53/tcp", "53/udp"}}})

	layer, err = images.FilesLayer(tmp, []images.File{{Path: "/pause", Source: b.componentBinary("pause"), Mode: 0o755}})
	if err != nil {
		return err
	}
	imgs = append(imgs, images.Image{Ref: b.images.Pause, Layers: []images.Layer{layer}, Config: images.Config{
		Entrypoint: []string{"/pause"}, User: "65535:65535"}})

	defer func() {
		for _, img := range imgs {
			for _, layer := range img.Layers {
				os.Remove(layer.Path())
			}
		}
	}()
	for _, img := range imgs {
		l.printf("image %s", img.Ref)
	}
	return images.WriteArchive(out, imgs...)
}

// tmpDir is the world-writable /tmp of every control-plane image.
var tmpDir = images.File{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777}

// kubeImage is the image of one Kubernetes control-plane component (or
// kube-proxy) with the binary at bin: just the binary, and for kube-proxy the
// iptables userland it runs. Its layer is written in dir.
func (b *builder) kubeImage(dir, ref, name, bin string) (images.Image, error) {
	files := []images.File{{Path: "/usr/local/bin/" + name, Source: bin, Mode: 0o755}}
	if name == "kube-proxy" {
		var err error
		if files, err = b.kubeProxyFiles(bin); err != nil {
			return images.Image{}, err
		}
	}
	layer, err := images.FilesLayer(dir, append(files, tmpDir))
	if err != nil {
		return images.Image{}, fmt.Errorf("image %s: %w", ref, err)
	}
	return images.Image{Ref: ref, Layers: []images.Layer{layer}, Config: images.Config{
		Entrypoint: []string{"/usr/local/bin/" + name}, Env: []string{imagePath}}}, nil
}

// kubeProxyFiles lists kube-proxy and the iptables userland from the node's
// root file system: both backends, their extensions, and the shared libraries
// of the binaries AND of every extension (libxt_statistic needs libm, without
// which services with several endpoints fail to sync).
func (b *builder) kubeProxyFiles(bin string) ([]images.File, error) {
	root := b.rootfsDir()
	files := []images.File{{Path: "/usr/local/bin/kube-proxy", Source: bin, Mode: 0o755}}
	elfs := []string{"/usr/sbin/xtables-nft-multi", "/usr/sbin/xtables-legacy-multi", "/usr/sbin/nft", "/usr/sbin/conntrack"}
	ext, err := filepath.Glob(filepath.Join(root, "usr/lib/x86_64-linux-gnu/xtables/*.so"))
	if err != nil || len(ext) == 0 {
		return nil, fmt.Errorf("no iptables extensions in %s (err %v)", root, err)
	}
	for _, e := range ext {
		elfs = append(elfs, "/"+strings.TrimPrefix(e, root+"/"))
	}
	libs, err := sharedLibraries(root, elfs)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	addFromRoot := func(p string) error {
		if seen[p] {
			return nil
		}
		seen[p] = true
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(filepath.Join(root, p))
			if err != nil {
				return err
			}
			files = append(files, images.File{Path: p, Link: target})
			return nil
		}
		files = append(files, images.File{Path: p, Source: filepath.Join(root, p), Mode: fi.Mode().Perm()})
		return nil
	}
	for _, p := range append(elfs, libs...) {
		if err := addFromRoot(p); err != nil {
			return nil, err
		}
	}
	for _, p := range []string{"/etc/ethertypes", "/etc/protocols", "/etc/services"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			if err := addFromRoot(p); err != nil {
				return nil, err
			}
		}
	}
	// Merged-/usr top-level links, so that /lib64/ld-linux-x86-64.so.2 resolves.
	for _, p := range []string{"/bin", "/sbin", "/lib", "/lib64"} {
		if fi, err := os.Lstat(filepath.Join(root, p)); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			if err := addFromRoot(p); err != nil {
				return nil, err
			}
		}
	}
	// iptables commands: the nft backend by default (what current Docker
	// engines write; see docs/node-image.md), both backends by explicit name.
	links := map[string]string{}
	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, verb := range []string{"", "-save", "-restore"} {
			links[tool+verb] = "xtables-nft-multi"
			links[tool+"-nft"+verb] = "xtables-nft-multi"
			links[tool+"-legacy"+verb] = "xtables-legacy-multi"
		}
	}
	for name, multi := range links {
		p := path.Join("/usr/sbin", name)
		if !seen[p] {
			seen[p] = true
			files = append(files, images.File{Path: p, Link: multi})
		}
	}
	return files, nil
}
