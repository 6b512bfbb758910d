// Package images writes container images from Go, with no Dockerfile, no
// `docker build` and no base image: each image is a list of files (or a
// directory tree) turned into uncompressed layers with go-containerregistry,
// plus an explicit image config.
//
// The archives are in `docker save` format, which `docker load`, containerd's
// `ctr images import` and kind's image loading all read. Layers are written
// uncompressed: every consumer here is local, and gzip would cost minutes of CPU
// for the node image on a 2-core machine. Timestamps are fixed, so the same
// inputs give the same image digests.
package images

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
)

// Epoch is the modification time given to generated files and the creation
// time of every image, so that builds are reproducible.
var Epoch = time.Unix(946684800, 0).UTC() // 2000-01-01T00:00:00Z

// The labels of the project's node images (scripts/nodeimage), which the
// suite reads back (framework/runtime).
const (
	LabelKubernetesVersion = "io.kic.kubernetes-version" // what the binaries report
	LabelInputs            = "io.kic.inputs"             // the hash its tag is made from
	LabelSource            = "io.kic.source"             // the source tree of a source image
	LabelBase              = "io.kic.base"               // the image a source image is built on
)

// File is one entry of a layer built from a file list.
type File struct {
	// Path is the absolute path inside the image.
	Path string
	// Mode holds the permission bits; os.ModeDir and os.ModeSymlink select a
	// directory or a symlink. Zero means 0644 for files and 0755 for directories.
	Mode os.FileMode
	// Data is the content of a regular file, unless Source is set.
	Data []byte
	// Source is a host file whose content is copied (its mode is used when
	// Mode is zero).
	Source string
	// Link is the target of a symlink.
	Link string
	// UID and GID own the entry.
	UID, GID int
}

// Config is the part of the OCI image config the suite sets.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
	StopSignal string
	Labels     map[string]string
	// ExposedPorts such as "53/udp".
	ExposedPorts []string
}

// Image describes one image: its reference, its layers and its config.
type Image struct {
	// Ref is the tag the image is written under, e.g. "registry.k8s.io/pause:3.10.2".
	Ref string
	// Layers are built in order, bottom first.
	Layers []Layer
	Config Config
}

// Layer is one image layer, made by New* functions in this package.
type Layer struct {
	v1.Layer
	desc string
}

// FilesLayer builds a layer holding files, written to a temporary tar in dir
// ("" = the system temp dir). Parent directories are added as needed.
func FilesLayer(dir string, files []File) (Layer, error) {
	return writeLayer(dir, fmt.Sprintf("%d files", len(files)), func(tw *tar.Writer) error {
		return writeFiles(tw, files)
	})
}

// TreeLayer builds a layer from a directory tree on the host, keeping numeric
// owners, modes, hard links, symlinks and device nodes, in lexical order.
// Paths listed in exclude (relative to root, e.g. "var/lib/containerd") are left out.
func TreeLayer(dir, root string, exclude ...string) (Layer, error) {
	return writeLayer(dir, "tree "+root, func(tw *tar.Writer) error {
		return writeTree(tw, root, "", exclude)
	})
}

// SubtreeLayer builds a layer holding only root/sub (with its parents), e.g.
// the preloaded var/lib/containerd of a node image.
func SubtreeLayer(dir, root, sub string) (Layer, error) {
	return writeLayer(dir, "tree "+path.Join(root, sub), func(tw *tar.Writer) error {
		return writeTree(tw, root, sub, nil)
	})
}

// Build assembles the image's config and layers.
func Build(img Image) (v1.Image, error) {
	cfg := v1.Config{
		Entrypoint: img.Config.Entrypoint,
		Cmd:        img.Config.Cmd,
		Env:        img.Config.Env,
		User:       img.Config.User,
		WorkingDir: img.Config.WorkingDir,
		StopSignal: img.Config.StopSignal,
		Labels:     img.Config.Labels,
	}
	if len(img.Config.ExposedPorts) > 0 {
		cfg.ExposedPorts = map[string]struct{}{}
		for _, p := range img.Config.ExposedPorts {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: Epoch},
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", img.Ref, err)
	}
	adds := make([]mutate.Addendum, 0, len(img.Layers))
	for _, l := range img.Layers {
		adds = append(adds, mutate.Addendum{
			Layer:     l.Layer,
			MediaType: types.DockerUncompressedLayer,
			History:   v1.History{Created: v1.Time{Time: Epoch}, CreatedBy: "kube-identity-conformance: " + l.desc},
		})
	}
	out, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, fmt.Errorf("image %s: layers: %w", img.Ref, err)
	}
	out = mutate.MediaType(out, types.DockerManifestSchema2)
	out = mutate.ConfigMediaType(out, types.DockerConfigJSON)
	return out, nil
}

// WriteArchive writes images to one `docker save` archive at file.
func WriteArchive(file string, imgs ...Image) error {
	refs, err := buildAll(imgs)
	if err != nil {
		return err
	}
	if err := tarball.MultiRefWriteToFile(file, refs); err != nil {
		return fmt.Errorf("write image archive %s: %w", file, err)
	}
	return nil
}

// WriteTo streams images as one `docker save` archive to w (for `docker load`).
func WriteTo(w io.Writer, imgs ...Image) error {
	refs, err := buildAll(imgs)
	if err != nil {
		return err
	}
	if err := tarball.MultiRefWrite(refs, w); err != nil {
		return fmt.Errorf("write image archive: %w", err)
	}
	return nil
}

func buildAll(imgs []Image) (map[name.Reference]v1.Image, error) {
	refs := make(map[name.Reference]v1.Image, len(imgs))
	for _, img := range imgs {
		tag, err := name.NewTag(img.Ref)
		if err != nil {
			return nil, fmt.Errorf("image reference %q: %w", img.Ref, err)
		}
		built, err := Build(img)
		if err != nil {
			return nil, err
		}
		refs[tag] = built
	}
	return refs, nil
}

// writeLayer writes a tar produced by fill to a temporary file while hashing it.
func writeLayer(dir, desc string, fill func(*tar.Writer) error) (Layer, error) {
	f, err := os.CreateTemp(dir, "layer-*.tar")
	if err != nil {
		return Layer{}, fmt.Errorf("layer %s: %w", desc, err)
	}
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(f, h))
	werr := fill(tw)
	if werr == nil {
		werr = tw.Close()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(f.Name())
		return Layer{}, fmt.Errorf("layer %s: %w", desc, werr)
	}
	st, err := os.Stat(f.Name())
	if err != nil {
		return Layer{}, fmt.Errorf("layer %s: %w", desc, err)
	}
	diffID := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", h.Sum(nil))}
	return Layer{Layer: &fileLayer{path: f.Name(), diffID: diffID, size: st.Size()}, desc: desc}, nil
}

// Path returns the host file holding the layer's tar (for clean-up).
func (l Layer) Path() string {
	if fl, ok := l.Layer.(*fileLayer); ok {
		return fl.path
	}
	return ""
}

// fileLayer is an uncompressed layer stored in a host file: its digest and
// diff ID are the same hash.
type fileLayer struct {
	path   string
	diffID v1.Hash
	size   int64
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.diffID, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.diffID, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) {
	return types.DockerUncompressedLayer, nil
}

// writeFiles writes a file list, adding missing parent directories first.
func writeFiles(tw *tar.Writer, files []File) error {
	sorted := append([]File(nil), files...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	seen := map[string]bool{}
	for _, f := range sorted {
		if !path.IsAbs(f.Path) {
			return fmt.Errorf("file path %q is not absolute", f.Path)
		}
		p := strings.TrimPrefix(path.Clean(f.Path), "/")
		if seen[p] {
			return fmt.Errorf("file %s listed twice", f.Path)
		}
		for _, parent := range parents(p) {
			if !seen[parent] {
				seen[parent] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: parent + "/", Mode: 0o755, ModTime: Epoch, Format: tar.FormatPAX}); err != nil {
					return err
				}
			}
		}
		seen[p] = true
		if err := writeFile(tw, p, f); err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
	}
	return nil
}

func writeFile(tw *tar.Writer, p string, f File) error {
	hdr := &tar.Header{Name: p, Uid: f.UID, Gid: f.GID, ModTime: Epoch, Format: tar.FormatPAX}
	switch {
	case f.Mode&os.ModeDir != 0:
		hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, p+"/", int64(perm(f.Mode, 0o755))
		return tw.WriteHeader(hdr)
	case f.Mode&os.ModeSymlink != 0 || f.Link != "":
		hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, f.Link, 0o777
		return tw.WriteHeader(hdr)
	}
	data, mode := f.Data, f.Mode
	if f.Source != "" {
		b, err := os.ReadFile(f.Source)
		if err != nil {
			return err
		}
		data = b
		if mode == 0 {
			st, err := os.Stat(f.Source)
			if err != nil {
				return err
			}
			mode = st.Mode()
		}
	}
	hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, int64(perm(mode, 0o644)), int64(len(data))
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

func perm(m os.FileMode, def os.FileMode) os.FileMode {
	bits := m & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
	if bits == 0 {
		return def
	}
	// archive/tar expects the Unix bit layout for setuid/setgid/sticky.
	out := bits & os.ModePerm
	if bits&os.ModeSetuid != 0 {
		out |= 0o4000
	}
	if bits&os.ModeSetgid != 0 {
		out |= 0o2000
	}
	if bits&os.ModeSticky != 0 {
		out |= 0o1000
	}
	return out
}

// parents returns the parent directories of a relative path, outermost first.
func parents(p string) []string {
	var out []string
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}

// Load streams images into the local Docker engine with `docker load`, with
// no archive written to disk.
func Load(ctx context.Context, imgs ...Image) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(WriteTo(pw, imgs...)) }()
	cmd := hostexec.Command("docker", "load")
	cmd.Stdin = pr
	err := cmd.Run(ctx)
	pr.CloseWithError(io.EOF) // unblock the writer if docker stopped reading
	if err != nil {
		return fmt.Errorf("docker load: %w", err)
	}
	return nil
}

// PresentLayer is a layer the local Docker engine already holds (one of an
// image it has, named by its diff ID, as `docker image inspect` lists them
// under RootFS.Layers). An archive carries no content for it: `docker load`
// looks a layer up by its chain ID (the diff IDs of it and every layer below)
// and reads the archive only for the layers it does not hold, so an image on
// top of a local one is written and loaded without rewriting the layers they
// share. It must sit where it sits in the image it comes from, above the same
// layers: otherwise the engine does not hold that chain and the load fails.
func PresentLayer(diffID string) (Layer, error) {
	h, err := v1.NewHash(diffID)
	if err != nil {
		return Layer{}, fmt.Errorf("layer diff ID %q: %w", diffID, err)
	}
	return Layer{Layer: presentLayer{h}, desc: "present " + h.Hex[:12]}, nil
}

// Present reports whether the layer is one the engine holds (PresentLayer).
func (l Layer) Present() bool {
	_, ok := l.Layer.(presentLayer)
	return ok
}

type presentLayer struct{ diffID v1.Hash }

func (l presentLayer) Digest() (v1.Hash, error) { return l.diffID, nil }
func (l presentLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l presentLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}
func (l presentLayer) Uncompressed() (io.ReadCloser, error) { return l.Compressed() }
func (l presentLayer) Size() (int64, error)                 { return 0, nil }
func (l presentLayer) MediaType() (types.MediaType, error) {
	return types.DockerUncompressedLayer, nil
}

// LayerIDs returns the diff IDs of a local image's layers, bottom first.
func LayerIDs(ctx context.Context, ref string) ([]string, error) {
	out, err := hostexec.Command("docker", "image", "inspect", "--format", "{{range .RootFS.Layers}}{{println .}}{{end}}", ref).Output(ctx)
	if err != nil {
		return nil, fmt.Errorf("layers of image %s: %w", ref, err)
	}
	var ids []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ids = append(ids, l)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("layers of image %s: docker lists none", ref)
	}
	return ids, nil
}
