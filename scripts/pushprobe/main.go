// Command pushprobe pushes the probe image archive (make probe-image) to a
// container registry, for runs against an existing cluster, which pulls the
// probe from there (--probe-image). No Docker engine is needed: the archive
// is read and pushed with go-containerregistry, with the credentials of the
// default keychain (~/.docker/config.json, or $DOCKER_CONFIG/config.json,
// and its credential helpers).
//
//	go run ./scripts/pushprobe --registry host[:port]/path [--tag dev] [--insecure] [--archive _build/images/probe.tar]
//	go run ./scripts/pushprobe --ref host[:port]/path/name:tag [--insecure]
//
// It prints the pushed reference with its digest and the suite flag that
// names it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
)

// Repository is the repository name the probe gets under --registry.
const Repository = "kic-probe"

// DefaultTag is the tag under --registry when --tag is not given.
const DefaultTag = "dev"

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "push-probe: %v\n", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "push-probe: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer, opts ...remote.Option) error {
	fs := flag.NewFlagSet("pushprobe", flag.ContinueOnError)
	archive := fs.String("archive", probe.ArchivePath, "the probe image archive (docker save format, written by make probe-image)")
	registry := fs.String("registry", "", "registry and path to push to, host[:port]/path: the image goes to <registry>/"+Repository+":<tag>")
	tag := fs.String("tag", DefaultTag, "tag under --registry")
	ref := fs.String("ref", "", "the full reference to push to, instead of --registry and --tag")
	insecure := fs.Bool("insecure", false, "the registry speaks plain HTTP (no TLS)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("takes no arguments, got %q", fs.Args())}
	}
	tagSet := false
	fs.Visit(func(f *flag.Flag) { tagSet = tagSet || f.Name == "tag" })
	if *ref != "" && (*registry != "" || tagSet) {
		return usageError{errors.New("--ref names the whole reference: give it, or --registry (and --tag), not both")}
	}
	target, err := Target(*registry, *tag, *ref, *insecure)
	if err != nil {
		return usageError{err}
	}
	pushed, err := Push(ctx, *archive, target, opts...)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "push-probe: pushed %s to %s\n%s\nrun the suite with: --probe-image=%s\n", *archive, target, pushed, pushed)
	return nil
}

// Target is the reference to push to: ref as it is, or
// <registry>/kic-probe:<tag>. insecure lets it be reached over plain HTTP.
func Target(registry, tag, ref string, insecure bool) (name.Tag, error) {
	opts := []name.Option{name.StrictValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	if ref != "" {
		t, err := name.NewTag(ref, opts...)
		if err != nil {
			return name.Tag{}, fmt.Errorf("--ref %q is not an image reference with a tag, e.g. registry.example.com:5000/team/kic-probe:dev: %w", ref, err)
		}
		return t, nil
	}
	if registry == "" {
		return name.Tag{}, errors.New("--registry is required (or --ref), e.g. --registry registry.example.com:5000/team, which pushes registry.example.com:5000/team/" + Repository + ":" + DefaultTag)
	}
	if strings.Contains(registry, "://") {
		return name.Tag{}, fmt.Errorf("--registry %q: give host[:port]/path without a scheme, e.g. registry.example.com:5000/team (--insecure for plain HTTP)", registry)
	}
	if tag == "" {
		return name.Tag{}, errors.New("--tag is empty: give a tag, e.g. --tag " + DefaultTag)
	}
	s := strings.TrimSuffix(registry, "/") + "/" + Repository + ":" + tag
	t, err := name.NewTag(s, opts...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("--registry %q with --tag %q make %q, not an image reference (the registry is host[:port]/path, e.g. registry.example.com:5000/team): %w", registry, tag, s, err)
	}
	return t, nil
}

// Push reads the archive's one image and pushes it to target with the
// default keychain's credentials (opts come after, so tests can replace
// them). It returns the pushed reference with the digest of the manifest
// the registry holds, REF@sha256:..., checked against the one written.
func Push(ctx context.Context, archive string, target name.Tag, opts ...remote.Option) (string, error) {
	if _, err := os.Stat(archive); err != nil {
		return "", fmt.Errorf("probe image archive %s: %w (write it with `make probe-image`)", archive, err)
	}
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		return "", fmt.Errorf("read the probe image archive %s (one image, docker save format): %w", archive, err)
	}
	want, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("the digest of the image in %s: %w", archive, err)
	}
	all := append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)
	if err := remote.Write(target, img, all...); err != nil {
		return "", fmt.Errorf("push %s to %s: %w", archive, target, hint(err, target))
	}
	desc, err := remote.Head(target, all...)
	if err != nil {
		return "", fmt.Errorf("read back %s after the push: %w", target, err)
	}
	if desc.Digest != want {
		return "", fmt.Errorf("%s is %s after the push, not the pushed image's %s (another push to the same tag?)", target, desc.Digest, want)
	}
	return Pinned(target, want), nil
}

// Pinned is the reference with its digest: REF@sha256:..., which the
// kubelet pulls by digest while the tag keeps it readable.
func Pinned(t name.Tag, d v1.Hash) string {
	return t.String() + "@" + d.String()
}

// hint adds what to try for the usual causes of a failed push: a
// plain-HTTP registry, missing or refused credentials.
func hint(err error, target name.Tag) error {
	var te *transport.Error
	switch {
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%w (the registry %s speaks plain HTTP: add --insecure, INSECURE=1 with make)", err, target.RegistryStr())
	case errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%w (credentials come from the default keychain: log in to %s so that ~/.docker/config.json, or $DOCKER_CONFIG/config.json, of the user running this holds them)", err, target.RegistryStr())
	}
	return err
}
