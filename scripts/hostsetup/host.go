package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/images"
)

// host is everything the tool reads and changes on the machine: its files,
// the commands it runs, the signals it sends, its identity and environment.
// realHost is the machine itself; the tests use a fake one rooted in a
// temporary directory.
type host interface {
	// Path returns where the absolute host path p (/etc/docker/daemon.json,
	// /run/systemd/system, /proc/1/comm) is found: p itself on the real
	// host, p under the fake's root in tests. Paths handed to commands go
	// through Path too; the host paths in messages and in the state file do
	// not.
	Path(p string) string
	// Run runs cmd to completion and returns its combined output, trimmed
	// (what hostexec.Cmd.Output returns).
	Run(ctx context.Context, cmd *hostexec.Cmd) (string, error)
	// LookPath finds a program on PATH and returns its host path.
	LookPath(name string) (string, error)
	// LoadImage loads img into the Docker engine.
	LoadImage(ctx context.Context, img images.Image) error
	// Signal sends sig to process pid.
	Signal(pid int, sig syscall.Signal) error
	// Geteuid is the effective user id of this process.
	Geteuid() int
	// Getenv is the value of an environment variable, "" when unset.
	Getenv(key string) string
}

// realHost is the machine the tool runs on.
type realHost struct{}

func (realHost) Path(p string) string { return filepath.Clean(p) }

func (realHost) Run(ctx context.Context, cmd *hostexec.Cmd) (string, error) {
	return cmd.Output(ctx)
}

func (realHost) LookPath(name string) (string, error) { return exec.LookPath(name) }

func (realHost) LoadImage(ctx context.Context, img images.Image) error {
	return images.Load(ctx, img)
}

func (realHost) Signal(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

func (realHost) Geteuid() int { return os.Geteuid() }

func (realHost) Getenv(key string) string { return os.Getenv(key) }
