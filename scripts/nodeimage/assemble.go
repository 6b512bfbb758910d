package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/images"
)

func (b *builder) nodeRootfs() string { return filepath.Join(b.work, "node-"+b.v.String(), "rootfs") }

// assemble copies the pristine root file system and turns it into a kind
// node: the Kubernetes binaries, the project's entrypoint, units and
// configuration, the files kind reads, and systemd trimmed for a container.
func (b *builder) assemble(ctx context.Context, l *stepLog) error {
	dst := b.nodeRootfs()
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := l.cmd("cp", "-a", "--reflink=auto", b.rootfsDir(), dst).Run(ctx); err != nil {
		return err
	}
	os.Remove(filepath.Join(dst, ".kic-done"))

	// The project's node files, from rootfs/ beside this program.
	if err := fs.WalkDir(recipe, "rootfs", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := recipe.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "rootfs/")
		mode := os.FileMode(0o644)
		if strings.Contains(rel, "/bin/") {
			mode = 0o755
		}
		if rel == "etc/containerd/config.toml" {
			data = []byte(strings.ReplaceAll(string(data), "{{SANDBOX_IMAGE}}", b.images.Pause))
		}
		l.printf("write /%s (%o)", rel, mode)
		return writeFileIn(dst, rel, data, mode)
	}); err != nil {
		return fmt.Errorf("node files: %w", err)
	}

	for _, name := range []string{"kubeadm", "kubelet", "kubectl"} {
		data, err := os.ReadFile(filepath.Join(b.kubernetesDir(), "bin", name))
		if err != nil {
			return err
		}
		if err := writeFileIn(dst, "usr/bin/"+name, data, 0o755); err != nil {
			return err
		}
	}
	crictl, err := os.ReadFile(b.componentBinary("crictl"))
	if err != nil {
		return err
	}
	if err := writeFileIn(dst, "usr/local/bin/crictl", crictl, 0o755); err != nil {
		return err
	}
	// What kind reads.
	if err := writeFileIn(dst, "kind/version", []byte(b.v.String()+"\n"), 0o644); err != nil {
		return err
	}
	for _, d := range []string{"etc/kubernetes/manifests", "opt/cni", "var/lib/containerd"} {
		if err := os.MkdirAll(filepath.Join(dst, d), 0o755); err != nil {
			return err
		}
	}
	// Debian keeps the CNI plugins in /usr/lib/cni; anything expecting the
	// usual place finds them too.
	if err := replaceSymlink(dst, "opt/cni/bin", "/usr/lib/cni"); err != nil {
		return err
	}
	return trimSystemd(dst, l)
}

// trimSystemd makes systemd boot fast and quietly in a container: no
// tmpfiles set-up of paths docker and kind manage, no package-enabled units
// (timers, getty, udev), no host kernel log in the journal, and the node's
// own units enabled; binfmt_misc is kernel-global, so its unit is masked.
func trimSystemd(root string, l *stepLog) error {
	var remove []string
	for _, pattern := range []string{
		"usr/lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service",
		"etc/systemd/system/*.wants/*",
		"usr/lib/systemd/system/multi-user.target.wants/*",
		"usr/lib/systemd/system/local-fs.target.wants/*",
		"usr/lib/systemd/system/basic.target.wants/*",
		"usr/lib/systemd/system/sockets.target.wants/*udev*",
		"usr/lib/systemd/system/sockets.target.wants/*initctl*",
	} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			return err
		}
		remove = append(remove, m...)
	}
	for _, p := range remove {
		l.printf("remove %s", strings.TrimPrefix(p, root))
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	journald := filepath.Join(root, "etc/systemd/journald.conf")
	f, err := os.OpenFile(journald, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString("ReadKMsg=no\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, unit := range []string{"kubelet.service", "containerd.service", "kic-undo-mount-hacks.service"} {
		if err := replaceSymlink(root, "etc/systemd/system/multi-user.target.wants/"+unit, "/etc/systemd/system/"+unit); err != nil {
			return err
		}
	}
	if err := replaceSymlink(root, "etc/systemd/system/systemd-binfmt.service", "/dev/null"); err != nil {
		return err
	}
	// The entrypoint writes a fresh machine id at every boot.
	return os.WriteFile(filepath.Join(root, "etc/machine-id"), nil, 0o444)
}

// preload imports the control-plane images into the node's containerd
// (namespace k8s.io, pinned so the kubelet never garbage-collects them). It
// runs containerd from the node tree itself in a privileged container, with
// /var/lib/containerd bind-mounted from the host (overlayfs cannot stack on the
// container's overlay root).
func (b *builder) preload(ctx context.Context, l *stepLog) error {
	root := b.nodeRootfs()
	stageRef := "kic.local/node-stage:" + b.v.String()
	// The preload changes only /var/lib/containerd, which this layer leaves
	// out: the node image reuses it as its first layer.
	base, err := images.TreeLayer(filepath.Dir(root), root, "var/lib/containerd")
	if err != nil {
		return err
	}
	b.base = base
	if err := images.Load(ctx, images.Image{Ref: stageRef, Layers: []images.Layer{base}, Config: images.Config{Env: []string{imagePath}}}); err != nil {
		return err
	}
	defer func() {
		// Also after a cancellation: the staging image is 1.5 GB.
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if err := l.cmd("docker", "rmi", stageRef).Run(rmCtx); err != nil {
			l.printf("could not remove the staging image: %v", err)
			fmt.Fprintf(os.Stderr, "node-image: could not remove the staging image %s (remove it with `docker rmi %s`): %v\n", stageRef, stageRef, err)
		}
	}()

	refs := []string{b.images.APIServer, b.images.ControllerManager, b.images.Scheduler, b.images.Proxy, b.images.Etcd, b.images.CoreDNS, b.images.Pause}
	script := `set -eu
containerd >/var/log/containerd-preload.log 2>&1 &
pid=$!
for i in $(seq 1 100); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done
ctr -n k8s.io images import --all-platforms /images/` + path.Base(b.imagesArchive()) + `
for ref in ` + strings.Join(refs, " ") + `; do
  ctr -n k8s.io images label "$ref" io.cri-containerd.pinned=pinned >/dev/null
done
ctr -n k8s.io images ls
kill "$pid"; wait "$pid" || true
`
	return runContainer(ctx, l, "preload", "--privileged", "--network", "none",
		"-v", filepath.Join(root, "var/lib/containerd")+":/var/lib/containerd",
		"-v", filepath.Dir(b.imagesArchive())+":/images:ro",
		"--entrypoint", "/bin/bash", stageRef, "-c", script)
}

// cleanupTimeout bounds each clean-up command run after a failure or a
// cancellation (with a context of its own: the step's may be cancelled).
const cleanupTimeout = time.Minute

// containerSeq numbers the containers this process starts.
var containerSeq atomic.Int64

// runContainer runs `docker run --rm --name <name> args...` for a step, the
// container named kic-nodeimage-<step>-<pid>-<n>. The docker CLI is only a
// client: cancelling ctx kills it, not the container it started. So when the
// run fails or is cancelled, the container is removed by name
// (`docker rm -f`, which also stops it) and the log and standard error say so.
func runContainer(ctx context.Context, l *stepLog, step string, args ...string) error {
	name := fmt.Sprintf("kic-nodeimage-%s-%d-%d", step, os.Getpid(), containerSeq.Add(1))
	runErr := l.cmd("docker", append([]string{"run", "--rm", "--name", name}, args...)...).Run(ctx)
	if runErr == nil {
		return nil
	}
	rmCtx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	rm := hostexec.Command("docker", "rm", "-f", name)
	l.printf("$ %s", rm)
	out, err := rm.Output(rmCtx)
	l.printf("%s", out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "node-image: could not remove container %s (remove it with `docker rm -f %s`)\n", name, name)
		return errors.Join(runErr, fmt.Errorf("remove container %s: %w", name, err))
	}
	// docker rm -f prints the name of a container it removed, and an error
	// (exit status 0) for one that is gone already (--rm).
	if out == name {
		fmt.Fprintf(os.Stderr, "node-image: stopped and removed container %s\n", name)
	} else {
		l.printf("container %s was gone already", name)
	}
	return runErr
}

// writeNodeImage writes the node image: the root file system and the
// preloaded containerd store as two layers, the entrypoint, and the stop
// signal systemd expects.
func (b *builder) writeNodeImage(ctx context.Context, l *stepLog, tag, alias, hash string) error {
	root := b.nodeRootfs()
	base := b.base
	store, err := images.SubtreeLayer(filepath.Dir(root), root, "var/lib/containerd")
	if err != nil {
		return err
	}
	defer os.Remove(store.Path())
	img := images.Image{Ref: tag, Layers: []images.Layer{base, store}, Config: nodeConfig(map[string]string{
		labelVersion: b.v.String(),
		labelInputs:  hash,
	})}
	if err := images.Load(ctx, img); err != nil {
		return err
	}
	if err := b.tag(ctx, tag, alias); err != nil {
		return err
	}
	l.printf("loaded %s as %s", tag, alias)
	if err := b.removeOlderImages(ctx, l, tag); err != nil {
		return err
	}
	// The assembled tree and the image archive are no longer needed; the
	// caches (binaries, root file system) stay.
	return os.RemoveAll(filepath.Dir(root))
}

// The labels of a node image, as the suite reads them.
const (
	labelVersion = images.LabelKubernetesVersion
	labelInputs  = images.LabelInputs
	labelSource  = images.LabelSource
	labelBase    = images.LabelBase
)

// nodeConfig is the config of every node image: the project's entrypoint
// before systemd, and the stop signal systemd expects.
func nodeConfig(labels map[string]string) images.Config {
	return images.Config{
		Entrypoint: []string{"/usr/local/bin/entrypoint", "/sbin/init"},
		Env:        []string{"container=docker", imagePath},
		StopSignal: "SIGRTMIN+3",
		Labels:     labels,
	}
}

// removeOlderImages removes this version's images made from other inputs
// (older recipes), each 1.5 GB; the alias now points at the new one. An image
// a container still uses (the node of a kept cluster) cannot be removed: it is
// kept, and the build says so.
func (b *builder) removeOlderImages(ctx context.Context, l *stepLog, keep string) error {
	out, err := hostexec.Command("docker", "images", NodeRepository, "--format", "{{.Repository}}:{{.Tag}}").Output(ctx)
	if err != nil {
		return fmt.Errorf("list the older node images: %w", err)
	}
	for _, ref := range readLines(out) {
		if !b.isReleaseImage(ref) || ref == keep {
			continue
		}
		rmiErr := l.cmd("docker", "rmi", ref).Run(ctx)
		if rmiErr == nil {
			continue
		}
		users, err := containersUsing(ctx, ref)
		if err != nil {
			return fmt.Errorf("remove the older node image %s: %w", ref, errors.Join(rmiErr, err))
		}
		children, err := sourceImagesOn(ctx, ref)
		if err != nil {
			return fmt.Errorf("remove the older node image %s: %w", ref, errors.Join(rmiErr, err))
		}
		if len(users) == 0 && len(children) == 0 {
			return fmt.Errorf("remove the older node image %s: %w", ref, rmiErr)
		}
		var why []string
		if len(users) > 0 {
			why = append(why, "in use by container "+strings.Join(users, ", "))
		}
		if len(children) > 0 {
			why = append(why, "the base of source image "+strings.Join(children, ", ")+"; `docker rmi` them to free it")
		}
		msg := fmt.Sprintf("kept the previous image %s (%s)", ref, strings.Join(why, "; "))
		l.printf("%s", msg)
		fmt.Printf("node-image: %s\n", msg)
	}
	return nil
}

// isReleaseImage reports whether ref is one of this version's release
// images (kic.local/node:<version>-<12 hex digits>), not its alias and not an
// image built from a source tree (<tree version>-src-<hash>), which is the
// contributor's and is never removed here.
func (b *builder) isReleaseImage(ref string) bool {
	rest, ok := strings.CutPrefix(ref, NodeRepository+":"+b.v.String()+"-")
	return ok && inputTagRE.MatchString(rest)
}

var inputTagRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

// sourceImagesOn names the source images built on node image ref (label
// io.kic.base): docker cannot remove an image other images are built on.
func sourceImagesOn(ctx context.Context, ref string) ([]string, error) {
	out, err := hostexec.Command("docker", "images", "--filter", "label="+labelBase+"="+ref, "--format", "{{.Repository}}:{{.Tag}}").Output(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the source images built on %s: %w", ref, err)
	}
	return readLines(out), nil
}

// containersUsing names the containers, running or not, made from image ref.
func containersUsing(ctx context.Context, ref string) ([]string, error) {
	out, err := hostexec.Command("docker", "ps", "-a", "--filter", "ancestor="+ref, "--format", "{{.Names}}").Output(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the containers using %s: %w", ref, err)
	}
	return readLines(out), nil
}

// writeFileIn writes rel under root, creating parents.
func writeFileIn(root, rel string, data []byte, mode os.FileMode) error {
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	os.Remove(p) // replace a packaged file or symlink rather than writing through it
	if err := os.WriteFile(p, data, mode); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

func replaceSymlink(root, rel, target string) error {
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(p); err != nil {
		return err
	}
	return os.Symlink(target, p)
}
