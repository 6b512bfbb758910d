package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/images"
)

// ensureProbeImage loads the probe image unless Docker already has it. It
// needs no confirmation: the probe is how the tool finds out whether the
// host needs changes at all, and the image only adds kic.local/ content to
// Docker's image store, as `make images` does.
func (s *setup) ensureProbeImage(ctx context.Context) error {
	const step = "probe image"
	if s.engineLater {
		s.report(step, "%s is loaded once the engine runs", probeRef)
		return nil
	}
	if _, err := s.docker(ctx, dockerCallTimeout, "image", "inspect", "--format", "{{.Id}}", probeRef); err == nil {
		s.report(step, "%s already loaded", probeRef)
		return nil
	}
	if s.opts.check {
		return fmt.Errorf("%s is not loaded and --check changes nothing: run without --check to probe privileged containers", probeRef)
	}
	root, err := s.moduleRoot(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "kic-hostsetup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "probe")
	if err := s.goBuild(ctx, root, probePkg, bin, ""); err != nil {
		return err
	}
	layer, err := images.FilesLayer(tmp, []images.File{{Path: "/probe", Source: bin, Mode: 0o755}})
	if err != nil {
		return fmt.Errorf("probe image layer: %w", err)
	}
	img := images.Image{
		Ref:    probeRef,
		Layers: []images.Layer{layer},
		Config: images.Config{Entrypoint: []string{"/probe"}},
	}
	if err := s.h.LoadImage(ctx, img); err != nil {
		return fmt.Errorf("load %s: %w", probeRef, err)
	}
	s.report(step, "loaded %s (static Go binary from %s)", probeRef, probePkg)
	return nil
}

// moduleRoot returns the directory of the main module, from `go env GOMOD`
// run in the working directory.
func (s *setup) moduleRoot(ctx context.Context) (string, error) {
	if !s.available("go") {
		return "", errors.New("the go command is not on PATH; it is needed to build the probe and the runtime wrapper")
	}
	gomod, err := s.h.Run(ctx, hostexec.Command("go", "env", "GOMOD"))
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the kube-identity-conformance module: run from its root (go run ./scripts/hostsetup)")
	}
	root := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(root, "scripts", "runc-nosysresource")); err != nil {
		return "", fmt.Errorf("module at %s lacks scripts/runc-nosysresource: run from the kube-identity-conformance module: %w", root, err)
	}
	return root, nil
}

// goBuild builds pkg of the module at root into a static binary at out.
// ldflags are added to "-s -w".
func (s *setup) goBuild(ctx context.Context, root, pkg, out, ldflags string) error {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	cmd := hostexec.Command("go", "build", "-trimpath", "-ldflags", strings.TrimSpace("-s -w "+ldflags), "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = []string{"CGO_ENABLED=0"}
	if _, err := s.h.Run(ctx, cmd); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	return nil
}

// probeOutcome classifies a run of the probe container.
type probeOutcome int

const (
	// probeWorks: the privileged container ran and printed "ok".
	probeWorks probeOutcome = iota
	// probeCapsDenied: runc could not grant the capabilities, the failure
	// the runtime wrapper fixes.
	probeCapsDenied
	// probeWrapperBroken: Docker's runtime is the wrapper, but its binary
	// is missing or cannot run; reinstalling it fixes that.
	probeWrapperBroken
	// probeFailed: any other failure, which this tool does not fix.
	probeFailed
)

// capsDeniedMessage is runc's error when a capability is outside the
// bounding set.
const capsDeniedMessage = "unable to apply caps"

// classifyProbe tells what a probe run that printed out and returned err
// means.
func classifyProbe(out string, err error) probeOutcome {
	if err == nil {
		for _, line := range strings.Split(out, "\n") {
			if strings.TrimSpace(line) == "ok" {
				return probeWorks
			}
		}
		return probeFailed
	}
	text := out + "\n" + err.Error()
	switch {
	case strings.Contains(text, capsDeniedMessage):
		return probeCapsDenied
	case strings.Contains(text, wrapperPath) &&
		(strings.Contains(text, "no such file or directory") || strings.Contains(text, "permission denied") || strings.Contains(text, "exec format error")):
		return probeWrapperBroken
	}
	return probeFailed
}

// runProbe runs the probe image as a privileged container.
func (s *setup) runProbe(ctx context.Context) (probeOutcome, string, error) {
	out, err := s.docker(ctx, probeTimeout, "run", "--rm", "--privileged", "--network", "none", "--pull", "never", probeRef)
	return classifyProbe(out, err), out, err
}
