package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/images"
)

// recipe holds the node files (rootfs/ beside this file) the assemble step
// writes into the image. They are hashed with the program's other sources
// (inputHash, from the package's EmbedFiles), so a change gives a new image tag.
//
//go:embed all:rootfs
var recipe embed.FS

// minimum free disk space for a build from nothing: the Go build cache (about
// 4.5 GB), the root file system, the image archives and the image itself.
const minFreeBytes = 15 << 30

type builder struct {
	v         version
	root      string // the project module root
	work      string // build trees and caches
	artifacts string // step logs

	mu     sync.Mutex
	images imageList // filled by the image-list step

	// base is the node's root file system without /var/lib/containerd, as a
	// layer: made once by the preload step, reused by the image step.
	base images.Layer
}

// version is a Kubernetes release this program can build.
type version struct{ major, minor, patch int }

func (v version) String() string { return fmt.Sprintf("v%d.%d.%d", v.major, v.minor, v.patch) }

// staging is the version of the published k8s.io/* staging modules.
func (v version) staging() string { return fmt.Sprintf("v0.%d.%d", v.minor, v.patch) }

// Minors this recipe has been written for; others are refused up front.
const minMinor, maxMinor = 34, 37

var versionRE = regexp.MustCompile(`^v?(1)\.(\d+)\.(\d+)$`)

func parseVersion(s string) (version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return version{}, fmt.Errorf("kubernetes version %q is not of the form v1.MINOR.PATCH (e.g. v1.37.2)", s)
	}
	minor, _ := strconv.Atoi(m[2])
	patch, _ := strconv.Atoi(m[3])
	if minor < minMinor || minor > maxMinor {
		return version{}, fmt.Errorf("kubernetes version %s cannot be built by this program: it builds v1.%d.x to v1.%d.x", s, minMinor, maxMinor)
	}
	return version{1, minor, patch}, nil
}

// stepFunc does one step, writing its tool output to the step log.
type stepFunc func(ctx context.Context, log *stepLog) error

// stepLog is a step's log file.
type stepLog struct {
	io.Writer
	path string
}

// printf writes a line to the log.
func (l *stepLog) printf(format string, args ...any) {
	fmt.Fprintf(l, format+"\n", args...)
}

// cmd returns a host command whose output goes to the log.
func (l *stepLog) cmd(name string, args ...string) *hostexec.Cmd {
	c := hostexec.Command(name, args...)
	c.Stdout, c.Stderr = l, l
	fmt.Fprintf(l, "$ %s\n", c)
	return c
}

// step runs fn as a named step: it prints the name and elapsed time, keeps the
// log under the artifacts directory, and on failure names the step, the log
// and its last lines.
func (b *builder) step(ctx context.Context, name string, fn stepFunc) error {
	if err := os.MkdirAll(b.artifacts, 0o755); err != nil {
		return fmt.Errorf("step %s: %w", name, err)
	}
	path := filepath.Join(b.artifacts, name+".log")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("step %s: %w", name, err)
	}
	defer f.Close()
	start := time.Now()
	fmt.Printf("node-image: %-22s started\n", name)
	l := &stepLog{Writer: &syncWriter{w: f}, path: path}
	if err := fn(ctx, l); err != nil {
		l.printf("ERROR: %v", err)
		fmt.Fprintf(os.Stderr, "node-image: step %s failed after %s (log: %s)%s\n", name, since(start), path, logTail(path, 15))
		return fmt.Errorf("step %s: %w", name, err)
	}
	fmt.Printf("node-image: %-22s done in %s\n", name, since(start))
	return nil
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n    " + strings.Join(lines, "\n    ")
}

// moduleRoot finds the project's module root (the program runs with go run).
func moduleRoot(ctx context.Context) (string, error) {
	gomod, err := hostexec.Command("go", "env", "GOMOD").Output(ctx)
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run this program from the kube-identity-conformance module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

func (b *builder) checkDocker(ctx context.Context, l *stepLog) error {
	out, err := hostexec.Command("docker", "info", "--format", "{{.ServerVersion}}").Output(ctx)
	if err != nil {
		return fmt.Errorf("no Docker engine answers (run `make host-setup`): %w", err)
	}
	l.printf("docker server %s", out)
	return nil
}

func (b *builder) imageExists(ctx context.Context, ref string) bool {
	return hostexec.Command("docker", "image", "inspect", "--format", "{{.Id}}", ref).Run(ctx) == nil
}

func (b *builder) tag(ctx context.Context, from, to string) error {
	if err := hostexec.Command("docker", "tag", from, to).Run(ctx); err != nil {
		return fmt.Errorf("tag %s as %s: %w", from, to, err)
	}
	return nil
}

// preflight checks what a build from source needs before it starts.
func (b *builder) preflight(ctx context.Context, l *stepLog) error {
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return err
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(b.work, &st); err != nil {
		return fmt.Errorf("disk space of %s: %w", b.work, err)
	}
	free := st.Bavail * uint64(st.Bsize)
	l.printf("free disk space on %s: %.1f GiB", b.work, float64(free)/(1<<30))
	if free < minFreeBytes {
		return fmt.Errorf("not enough disk space for a node image build: %.1f GiB free on %s, %d GiB needed", float64(free)/(1<<30), b.work, minFreeBytes>>30)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("building a node image needs root (debootstrap, device nodes and file owners in the root file system)")
	}
	if !hostexec.Available("debootstrap") {
		l.printf("debootstrap is missing: installing it with apt-get")
		fmt.Println("node-image: installing debootstrap with apt-get")
		if err := aptInstall(ctx, l, "debootstrap"); err != nil {
			return fmt.Errorf("debootstrap is needed and could not be installed: %w", err)
		}
	}
	// The k8s.io/kubernetes module must exist at this version.
	out, err := hostexec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@"+b.v.String()).Output(ctx)
	if err != nil {
		return fmt.Errorf("unknown Kubernetes version %s: the Go module proxy has no k8s.io/kubernetes@%s: %w", b.v, b.v, err)
	}
	l.printf("%s", out)
	return nil
}

func aptInstall(ctx context.Context, l *stepLog, pkgs ...string) error {
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	install := l.cmd("apt-get", append([]string{"install", "-y", "-q"}, pkgs...)...)
	install.Env = env
	if err := install.Run(ctx); err == nil {
		return nil
	}
	update := l.cmd("apt-get", "update", "-q")
	update.Env = env
	if err := update.Run(ctx); err != nil {
		return err
	}
	install = l.cmd("apt-get", append([]string{"install", "-y", "-q"}, pkgs...)...)
	install.Env = env
	return install.Run(ctx)
}

// stamp files mark a finished cache entry with the key that made it.
func stampOK(dir, key string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ".kic-done"))
	return err == nil && strings.TrimSpace(string(b)) == key
}

func writeStamp(dir, key string) error {
	return os.WriteFile(filepath.Join(dir, ".kic-done"), []byte(key+"\n"), 0o644)
}

func keyOf(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])[:16]
}

// readLines returns the non-empty lines of s.
func readLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	return out
}
