package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

// OwnerConfigMap, in kube-system of every kind cluster the suite creates,
// records the run that created it.
const OwnerConfigMap = "kube-identity-conformance-owner"

// KindOptions configure the kind provider.
type KindOptions struct {
	RunID                  string
	Reuse, Keep            bool
	StateDir, ArtifactsDir string
	// ProbeArchive is loaded into every node; the caller has checked that it
	// holds the probe image (probe.CheckArchive).
	ProbeArchive string
	// NodeImage, when set, is the node image of every cluster
	// (--node-image) instead of its profile's default; CheckPlan refuses
	// profiles of another Kubernetes minor.
	NodeImage *NodeImage
	// ExportLogs exports every cluster's node logs when it is finished
	// (into <ArtifactsDir>/cluster-<name>/), not only after a failed
	// feature: make repro sets it, since a reproduced known defect passes.
	ExportLogs bool
	// Interrupted reports whether the run was stopped (Ctrl-C, deadline):
	// logs are then not exported.
	Interrupted func() bool
	Logf        func(string, ...any)
}

// KindProvider creates the run's kind clusters from profiles.
type KindProvider struct {
	o       KindOptions
	mu      sync.Mutex
	kinds   map[*steps.Cluster]kindCluster
	records *clusterRecords
}

// kindCluster is a cluster the run created or reused, and its record.
type kindCluster struct {
	k   *cluster.Kind
	rec ClusterRecord
}

// NewKindProvider returns a provider of kind clusters. It records them in
// <ArtifactsDir>/clusters.json (ClusterRecord) from its first Create on.
func NewKindProvider(o KindOptions) *KindProvider {
	return &KindProvider{o: o, kinds: map[*steps.Cluster]kindCluster{}, records: &clusterRecords{dir: o.ArtifactsDir}}
}

// record is the cluster's entry in clusters.json, before its end.
func (p *KindProvider) record(k *cluster.Kind, prof clusters.Profile, s Slot) ClusterRecord {
	from := "profile default"
	if prof.NodeImageOverride != nil {
		from = "--node-image"
	}
	return ClusterRecord{
		Name: k.Name, Profile: prof.Name, Slot: s.String(), OwnCluster: s.Owner != "",
		Kubeconfig: k.Kubeconfig, NodeImage: prof.NodeImage(), NodeImageFrom: from,
	}
}

// Create makes the slot's cluster: shared clusters are reused when allowed,
// disruptive ones are always the run's own.
func (p *KindProvider) Create(ctx context.Context, s Slot) (*steps.Cluster, error) {
	if err := p.records.reset(); err != nil {
		return nil, err
	}
	prof, err := p.profile(s)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	o := cluster.Options{
		Profile: prof, Reuse: p.o.Reuse, Keep: p.o.Keep,
		StateDir: p.o.StateDir, ArtifactsDir: p.o.ArtifactsDir,
		Logf: p.o.Logf, RunID: p.o.RunID,
	}
	if s.Owner != "" {
		o.Own = p.o.RunID
	}
	k, err := cluster.Prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	rec := p.record(k, prof, s)
	if err := k.Create(ctx); err != nil {
		k.Unlock()
		rec.State, rec.Running = "creation failed", p.o.Keep
		if dir := filepath.Join(p.o.ArtifactsDir, "cluster-"+k.Name+"-create-failure"); isDir(dir) {
			rec.NodeLogs = dir
		}
		return nil, errors.Join(err, p.records.add(rec))
	}
	c, err := p.handle(ctx, k, prof)
	if err != nil {
		rec.State = "set-up failed: " + err.Error()
		return nil, errors.Join(err, p.finish(k, c, rec))
	}
	p.mu.Lock()
	p.kinds[c] = kindCluster{k, rec}
	p.mu.Unlock()
	in := rec
	in.State, in.Running = "in use", true
	if err := p.records.add(in); err != nil {
		p.o.Logf("cluster %s: %v", k.Name, err) // the run goes on; Finish writes the file again
	}
	p.o.Logf("cluster %s (profile %s) ready in %s", k.Name, prof.Name, time.Since(start).Round(100*time.Millisecond))
	return c, nil
}

// profile is the slot's profile, on the run's node image.
func (p *KindProvider) profile(s Slot) (clusters.Profile, error) {
	prof, err := clusters.Lookup(s.Profile)
	if err != nil {
		return clusters.Profile{}, err
	}
	if p.o.NodeImage != nil {
		if err := checkNodeImage(p.o.NodeImage, []clusters.Profile{prof}); err != nil {
			return clusters.Profile{}, err
		}
		prof.NodeImageOverride = p.o.NodeImage.Override()
	}
	return prof, nil
}

// CheckPlan refuses, before any cluster is made, a run whose profiles
// cannot run on --node-image (another Kubernetes minor).
func (p *KindProvider) CheckPlan(slots []Slot) error {
	if p.o.NodeImage == nil {
		return nil // every profile runs on its own default image
	}
	var profs []clusters.Profile
	seen := map[string]bool{}
	for _, s := range slots {
		if seen[s.Profile] {
			continue
		}
		seen[s.Profile] = true
		prof, err := clusters.Lookup(s.Profile)
		if err != nil {
			return err
		}
		profs = append(profs, prof)
	}
	return checkNodeImage(p.o.NodeImage, profs)
}

// DescribeSlot says which node image the slot's cluster runs, and why.
func (p *KindProvider) DescribeSlot(s Slot) string {
	if p.o.NodeImage != nil {
		return "node image " + p.o.NodeImage.Describe()
	}
	prof, err := clusters.Lookup(s.Profile)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("node image %s (profile default, Kubernetes %s)", prof.NodeImage(), prof.KubernetesVersion)
}

func (p *KindProvider) handle(ctx context.Context, k *cluster.Kind, prof clusters.Profile) (*steps.Cluster, error) {
	c := &steps.Cluster{Name: k.Name, Profile: prof.Name, Kubeconfig: k.Kubeconfig, Issuer: prof.ServiceAccountIssuer(), FilesDir: k.FilesDir()}
	if err := k.LoadImageArchives(p.o.ProbeArchive); err != nil {
		return c, err
	}
	node, err := k.ControlPlaneNode()
	if err != nil {
		return c, err
	}
	c.Node = node
	info, err := cluster.Reach(ctx, k.Kubeconfig, "", 15*time.Second)
	if err != nil {
		return c, err
	}
	if c.REST, err = cluster.RESTConfig(k.Kubeconfig, ""); err != nil {
		return c, err
	}
	shareClient(c.REST)
	if c.Clientset, err = kubernetes.NewForConfig(c.REST); err != nil {
		return c, fmt.Errorf("client for %s: %w", k.Name, err)
	}
	owner, err := recordOwner(ctx, c.Clientset, p.o.RunID, k.Created)
	if err != nil {
		return c, err
	}
	p.o.Logf("cluster %s: API server %s, Kubernetes %s, kubeconfig %s, %s", k.Name, info.Server, info.Version, k.Kubeconfig, owner)
	return c, nil
}

// recordOwner writes (for a cluster this run created) or reads (for a
// reused one) the run that created the cluster.
func recordOwner(ctx context.Context, cs kubernetes.Interface, runID string, created bool) (string, error) {
	if !created {
		cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, OwnerConfigMap, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return "reused (no owner record)", nil
		case err != nil:
			return "", fmt.Errorf("read the cluster's owner record: %w", err)
		}
		return fmt.Sprintf("reused, created by run %s at %s", cm.Data["run"], cm.Data["created"]), nil
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: OwnerConfigMap, Namespace: "kube-system", Labels: map[string]string{steps.LabelSuite: "true", steps.LabelRun: runID}},
		Data:       map[string]string{"run": runID, "created": time.Now().UTC().Format(time.RFC3339)},
	}
	if _, err := cs.CoreV1().ConfigMaps("kube-system").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("record the cluster's owner: %w", err)
	}
	return "created by run " + runID, nil
}

// Finish exports the cluster's logs when a feature on it failed (always
// with ExportLogs), removes the run's leftover namespaces, deletes the
// cluster unless it was reused or is to be kept, and records what became of
// it in clusters.json.
func (p *KindProvider) Finish(ctx context.Context, _ Slot, c *steps.Cluster) error {
	p.mu.Lock()
	kc, ok := p.kinds[c]
	delete(p.kinds, c)
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("cluster %s is not one of this run's", c.Name)
	}
	k, rec := kc.k, kc.rec
	rec.FeatureFailed = c.Failed()
	var errs []error
	if c.Clientset != nil {
		if err := removeRunNamespaces(ctx, c, p.o.RunID, p.o.Logf); err != nil {
			errs = append(errs, err)
		}
	}
	if (c.Failed() || p.o.ExportLogs) && !p.o.Interrupted() {
		dir := filepath.Join(p.o.ArtifactsDir, "cluster-"+k.Name)
		if err := k.ExportLogs(dir); err != nil {
			errs = append(errs, err)
		} else {
			rec.NodeLogs = dir
			why := "a feature failed"
			if !c.Failed() {
				why = "--export-node-logs"
			}
			p.o.Logf("cluster %s: %s; node logs in %s", k.Name, why, dir)
		}
	}
	return errors.Join(append(errs, p.finish(k, c, rec))...)
}

// finish removes the cluster unless it is kept or was reused, and records
// what became of it (after what rec.State already says).
func (p *KindProvider) finish(k *cluster.Kind, c *steps.Cluster, rec ClusterRecord) error {
	defer k.Unlock()
	before := rec.State
	var err error
	switch {
	case p.o.Keep:
		rec.State, rec.Running = "kept (--keep-cluster)", true
		p.o.Logf("keeping cluster %s (--keep-cluster); kubeconfig %s; `make clean` removes it", k.Name, k.Kubeconfig)
	case !k.Created:
		rec.State, rec.Running = "reused, left in place", true
		p.o.Logf("leaving reused cluster %s in place", k.Name)
	default:
		if err = k.Destroy(); err != nil {
			rec.State, rec.Running = "removal failed: "+err.Error(), true
		} else {
			rec.State = "removed"
			p.o.Logf("removed cluster %s", k.Name)
		}
	}
	if before != "" {
		rec.State = before + "; " + rec.State
	}
	return errors.Join(err, p.records.add(rec))
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func removeRunNamespaces(ctx context.Context, c *steps.Cluster, runID string, logf func(string, ...any)) error {
	deleted, err := steps.DeleteRunNamespaces(ctx, c.Clientset, runID)
	if err != nil {
		return fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	for _, sw := range steps.ClusterSweeps {
		canList, err := cluster.Allowed(ctx, c.Clientset, sw.List)
		if err != nil {
			return fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		if !canList {
			logf("cluster %s: not allowed to %s: the features that make %ss were skipped, none to look for", c.Name, sw.List, sw.Kind)
			continue
		}
		objs, err := sw.Delete(ctx, c.Clientset, runID)
		deleted = append(deleted, objs...)
		if err != nil {
			return fmt.Errorf("cluster %s: %w", c.Name, err)
		}
	}
	if len(deleted) > 0 {
		logf("cluster %s: removed leftovers %s", c.Name, strings.Join(deleted, ", "))
	}
	return nil
}

// ExistingProvider hands out the one existing cluster for every slot.
type ExistingProvider struct {
	// Kubeconfig and Context (empty: its current-context) reach the cluster;
	// every client of the run is built from them.
	Kubeconfig, Context, RunID string
	Logf                       func(string, ...any)
	// ArtifactsDir, when set, gets clusters.json with the cluster's record
	// (profile "existing", the API server's version), for the report.
	ArtifactsDir string

	once    sync.Once
	cluster *steps.Cluster
	err     error
	mu      sync.Mutex
	users   int
}

// Create reaches the cluster and checks the user's rights, once.
func (p *ExistingProvider) Create(ctx context.Context, _ Slot) (*steps.Cluster, error) {
	p.once.Do(func() {
		p.cluster, p.err = p.connect(ctx)
	})
	p.mu.Lock()
	p.users++
	p.mu.Unlock()
	return p.cluster, p.err
}

func (p *ExistingProvider) connect(ctx context.Context) (*steps.Cluster, error) {
	info, err := cluster.Reach(ctx, p.Kubeconfig, p.Context, 15*time.Second)
	if err != nil {
		return nil, err
	}
	p.Logf("mode: existing cluster (--kubeconfig=%s, context %s): API server %s, Kubernetes %s", p.Kubeconfig, info.Context, info.Server, info.Version)
	c := &steps.Cluster{Name: "existing", Kubeconfig: p.Kubeconfig}
	if c.REST, err = cluster.RESTConfig(p.Kubeconfig, info.Context); err != nil {
		return nil, err
	}
	shareClient(c.REST)
	if c.Clientset, err = kubernetes.NewForConfig(c.REST); err != nil {
		return nil, fmt.Errorf("client for %s: %w", info.Server, err)
	}
	if err := cluster.CheckAccess(ctx, c.Clientset, cluster.RunAccess); err != nil {
		return nil, err
	}
	logDetected(ctx, c, p.Logf)
	records := &clusterRecords{dir: p.ArtifactsDir}
	if err := records.add(ClusterRecord{Name: c.Name, Profile: "existing", Slot: "existing", Kubeconfig: p.Kubeconfig,
		Running: true, State: "existing cluster (" + info.Server + "), left as it was", KubernetesVersion: info.Version}); err != nil {
		return nil, err
	}
	return c, nil
}

// Finish removes the run's leftover namespaces when the last slot is done.
func (p *ExistingProvider) Finish(ctx context.Context, _ Slot, c *steps.Cluster) error {
	p.mu.Lock()
	p.users--
	last := p.users == 0
	p.mu.Unlock()
	if !last {
		return nil
	}
	return removeRunNamespaces(ctx, c, p.RunID, p.Logf)
}

// shareClient raises client-go's client-side rate limit (5 requests/s,
// bursts of 10): one client serves every feature running in parallel on the
// cluster, and their polls would otherwise queue behind each other.
func shareClient(cfg *rest.Config) {
	cfg.QPS, cfg.Burst = 50, 100
}
