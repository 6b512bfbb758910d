package probe

import (
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Image is the default reference of the probe image: the probe binary at
// /probe (the entrypoint) and /bin/sleep linked to it. scripts/probeimage
// writes it; in kind mode the suite loads it from ArchivePath, so nothing is
// pulled (fixtures.ForProbe sets imagePullPolicy IfNotPresent).
const Image = "kic.local/probe:dev"

// ArchivePath is where scripts/probeimage writes the probe image archive
// (docker save format), relative to the repository root.
const ArchivePath = "_build/images/probe.tar"

// CheckArchive makes sure the archive (docker save format) holds image
// under that exact tag: in kind mode the pods run image, and nothing can be
// pulled, so an archive of another tag would leave every pod waiting for an
// image that never comes.
func CheckArchive(archive, image string) error {
	if _, err := os.Stat(archive); err != nil {
		return fmt.Errorf("probe image archive %s is missing (run `make probe-image`): %w", archive, err)
	}
	want, err := name.ParseReference(image)
	if err != nil {
		return fmt.Errorf("--probe-image %q: %w", image, err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(archive) })
	if err != nil {
		return fmt.Errorf("probe image archive %s: reading its manifest.json: %w", archive, err)
	}
	var tags []string
	for _, d := range m {
		for _, t := range d.RepoTags {
			tags = append(tags, t)
			if ref, err := name.ParseReference(t); err == nil && ref.Name() == want.Name() {
				return nil
			}
		}
	}
	return fmt.Errorf("probe image archive %s holds %v, not --probe-image %s: in kind mode the pods run the loaded image and nothing is pulled; "+
		"pass --probe-image matching the archive, or write the archive for that tag (go run ./scripts/probeimage --image %s)", archive, tags, image, image)
}
