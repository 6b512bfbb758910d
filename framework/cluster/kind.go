// Package cluster is the suite's one cluster lifecycle: kind clusters created
// in process from a profile (sigs.k8s.io/kind/pkg/cluster, not the kind CLI),
// and existing clusters reached through a kubeconfig.
//
// kind clusters get a dedicated kubeconfig file (never ~/.kube/config), a name
// made of the suite prefix, the profile and a hash of the rendered profile and
// node image, so that reuse is safe and leftovers can be found and removed.
package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindcmd "sigs.k8s.io/kind/pkg/cmd"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
)

// Prefix starts the name of every kind cluster the suite creates.
const Prefix = "kic-"

// ReadyTimeout bounds the wait for a new cluster to become usable.
const ReadyTimeout = 3 * time.Minute

// Options of a kind cluster.
type Options struct {
	// Profile is the cluster configuration.
	Profile clusters.Profile
	// Reuse uses a running cluster of the same name instead of failing.
	Reuse bool
	// Keep leaves the cluster (even a half-made one) in place at the end.
	Keep bool
	// StateDir holds the cluster's kubeconfig file.
	StateDir string
	// ArtifactsDir receives logs when creation fails.
	ArtifactsDir string
	// Logf reports progress (nil = stdout).
	Logf func(format string, args ...any)
	// Own, when set, makes the cluster the run's alone: its name ends with
	// this suffix (the run ID), so no other run and no --reuse-cluster ever
	// picks it up. Disruptive features get such clusters.
	Own string
	// RunID is the run that takes the cluster (lock and owner record).
	RunID string
}

// Kind is a kind cluster made from a profile.
type Kind struct {
	// Name is the kind cluster name, Kubeconfig its dedicated kubeconfig file.
	Name, Kubeconfig string
	// Created is false when an existing cluster was reused.
	Created bool
	// Host is what the Docker host needed of the profile.
	Host clusters.Host

	opts     Options
	provider *kindcluster.Provider
	lock     *os.File
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
		return
	}
	fmt.Printf(format+"\n", args...)
}

// NewProvider returns kind's in-process provider on the local Docker engine.
func NewProvider() *kindcluster.Provider {
	return kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(kindcmd.NewLogger()))
}

// DetectHost asks the Docker engine which cgroup version its containers get.
func DetectHost(ctx context.Context) (clusters.Host, error) {
	out, err := hostexec.Command("docker", "info", "--format", "{{.CgroupVersion}}").Output(ctx)
	if err != nil {
		return clusters.Host{}, fmt.Errorf("no Docker engine answers (run `make host-setup`): %w", err)
	}
	return clusters.Host{CgroupV1: strings.TrimSpace(out) == "1"}, nil
}

// Name returns the cluster name of a profile: the suite prefix, the profile
// name and a hash of its rendering and node image ID.
func Name(p clusters.Profile, rendered []byte, imageID string) string {
	h := sha256.New()
	h.Write(rendered)
	h.Write([]byte(imageID))
	return Prefix + p.Name + "-" + hex.EncodeToString(h.Sum(nil))[:8]
}

// Prepare resolves a profile on this host: its kind configuration, node image
// and cluster name. It fails with the make target to run when the node image
// is missing.
func Prepare(ctx context.Context, o Options) (*Kind, error) {
	host, err := DetectHost(ctx)
	if err != nil {
		return nil, err
	}
	if o.StateDir == "" {
		o.StateDir = "_build/clusters"
	}
	// kind mounts host paths as given: the files directory must be absolute.
	state, err := filepath.Abs(o.StateDir)
	if err != nil {
		return nil, fmt.Errorf("cluster state directory: %w", err)
	}
	host.FilesDir = filepath.Join(state, FilesDirName)
	rendered, err := o.Profile.Render(host)
	if err != nil {
		return nil, err
	}
	image := o.Profile.NodeImage()
	id, err := hostexec.Command("docker", "image", "inspect", "--format", "{{.Id}}", image).Output(ctx)
	if err != nil {
		if o.Profile.NodeImageOverride != nil {
			return nil, fmt.Errorf("node image %s (--node-image) is not present on the Docker host (no registry is reachable): build it from a Kubernetes source tree with `make node-image KUBERNETES_SOURCE=DIR`, or load an archive with `docker load -i FILE`: %w", image, err)
		}
		return nil, fmt.Errorf("node image %s is not present: run `make node-image KUBERNETES_VERSION=%s` first", image, o.Profile.KubernetesVersion)
	}
	name := Name(o.Profile, rendered, id)
	if o.Own != "" {
		name += "-" + o.Own
		o.Reuse = false
	}
	return &Kind{
		Name:       name,
		Kubeconfig: filepath.Join(o.StateDir, name+".kubeconfig"),
		Host:       host,
		opts:       o,
		provider:   NewProvider(),
	}, nil
}

// FilesDir is the host directory of the profile's node files (mounted at
// clusters.NodeFilesPath in the node).
func (k *Kind) FilesDir() string { return k.opts.Profile.FilesDir(k.Host) }

// ControlPlaneNode returns the name of the cluster's control-plane node
// container (the kube-apiserver's host).
func (k *Kind) ControlPlaneNode() (string, error) {
	ns, err := k.provider.ListInternalNodes(k.Name)
	if err != nil {
		return "", fmt.Errorf("list nodes of %s: %w", k.Name, err)
	}
	for _, n := range ns {
		role, err := n.Role()
		if err != nil {
			return "", fmt.Errorf("role of node %s: %w", n.String(), err)
		}
		if role == "control-plane" {
			return n.String(), nil
		}
	}
	return "", fmt.Errorf("kind cluster %s has no control-plane node", k.Name)
}

// exists reports whether a kind cluster of this name runs.
func (k *Kind) exists() (bool, error) {
	names, err := k.provider.List()
	if err != nil {
		return false, fmt.Errorf("list kind clusters: %w", err)
	}
	for _, n := range names {
		if n == k.Name {
			return true, nil
		}
	}
	return false, nil
}

// Create creates the cluster (or reuses it when allowed) and waits until it
// is usable: node Ready, CoreDNS Ready, the default ServiceAccount present.
// If ctx ends during creation (Ctrl-C), the half-made cluster is removed
// unless Keep is set. A failed creation exports the node logs first.
func (k *Kind) Create(ctx context.Context) error {
	o := &k.opts
	if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
		return fmt.Errorf("cluster state directory: %w", err)
	}
	if err := k.takeLock(); err != nil {
		return err
	}
	exists, err := k.exists()
	if err != nil {
		return err
	}
	if exists {
		if !o.Reuse {
			return fmt.Errorf("kind cluster %s already exists: pass --reuse-cluster to use it, or remove it with `make clean`", k.Name)
		}
		if o.Profile.ServiceAccountKey != "" {
			if _, err := ServiceAccountKey(k.FilesDir()); err != nil {
				return fmt.Errorf("kind cluster %s was made with the service-account key in %s, which cannot be read now (remove the cluster with `make clean`): %w", k.Name, k.FilesDir(), err)
			}
		}
		o.logf("cluster: reusing kind cluster %s", k.Name)
		if err := k.provider.ExportKubeConfig(k.Name, k.Kubeconfig, false); err != nil {
			return fmt.Errorf("export kubeconfig of %s: %w", k.Name, err)
		}
		return WaitUsable(ctx, k.Kubeconfig, ReadyTimeout)
	}
	cfg, err := o.Profile.Cluster(k.Host)
	if err != nil {
		return err
	}
	cfg.Name = k.Name
	if err := WriteNodeFiles(o.Profile, k.Host); err != nil {
		return err
	}
	o.logf("cluster: creating kind cluster %s (profile %s, image %s, kubeconfig %s)", k.Name, o.Profile.Name, o.Profile.NodeImage(), k.Kubeconfig)
	if k.Host.CgroupV1 {
		o.logf("cluster: the Docker host uses cgroup v1: profile rendered with its cgroup v1 settings")
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- k.provider.Create(k.Name,
			kindcluster.CreateWithV1Alpha4Config(cfg),
			kindcluster.CreateWithKubeconfigPath(k.Kubeconfig),
			kindcluster.CreateWithRetain(true), // keep a failed node for its logs
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
		)
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		if o.Keep {
			o.logf("cluster: interrupted; keeping the half-made cluster %s (--keep-cluster)", k.Name)
			return fmt.Errorf("create %s: %w", k.Name, ctx.Err())
		}
		o.logf("cluster: interrupted; removing the half-made cluster %s", k.Name)
		// Deleting the nodes makes kind's create fail promptly; delete again
		// once it has returned, in case it made a node in between.
		_ = k.provider.Delete(k.Name, k.Kubeconfig)
		<-done
		if derr := k.Destroy(); derr != nil {
			return errors.Join(fmt.Errorf("create %s: %w", k.Name, ctx.Err()), derr)
		}
		return fmt.Errorf("create %s: %w", k.Name, ctx.Err())
	}
	if err != nil {
		// Not marked Created: but the half-made nodes are this run's (it
		// holds the lock), so failed removes them.
		return k.failed(fmt.Errorf("kind create %s: %w", k.Name, err))
	}
	k.Created = true
	o.logf("cluster: kind create returned after %s", time.Since(start).Round(100*time.Millisecond))
	if err := WaitUsable(ctx, k.Kubeconfig, ReadyTimeout); err != nil {
		if ctx.Err() != nil {
			return k.interrupted(err)
		}
		return k.failed(err)
	}
	o.logf("cluster: %s usable after %s", k.Name, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// interrupted removes the cluster, unless Keep is set, after a Ctrl-C.
func (k *Kind) interrupted(cause error) error {
	if k.opts.Keep {
		k.opts.logf("cluster: interrupted; keeping cluster %s (--keep-cluster)", k.Name)
		return cause
	}
	k.opts.logf("cluster: interrupted; removing cluster %s", k.Name)
	return errors.Join(cause, k.Destroy())
}

// failed exports the cluster's logs and removes it unless Keep is set.
func (k *Kind) failed(cause error) error {
	dir := filepath.Join(k.opts.ArtifactsDir, "cluster-"+k.Name+"-create-failure")
	errs := []error{cause}
	if err := k.ExportLogs(dir); err != nil {
		errs = append(errs, err)
	} else {
		k.opts.logf("cluster: node logs exported to %s", dir)
	}
	if !k.opts.Keep {
		if err := k.Destroy(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LoadImageArchives imports image archives (docker save format) into the
// containerd of every node.
func (k *Kind) LoadImageArchives(paths ...string) error {
	nodes, err := k.provider.ListInternalNodes(k.Name)
	if err != nil {
		return fmt.Errorf("list nodes of %s: %w", k.Name, err)
	}
	for _, p := range paths {
		for _, n := range nodes {
			if err := loadArchive(n, p); err != nil {
				return fmt.Errorf("load image archive %s into node %s: %w", p, n.String(), err)
			}
		}
	}
	return nil
}

func loadArchive(n nodes.Node, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return nodeutils.LoadImageArchive(n, f)
}

// ExportLogs writes the nodes' logs (journal, kubelet, containerd, pods) to dir.
func (k *Kind) ExportLogs(dir string) error {
	if err := k.provider.CollectLogs(k.Name, dir); err != nil {
		return fmt.Errorf("export logs of %s to %s: %w", k.Name, dir, err)
	}
	return nil
}

// Destroy removes the cluster and its kubeconfig file.
func (k *Kind) Destroy() error {
	if err := k.provider.Delete(k.Name, k.Kubeconfig); err != nil {
		return fmt.Errorf("delete kind cluster %s: %w", k.Name, err)
	}
	if err := os.Remove(k.Kubeconfig); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove kubeconfig %s: %w", k.Kubeconfig, err)
	}
	return nil
}

// takeLock makes the run the cluster name's only user until Unlock (or the
// process ends: the kernel drops the lock). A second run of the same profile
// fails here, naming the run that holds it, instead of deleting or
// re-creating a cluster in use.
func (k *Kind) takeLock() error {
	if k.lock != nil {
		return nil
	}
	path := filepath.Join(k.opts.StateDir, k.Name+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		return fmt.Errorf("kind cluster %s is in use by another run (%s): wait for it to end, or use another profile", k.Name, strings.TrimSpace(string(holder)))
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return fmt.Errorf("lock file %s: %w", path, err)
	}
	if _, err := fmt.Fprintf(f, "run %s, pid %d, since %s", k.opts.RunID, os.Getpid(), time.Now().UTC().Format(time.RFC3339)); err != nil {
		f.Close()
		return fmt.Errorf("lock file %s: %w", path, err)
	}
	k.lock = f
	return nil
}

// Unlock releases the cluster name for other runs.
func (k *Kind) Unlock() {
	if k.lock == nil {
		return
	}
	k.lock.Close()
	k.lock = nil
}

// CleanAll removes every kind cluster whose name has the suite prefix, and
// the kubeconfig files in stateDir. It returns the names removed.
func CleanAll(stateDir string) ([]string, error) {
	p := NewProvider()
	names, err := p.List()
	if err != nil {
		return nil, fmt.Errorf("list kind clusters: %w", err)
	}
	var removed []string
	var errs []error
	for _, n := range names {
		if !strings.HasPrefix(n, Prefix) {
			continue
		}
		kubeconfig := filepath.Join(stateDir, n+".kubeconfig")
		if err := p.Delete(n, kubeconfig); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", n, err))
			continue
		}
		removed = append(removed, n)
	}
	// Every profile's node files (its suite-generated key) belong to clusters
	// just removed.
	if len(errs) == 0 {
		if err := os.RemoveAll(filepath.Join(stateDir, FilesDirName)); err != nil {
			errs = append(errs, fmt.Errorf("remove node files: %w", err))
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(stateDir, Prefix+"*.kubeconfig"))
	for _, f := range leftovers {
		if err := os.Remove(f); err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}
