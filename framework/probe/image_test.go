package probe_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/images"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
)

func TestCheckArchive(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "probe.tar")
	layer, err := images.FilesLayer(dir, []images.File{{Path: "/bin/sleep", Link: "/probe"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := images.WriteArchive(archive, images.Image{Ref: "kic.local/probe:dev", Layers: []images.Layer{layer}}); err != nil {
		t.Fatal(err)
	}
	if err := probe.CheckArchive(archive, "kic.local/probe:dev"); err != nil {
		t.Errorf("matching tag: %v", err)
	}
	for image, want := range map[string]string{
		"kic.local/probe:other":       "holds [kic.local/probe:dev], not --probe-image kic.local/probe:other",
		"registry.example/probe:v1":   "nothing is pulled",
		"Not A Reference":             "--probe-image",
		"kic.local/probe@sha256:0000": "--probe-image",
	} {
		if err := probe.CheckArchive(archive, image); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckArchive(%q) = %v, want an error containing %q", image, err, want)
		}
	}
	if err := probe.CheckArchive(filepath.Join(dir, "missing.tar"), "kic.local/probe:dev"); err == nil || !strings.Contains(err.Error(), "make probe-image") {
		t.Errorf("missing archive: %v", err)
	}
}
