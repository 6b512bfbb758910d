// Command probeimage writes the suite's probe image archive: the static probe
// program (framework/probe/cmd/probe) at /probe, its ENTRYPOINT, with
// /bin/sleep linked to it so that the documented examples' `sleep 3600` and
// `sleep infinity` commands run the probe unchanged. No base image, no
// Dockerfile: the image is written from Go (framework/images).
//
//	go run ./scripts/probeimage [--out _build/images/probe.tar]
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
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
)

func main() {
	out := flag.String("out", probe.ArchivePath, "archive to write (docker save format)")
	ref := flag.String("image", probe.Image, "image reference")
	load := flag.Bool("docker-load", false, "also load the image into the local Docker engine")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if err := run(ctx, *out, *ref, *load); err != nil {
		fmt.Fprintf(os.Stderr, "probe-image: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("probe-image: %s written to %s in %s\n", *ref, *out, time.Since(start).Round(100*time.Millisecond))
}

func run(ctx context.Context, out, ref string, load bool) error {
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(dir, "probe")
	build := hostexec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./framework/probe/cmd/probe")
	build.Env = []string{"CGO_ENABLED=0"}
	if err := build.Run(ctx); err != nil {
		return fmt.Errorf("build the probe: %w", err)
	}
	layer, err := images.FilesLayer(dir, []images.File{
		{Path: "/probe", Source: bin, Mode: 0o755},
		{Path: "/bin/sleep", Link: "/probe"},
		{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
	})
	if err != nil {
		return err
	}
	defer os.Remove(layer.Path())
	img := images.Image{Ref: ref, Layers: []images.Layer{layer}, Config: images.Config{
		Entrypoint: []string{"/probe"},
		Env:        []string{"PATH=/bin"},
		Labels:     map[string]string{"io.kic.role": "probe"},
	}}
	if err := images.WriteArchive(out, img); err != nil {
		return err
	}
	if load {
		return images.Load(ctx, img)
	}
	return nil
}
