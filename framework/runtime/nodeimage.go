package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/images"
)

// What a node image says about itself. The project's images
// (scripts/nodeimage) carry labels; an official kindest/node image carries
// none, and its Kubernetes version is in a file.
const (
	// LabelKubernetesVersion is the Kubernetes version of a project image.
	LabelKubernetesVersion = images.LabelKubernetesVersion
	// LabelSource, on an image built from a Kubernetes source tree, says
	// which tree (and commit).
	LabelSource = images.LabelSource
	// KindVersionFile holds the Kubernetes version in kind's node images.
	KindVersionFile = "/kind/version"
	// KindDefaultCNIFile is the default CNI manifest of kind's official
	// images (the project's images ship a static CNI configuration instead).
	KindDefaultCNIFile = "/kind/manifests/default-cni.yaml"
)

// NodeImage is the node image given for a run (--node-image), inspected once
// at its start.
type NodeImage struct {
	// Ref is the reference given; ID the image ID it names on the host.
	Ref, ID string
	// KubernetesVersion is the image's Kubernetes version, VersionFrom where
	// it was read (a label, KindVersionFile, or the tag).
	KubernetesVersion, VersionFrom string
	// Source is the LabelSource label ("" for other images).
	Source string
	// Project is set for the project's own images (LabelKubernetesVersion
	// present); other images keep kind's default CNI.
	Project bool
}

// Minor is the image's Kubernetes minor version (37 for v1.37.2).
func (n *NodeImage) Minor() (int, error) {
	v, err := parseKubernetesVersion(n.KubernetesVersion)
	if err != nil {
		return 0, fmt.Errorf("node image %s: %w", n.Ref, err)
	}
	return int(v.Minor()), nil
}

// Override is the profile setting that runs a cluster on the image.
func (n *NodeImage) Override() *clusters.NodeImageOverride {
	return &clusters.NodeImageOverride{Ref: n.Ref, KindCNI: !n.Project}
}

// Describe says what the image is, for the run's header.
func (n *NodeImage) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (--node-image: Kubernetes %s from %s", n.Ref, n.KubernetesVersion, n.VersionFrom)
	if n.Source != "" {
		fmt.Fprintf(&b, ", source %s", n.Source)
	}
	if !n.Project {
		b.WriteString(", not a project image: kind's default CNI")
	}
	b.WriteString(")")
	return b.String()
}

// errImageMissing marks an image the Docker host does not have.
var errImageMissing = errors.New("image not present")

// imageInspector reads what the run needs of an image on the Docker host;
// unit tests fake it.
type imageInspector interface {
	// inspect returns the image's ID and labels, or an error wrapping
	// errImageMissing.
	inspect(ctx context.Context, ref string) (id string, labels map[string]string, err error)
	// readFiles returns the content of each of paths the image's file
	// system has (a path it lacks is not in the map).
	readFiles(ctx context.Context, ref string, paths ...string) (map[string][]byte, error)
}

// InspectNodeImage finds the image on the Docker host and determines its
// Kubernetes version: from its LabelKubernetesVersion label, else from
// KindVersionFile in the image, else, as a last resort, from its tag. An
// image that is neither a project image nor ships kind's default CNI is
// refused: a cluster on it would never have a pod network.
func InspectNodeImage(ctx context.Context, ref string) (*NodeImage, error) {
	return inspectNodeImage(ctx, dockerImages{}, ref)
}

func inspectNodeImage(ctx context.Context, ins imageInspector, ref string) (*NodeImage, error) {
	if strings.TrimSpace(ref) == "" {
		return nil, errors.New("--node-image: empty image reference")
	}
	id, labels, err := ins.inspect(ctx, ref)
	if errors.Is(err, errImageMissing) {
		return nil, fmt.Errorf("--node-image=%s: the image is not present on the Docker host (no registry is reachable): build one from a Kubernetes source tree with `make node-image KUBERNETES_SOURCE=DIR`, or load an archive with `docker load -i FILE`", ref)
	}
	if err != nil {
		return nil, fmt.Errorf("--node-image=%s: %w", ref, err)
	}
	n := &NodeImage{Ref: ref, ID: id}
	if v, source, ok := versionFromLabels(labels); ok {
		n.KubernetesVersion, n.VersionFrom, n.Source, n.Project = v, "label "+LabelKubernetesVersion, source, true
	} else {
		files, err := ins.readFiles(ctx, ref, KindVersionFile, KindDefaultCNIFile)
		if err != nil {
			return nil, fmt.Errorf("--node-image=%s: %w", ref, err)
		}
		if _, ok := files[KindDefaultCNIFile]; !ok {
			return nil, fmt.Errorf("--node-image=%s: neither a project image (no label %s) nor one with kind's default CNI (no %s): a cluster on it would have no pod network", ref, LabelKubernetesVersion, KindDefaultCNIFile)
		}
		if data, ok := files[KindVersionFile]; ok {
			n.KubernetesVersion, n.VersionFrom = strings.TrimSpace(string(data)), KindVersionFile
		} else if tag := imageTag(ref); tag != "" {
			n.KubernetesVersion, n.VersionFrom = tag, "the image's tag (no label "+LabelKubernetesVersion+", no "+KindVersionFile+")"
		} else {
			return nil, fmt.Errorf("--node-image=%s: cannot tell its Kubernetes version: no label %s, no %s, and no tag", ref, LabelKubernetesVersion, KindVersionFile)
		}
	}
	if _, err := parseKubernetesVersion(n.KubernetesVersion); err != nil {
		return nil, fmt.Errorf("--node-image=%s: Kubernetes version from %s: %w", ref, n.VersionFrom, err)
	}
	return n, nil
}

// versionFromLabels reads a project image's Kubernetes version and source
// from its labels; ok is false for an image without the version label.
func versionFromLabels(labels map[string]string) (v, source string, ok bool) {
	v = strings.TrimSpace(labels[LabelKubernetesVersion])
	if v == "" {
		return "", "", false
	}
	return v, strings.TrimSpace(labels[LabelSource]), true
}

// parseKubernetesVersion accepts a Kubernetes 1.x version with optional
// pre-release and build parts (v1.37.2, v1.38.0-alpha.1.120+0123456789ab,
// as a source tree's git describe gives).
func parseKubernetesVersion(s string) (*version.Version, error) {
	v, err := version.ParseGeneric(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a Kubernetes version: %w", s, err)
	}
	if v.Major() != 1 {
		return nil, fmt.Errorf("%q is not a Kubernetes 1.x version", s)
	}
	return v, nil
}

// imageTag returns the tag of an image reference ("" when it has none).
func imageTag(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	i := strings.LastIndex(ref, ":")
	if i < 0 || i < strings.LastIndex(ref, "/") {
		return ""
	}
	return ref[i+1:]
}

// checkNodeImage refuses profiles whose Kubernetes minor is not the image's:
// a profile's configuration (kubeadm API version, runtime config, gates) is
// written for its minor. The error names those profiles and the ones that
// could run.
func checkNodeImage(img *NodeImage, profiles []clusters.Profile) error {
	minor, err := img.Minor()
	if err != nil {
		return err
	}
	var other []string
	for _, p := range profiles {
		pm, err := p.Minor()
		if err != nil {
			return err
		}
		if pm != minor {
			other = append(other, fmt.Sprintf("%s (%s)", p.Name, p.KubernetesVersion))
		}
	}
	if len(other) == 0 {
		return nil
	}
	sort.Strings(other)
	var same []string
	for _, p := range clusters.All() {
		if pm, err := p.Minor(); err == nil && pm == minor {
			same = append(same, p.Name)
		}
	}
	fit := fmt.Sprintf("no profile is of 1.%d", minor)
	if len(same) > 0 {
		fit = fmt.Sprintf("the profiles of 1.%d are %s", minor, strings.Join(same, ", "))
	}
	return fmt.Errorf("--node-image=%s is Kubernetes %s, but the selected features need profiles of another Kubernetes minor, which cannot run on it: %s; select fewer features (-run, --profile) so that only profiles of 1.%d run (%s)",
		img.Ref, img.KubernetesVersion, strings.Join(other, ", "), minor, fit)
}

// dockerImages reads images through the docker CLI.
type dockerImages struct{}

func (dockerImages) inspect(ctx context.Context, ref string) (string, map[string]string, error) {
	var out, errOut bytes.Buffer
	cmd := hostexec.Command("docker", "image", "inspect", ref)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(ctx); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if strings.Contains(strings.ToLower(msg), "no such image") {
			return "", nil, fmt.Errorf("%w: %s", errImageMissing, msg)
		}
		return "", nil, fmt.Errorf("%w: %s", err, msg)
	}
	var imgs []struct {
		ID     string `json:"Id"`
		Config struct {
			Labels map[string]string `json:"Labels"`
		} `json:"Config"`
	}
	if err := json.Unmarshal(out.Bytes(), &imgs); err != nil {
		return "", nil, fmt.Errorf("docker image inspect %s: %w", ref, err)
	}
	if len(imgs) != 1 || imgs[0].ID == "" {
		return "", nil, fmt.Errorf("docker image inspect %s: %d images, want one with an ID", ref, len(imgs))
	}
	return imgs[0].ID, imgs[0].Config.Labels, nil
}

// readFiles copies the files out of a container made from the image (never
// started), then removes the container.
func (dockerImages) readFiles(ctx context.Context, ref string, paths ...string) (files map[string][]byte, err error) {
	var out, errOut bytes.Buffer
	create := hostexec.Command("docker", "create", ref, "/bin/true") // a command for images without one; never run
	create.Stdout, create.Stderr = &out, &errOut
	if err := create.Run(ctx); err != nil {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(errOut.String()))
	}
	id := strings.TrimSpace(out.String())
	defer func() {
		if rmErr := hostexec.Command("docker", "rm", "-f", id).Run(context.WithoutCancel(ctx)); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove the container made to read %s: %w", ref, rmErr))
		}
	}()
	files = map[string][]byte{}
	for _, p := range paths {
		out.Reset()
		errOut.Reset()
		cp := hostexec.Command("docker", "cp", "--follow-link", id+":"+p, "-") // a tar stream of the file
		cp.Stdout, cp.Stderr = &out, &errOut
		if err := cp.Run(ctx); err != nil {
			msg := strings.TrimSpace(errOut.String())
			if strings.Contains(msg, "Could not find the file") || strings.Contains(msg, "No such container:path") {
				continue
			}
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		data, err := firstFile(&out)
		if err != nil {
			return nil, fmt.Errorf("docker cp %s from %s: %w", p, ref, err)
		}
		files[p] = data
	}
	return files, nil
}

// maxFile bounds what is read of a file in an image.
const maxFile = 1 << 20

// firstFile returns the content of the first regular file of a tar stream.
func firstFile(r io.Reader) ([]byte, error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, errors.New("no regular file in the archive")
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > maxFile {
			return nil, fmt.Errorf("%s is %d bytes, more than %d", h.Name, h.Size, maxFile)
		}
		return io.ReadAll(tr)
	}
}
