package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The node's Debian release and packages. containerd 1.7, runc 1.1 and the CNI
// plugins (in /usr/lib/cni) come from Debian: building them from source is
// not needed for kind to create clusters and load images.
const debianSuite = "trixie"

var debianPackages = []string{
	"systemd", "systemd-sysv", "dbus", "containerd", "runc", "containernetworking-plugins",
	"iptables", "nftables", "conntrack", "ethtool", "socat", "iproute2", "kmod", "libseccomp2",
	"pigz", "procps", "ca-certificates", "util-linux", "mount", "bash", "curl", "iputils-ping",
}

// rootfsDir is the pristine debootstrap tree, shared by every Kubernetes
// version; it is rebuilt only when the release or the package list changes.
func (b *builder) rootfsDir() string {
	return filepath.Join(b.work, "rootfs-"+debianSuite+"-"+keyOf(debianSuite, strings.Join(debianPackages, ","))[:8])
}

// buildRootfs runs debootstrap (minbase plus the node's packages) at low
// priority, into a temporary directory renamed when complete.
func (b *builder) buildRootfs(ctx context.Context, l *stepLog) error {
	dir := b.rootfsDir()
	key := keyOf(debianSuite, strings.Join(debianPackages, ","))
	if stampOK(dir, key) {
		fmt.Printf("node-image: %-22s cached (%s)\n", "rootfs", dir)
		return nil
	}
	tmp := dir + ".tmp"
	for _, p := range []string{dir, tmp} {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	mirror := debianMirror()
	l.printf("mirror %s", mirror)
	c := l.cmd("nice", "-n", "10", "debootstrap", "--variant=minbase", "--include="+strings.Join(debianPackages, ","), debianSuite, tmp, mirror)
	c.Env = []string{"DEBIAN_FRONTEND=noninteractive"}
	if err := c.Run(ctx); err != nil {
		return err
	}
	// Package caches are not part of the image.
	if err := os.RemoveAll(filepath.Join(tmp, "var/cache/apt/archives")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "var/cache/apt/archives/partial"), 0o755); err != nil {
		return err
	}
	if err := writeStamp(tmp, key); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// debianMirror is the host's Debian mirror (deb822 sources), else deb.debian.org.
func debianMirror() string {
	if m := os.Getenv("KIC_DEBIAN_MIRROR"); m != "" {
		return m
	}
	f, err := os.Open("/etc/apt/sources.list.d/debian.sources")
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if uris, ok := strings.CutPrefix(line, "URIs:"); ok {
				for _, u := range strings.Fields(uris) {
					if !strings.Contains(u, "security") {
						return u
					}
				}
			}
		}
	}
	return "http://deb.debian.org/debian"
}
