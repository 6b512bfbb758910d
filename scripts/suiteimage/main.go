// Command suiteimage writes the suite image archive: the compiled suite
// (go test -c ./tests) at /kic/tests.test, the Go distribution's test2json at
// /kic/test2json, and the entry program (scripts/incluster/entry), its
// ENTRYPOINT, which runs the suite with --in-cluster against the cluster
// its pod runs in, as a Sonobuoy plugin or the in-cluster Job
// (scripts/incluster). Like the probe image: every binary static, no base
// image, no Dockerfile, written from Go (framework/images). No CA bundle: the
// suite talks only to the API server, trusted through the ServiceAccount's
// CA.
//
//	go run ./scripts/suiteimage [--out _build/images/suite.tar] [--image kic.local/suite:dev]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/images"
)

// Image is the default reference of the suite image; the manifests in
// scripts/incluster name it (imagePullPolicy IfNotPresent: loaded onto the
// nodes, never pulled).
const Image = "kic.local/suite:dev"

// ArchivePath is where the archive goes, relative to the repository root.
const ArchivePath = "_build/images/suite.tar"

// User runs the suite: any user can, and none needs root.
const User = "65532:65532"

func main() {
	out := flag.String("out", ArchivePath, "archive to write (docker save format)")
	ref := flag.String("image", Image, "image reference")
	load := flag.Bool("docker-load", false, "also load the image into the local Docker engine")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if err := run(ctx, *out, *ref, *load); err != nil {
		fmt.Fprintf(os.Stderr, "suite-image: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("suite-image: %s written to %s in %s\n", *ref, *out, time.Since(start).Round(100*time.Millisecond))
}

// binaries are built for the image: name in /kic, and the go command's
// arguments after the output flag.
var binaries = []struct {
	name string
	args []string
}{
	{"tests.test", []string{"test", "-c", "-trimpath", "-ldflags", "-s -w", "-o", "", "./tests"}},
	{"entry", []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", "", "./scripts/incluster/entry"}},
	// From the Go distribution that builds the suite, as `go test -json`
	// uses it.
	{"test2json", []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", "", "cmd/test2json"}},
}

func run(ctx context.Context, out, ref string, load bool) error {
	dir := filepath.Join(filepath.Dir(out), "suite")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := []images.File{{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777}}
	for _, b := range binaries {
		bin := filepath.Join(dir, b.name)
		args := append([]string(nil), b.args...)
		for i, a := range args {
			if a == "" && i > 0 && args[i-1] == "-o" {
				args[i] = bin
			}
		}
		cmd := hostexec.Command("go", args...)
		cmd.Env = []string{"CGO_ENABLED=0"}
		if err := cmd.Run(ctx); err != nil {
			return fmt.Errorf("build %s: %w", b.name, err)
		}
		files = append(files, images.File{Path: "/kic/" + b.name, Source: bin, Mode: 0o755})
	}
	layer, err := images.FilesLayer(filepath.Dir(out), files)
	if err != nil {
		return err
	}
	defer os.Remove(layer.Path())
	img := images.Image{Ref: ref, Layers: []images.Layer{layer}, Config: images.Config{
		Entrypoint: []string{"/kic/entry"},
		Env:        []string{"PATH=/kic", "TMPDIR=/tmp"},
		User:       User,
		WorkingDir: "/kic",
		Labels:     map[string]string{"io.kic.role": "suite"},
	}}
	if err := images.WriteArchive(out, img); err != nil {
		return err
	}
	if d, err := layer.DiffID(); err == nil {
		fmt.Printf("suite-image: layer %s\n", d)
	}
	if load {
		return images.Load(ctx, img)
	}
	return nil
}
