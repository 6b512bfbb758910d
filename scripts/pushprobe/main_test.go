package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// archive writes a docker save archive of a small random image under the
// probe's default tag, as make probe-image does.
func archive(t *testing.T) (string, v1.Image) {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag("kic.local/probe:dev")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "probe.tar")
	if err := tarball.WriteToFile(p, tag, img); err != nil {
		t.Fatal(err)
	}
	return p, img
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	r, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// isolate keeps the developer's ~/.docker/config.json out of the test.
func isolate(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
}

// quietRegistry is an in-process registry that does not log each request.
func quietRegistry() http.Handler {
	return registry.New(registry.Logger(log.New(io.Discard, "", 0)))
}

func registryHost(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestPushToARegistry pushes the archive to an in-process registry, pulls
// the manifest back and compares it with the archive's image.
func TestPushToARegistry(t *testing.T) {
	isolate(t)
	path, img := archive(t)
	host := registryHost(t, quietRegistry())
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--archive", path, "--registry", host + "/team/", "--tag", "v1"}, &out); err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/team/kic-probe:v1"
	pinned := ref + "@" + want.String()
	for _, line := range []string{pinned + "\n", "run the suite with: --probe-image=" + pinned + "\n"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, &out)
		}
	}

	pulled, err := remote.Get(mustRef(t, ref))
	if err != nil {
		t.Fatalf("pull the manifest back: %v", err)
	}
	if pulled.Digest != want {
		t.Errorf("the registry holds %s, the archive's image is %s", pulled.Digest, want)
	}
	// The pinned reference (tag and digest), as the suite is given it, is
	// pulled by its digest.
	byDigest, err := remote.Image(mustRef(t, pinned))
	if err != nil {
		t.Fatalf("pull by digest: %v", err)
	}
	gotLayers, err := byDigest.Layers()
	if err != nil {
		t.Fatal(err)
	}
	wantLayers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(gotLayers) != len(wantLayers) {
		t.Fatalf("%d layers pulled, %d pushed", len(gotLayers), len(wantLayers))
	}
	for i := range gotLayers {
		g, _ := gotLayers[i].DiffID()
		w, _ := wantLayers[i].DiffID()
		if g != w {
			t.Errorf("layer %d: %s pulled, %s pushed", i, g, w)
		}
	}
}

// TestPushToAFullReference: --ref is used as it is.
func TestPushToAFullReference(t *testing.T) {
	isolate(t)
	path, _ := archive(t)
	host := registryHost(t, quietRegistry())
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--archive", path, "--ref", host + "/vendor/probe:1.0"}, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(mustRef(t, host+"/vendor/probe:1.0")); err != nil {
		t.Errorf("nothing at the given reference: %v\n%s", err, &out)
	}
}

// TestInsecureReachesAPlainHTTPRegistry: a registry whose name is not a
// loopback one is spoken to over TLS unless --insecure; without it the
// error says to add it.
func TestInsecureReachesAPlainHTTPRegistry(t *testing.T) {
	isolate(t)
	path, _ := archive(t)
	addr := registryHost(t, quietRegistry())
	// Every connection goes to the test registry, whatever the name.
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	args := []string{"--archive", path, "--registry", "registry.example.com:5000/team"}
	err := run(context.Background(), args, &bytes.Buffer{}, remote.WithTransport(tr))
	if err == nil || !strings.Contains(err.Error(), "add --insecure") {
		t.Errorf("plain-HTTP registry without --insecure: %v; want the hint to add --insecure", err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), append(args, "--insecure"), &out, remote.WithTransport(tr)); err != nil {
		t.Fatalf("with --insecure: %v", err)
	}
	if !strings.Contains(out.String(), "--probe-image=registry.example.com:5000/team/kic-probe:dev@sha256:") {
		t.Errorf("output:\n%s", &out)
	}
}

// TestRefusedCredentialsSayWhereTheyComeFrom: a 401 names the keychain.
func TestRefusedCredentialsSayWhereTheyComeFrom(t *testing.T) {
	isolate(t)
	path, _ := archive(t)
	host := registryHost(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	err := run(context.Background(), []string{"--archive", path, "--registry", host + "/team"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "default keychain") || !strings.Contains(err.Error(), "DOCKER_CONFIG") {
		t.Errorf("refused push: %v; want the keychain named", err)
	}
}

// TestMissingArchive: the error names the archive and how to write it, and
// nothing is pushed.
func TestMissingArchive(t *testing.T) {
	isolate(t)
	pushed := false
	host := registryHost(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { pushed = true }))
	missing := filepath.Join(t.TempDir(), "probe.tar")
	err := run(context.Background(), []string{"--archive", missing, "--registry", host + "/team"}, &bytes.Buffer{})
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "make probe-image") {
		t.Errorf("missing archive: %v; want it named, with make probe-image", err)
	}
	if pushed {
		t.Error("the registry was contacted for a missing archive")
	}
}

// TestNotAnArchive: a file that is no docker save archive is refused with
// its name.
func TestNotAnArchive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "probe.tar")
	if err := os.WriteFile(p, []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Push(context.Background(), p, mustTag(t, "127.0.0.1:1/team/kic-probe:dev"))
	if err == nil || !strings.Contains(err.Error(), "read the probe image archive "+p) {
		t.Errorf("not an archive: %v", err)
	}
}

func TestTarget(t *testing.T) {
	for _, c := range []struct {
		registry, tag, ref string
		insecure           bool
		want, scheme       string
	}{
		{registry: "registry.example.com:5000/team", tag: "dev", want: "registry.example.com:5000/team/kic-probe:dev", scheme: "https"},
		{registry: "registry.example.com/a/b/", tag: "v2", insecure: true, want: "registry.example.com/a/b/kic-probe:v2", scheme: "http"},
		{registry: "ghcr.io", tag: "dev", want: "ghcr.io/kic-probe:dev", scheme: "https"},
		{ref: "registry.example.com/x/probe:1", want: "registry.example.com/x/probe:1", scheme: "https"},
	} {
		got, err := Target(c.registry, c.tag, c.ref, c.insecure)
		if err != nil || got.String() != c.want || got.Scheme() != c.scheme {
			t.Errorf("Target(%q, %q, %q, %v) = %v (%s), %v; want %s (%s)", c.registry, c.tag, c.ref, c.insecure, got, got.Scheme(), err, c.want, c.scheme)
		}
	}
	for _, c := range []struct{ registry, tag, ref, wantErr string }{
		{tag: "dev", wantErr: "--registry is required (or --ref), e.g. --registry registry.example.com:5000/team"},
		{registry: "https://registry.example.com/team", tag: "dev", wantErr: "without a scheme"},
		{registry: "team", tag: "dev", wantErr: "host[:port]/path"}, // no registry host: Docker Hub is not guessed
		{registry: "registry.example.com/Team", tag: "dev", wantErr: "not an image reference"},
		{registry: "registry.example.com/team", wantErr: "--tag is empty"},
		{ref: "registry.example.com/x/probe", wantErr: "--ref"}, // no tag
	} {
		if _, err := Target(c.registry, c.tag, c.ref, false); err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("Target(%q, %q, %q): %v; want an error with %q", c.registry, c.tag, c.ref, err, c.wantErr)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"--ref", "r.example.com/a:b", "--registry", "r.example.com"}, {"--ref", "r.example.com/a:b", "--tag", "x"}, {"extra"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}); !errors.As(err, new(usageError)) {
			t.Errorf("%q: %v; want a usage error", args, err)
		}
	}
}
