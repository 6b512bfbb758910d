// Package steps holds the typed steps conformance tests are written with:
// per-feature namespaces, documented fixtures deployed with the probe image,
// waits for pods, and reads through the probe. Every step has an explicit
// timeout, and every wait reports what it last saw.
package steps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/defects"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
)

// Labels put on everything the suite creates, so that leftovers can be found.
const (
	// LabelSuite marks every namespace the suite creates.
	LabelSuite = "kube-identity-conformance.io/suite"
	// LabelRun names the run that created it.
	LabelRun = "kube-identity-conformance.io/run"
)

// Suite is the run-wide configuration the steps need; TestMain puts it in the
// environment's context.
type Suite struct {
	// RunID identifies this run in namespace names and labels.
	RunID string
	// ProbeImage replaces the example images in every fixture.
	ProbeImage string
	// ProbeSecret is the run's secret: every probe the run starts refuses a
	// request without it. CreateNamespace puts it in a Secret
	// (ProbeSecretName) that the probe containers read it from. It is never
	// logged.
	ProbeSecret string
	// Defects collects the run's known-defect findings (CheckDefect).
	Defects *defects.Registry
	// ArtifactsDir is where a failed feature's namespace summary is
	// written (results.FailureFile); empty: nowhere.
	ArtifactsDir string
}

// ProbeSecretName is the Secret in each of the run's namespaces that holds
// Suite.ProbeSecret.
const ProbeSecretName = "kic-probe"

// NewProbeSecret returns a fresh random secret for a run.
func NewProbeSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("probe secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

type suiteKey struct{}

// WithSuite returns ctx carrying s.
func WithSuite(ctx context.Context, s Suite) context.Context {
	return context.WithValue(ctx, suiteKey{}, s)
}

// SuiteFrom returns the suite configuration of ctx.
func SuiteFrom(ctx context.Context) (Suite, error) {
	s, ok := ctx.Value(suiteKey{}).(Suite)
	if !ok {
		return Suite{}, fmt.Errorf("no suite configuration in the context (TestMain sets it)")
	}
	return s, nil
}

// Cluster is the cluster a feature runs on, as the runtime made or found it.
// One Cluster exists per cluster of the run; its clients are built once and
// shared by every feature on it (client-go clientsets are safe for
// concurrent use). Nothing in it is written after the runtime hands it out,
// except through its atomic fields.
type Cluster struct {
	// Name is the kind cluster's name, or "existing" for --kubeconfig.
	Name string
	// Profile is the kind profile it was made from; empty for an existing cluster.
	Profile string
	// Kubeconfig is the file its clients were built from.
	Kubeconfig string
	// Issuer is the service-account issuer the cluster was configured with
	// (the profile's flag, or kubeadm's default); empty when the suite cannot
	// know it (an existing cluster).
	Issuer string
	// Node is the kind cluster's control-plane node container, where
	// kube-apiserver's static pod manifest lives; FilesDir is the host
	// directory of its profile's node files (the suite-generated
	// service-account key). Both are empty for an existing cluster.
	Node, FilesDir string
	// REST and Clientset reach its API server.
	REST      *rest.Config
	Clientset kubernetes.Interface

	// failed is set when a feature on this cluster failed (logs are exported).
	failed atomic.Bool
	// facts memoises what was detected on the cluster (name -> *fact).
	facts sync.Map
	// probe is the run's probe client of the cluster, made once, so that
	// the last answer of every probe is kept for a failed feature's report.
	probeOnce sync.Once
	probe     *probe.Client
}

type fact struct {
	once  sync.Once
	value any
	err   error
}

// Fact returns what detect finds on the cluster, detecting it once per
// cluster however many features ask.
func (c *Cluster) Fact(name string, detect func() (any, error)) (any, error) {
	f, _ := c.facts.LoadOrStore(name, &fact{})
	e := f.(*fact)
	e.once.Do(func() { e.value, e.err = detect() })
	return e.value, e.err
}

// MarkFailed records that a feature on the cluster failed.
func (c *Cluster) MarkFailed() { c.failed.Store(true) }

// Failed reports whether a feature on the cluster failed.
func (c *Cluster) Failed() bool { return c.failed.Load() }

type clusterKey struct{}

// WithCluster returns ctx carrying the cluster features run on.
func WithCluster(ctx context.Context, c *Cluster) context.Context {
	return context.WithValue(ctx, clusterKey{}, c)
}

// ClusterFrom returns the cluster of ctx, or nil outside a feature.
func ClusterFrom(ctx context.Context) *Cluster {
	c, _ := ctx.Value(clusterKey{}).(*Cluster)
	return c
}

// Probe returns the client for the run's probes on the feature's cluster.
// A context without the suite configuration is a programming error (TestMain
// sets it for every feature), so it stops the test (t.Fatal) even in an
// assessment.
func Probe(ctx context.Context, t *testing.T) *probe.Client {
	t.Helper()
	s, err := SuiteFrom(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cs := Clientset(ctx, t)
	c := ClusterFrom(ctx)
	c.probeOnce.Do(func() { c.probe = probe.NewClient(cs, s.ProbeSecret) })
	return c.probe
}

// Clientset returns the clientset of the feature's cluster. A context
// without a cluster is a programming error (the runtime sets it for every
// feature), so it stops the test (t.Fatal) even in an assessment.
func Clientset(ctx context.Context, t *testing.T) kubernetes.Interface {
	t.Helper()
	c := ClusterFrom(ctx)
	if c == nil || c.Clientset == nil {
		t.Fatal("no cluster in the context: features run through the runtime (framework/runtime)")
	}
	return c.Clientset
}
