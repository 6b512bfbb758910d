package steps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// ServiceAccountTimeout bounds the wait for a new namespace's default
// ServiceAccount, which the controller manager creates seconds after the
// namespace; a pod created before it exists is rejected.
const ServiceAccountTimeout = 60 * time.Second

type namespaceKey struct{}

// Namespace returns the feature's namespace (set by CreateNamespace).
func Namespace(ctx context.Context) string {
	ns, _ := ctx.Value(namespaceKey{}).(string)
	return ns
}

// CreateNamespace is the first setup step of every feature: a namespace of
// its own, labelled with the suite and run, deleted when the feature ends
// (t.Cleanup, so also when a later setup step fails), and usable: its
// default ServiceAccount exists.
func CreateNamespace() features.Func {
	return func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
		t.Helper()
		s, err := SuiteFrom(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cs := Clientset(ctx, t)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			GenerateName: "kic-" + s.RunID + "-",
			Labels:       map[string]string{LabelSuite: "true", LabelRun: s.RunID, "kube-identity-conformance.io/test": labelValue(t.Name())},
		}}
		created, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create the feature's namespace: %v", err)
		}
		name := created.Name
		pc := Probe(ctx, t)
		t.Cleanup(func() {
			recordFailure(t, s, ClusterFrom(ctx).Name, cs, pc, name)
			deleteNamespace(t, cs, name)
		})
		t.Logf("namespace %s", name)
		if err := waitServiceAccount(ctx, cs, name, "default", ServiceAccountTimeout); err != nil {
			t.Fatal(err)
		}
		if err := createProbeSecret(ctx, cs, name, s); err != nil {
			t.Fatal(err)
		}
		return context.WithValue(ctx, namespaceKey{}, name)
	}
}

// createProbeSecret puts the run's probe secret in the namespace, where the
// probe containers read it (probe.Env).
func createProbeSecret(ctx context.Context, cs kubernetes.Interface, ns string, s Suite) error {
	if len(s.ProbeSecret) < probe.MinSecretLength {
		return fmt.Errorf("the suite has no probe secret (TestMain sets Suite.ProbeSecret with NewProbeSecret)")
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: ProbeSecretName, Labels: map[string]string{LabelSuite: "true", LabelRun: s.RunID}},
		Data:       map[string][]byte{probe.SecretKey: []byte(s.ProbeSecret)},
	}
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	if _, err := cs.CoreV1().Secrets(ns).Create(cctx, sec, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create the probe's Secret %s/%s: %w", ns, ProbeSecretName, err)
	}
	return nil
}

func waitServiceAccount(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) error {
	return wait.For(ctx, fmt.Sprintf("ServiceAccount %s/%s", ns, name), wait.Options{Timeout: timeout, Interval: 250 * time.Millisecond},
		func(ctx context.Context) (bool, string, error) {
			_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, name, metav1.GetOptions{})
			switch {
			case err == nil:
				return true, "present", nil
			case apierrors.IsNotFound(err):
				return false, "not found", nil
			default:
				return false, err.Error(), nil
			}
		})
}

// deleteNamespace removes a feature's namespace with a context of its own:
// the run's context may already be cancelled (Ctrl-C, deadline).
func deleteNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete namespace %s: %v", name, err)
	}
}

// SuiteSelector selects what any run of the suite made: every namespace
// and cluster-scoped object it creates carries LabelSuite=true.
const SuiteSelector = LabelSuite + "=true"

// RunSelector selects what one run made (LabelRun).
func RunSelector(runID string) string { return LabelRun + "=" + runID }

// DeleteRunNamespaces removes every namespace of a run (used on interrupt).
func DeleteRunNamespaces(ctx context.Context, cs kubernetes.Interface, runID string) ([]string, error) {
	r, err := SweepNamespaces(ctx, cs, RunSelector(runID), false)
	return r.Deleted, err
}

// NamespaceSweep is what SweepNamespaces found.
type NamespaceSweep struct {
	// Deleted are the namespaces deleted (with dryRun: that would be).
	Deleted []string
	// Terminating were already being removed (a deletionTimestamp): none
	// is deleted again; one that stays is held by a finalizer.
	Terminating []string
}

// SweepNamespaces deletes every namespace the label selector selects
// (RunSelector, SuiteSelector), or with dryRun only lists them. Deletion
// is asynchronous: the namespace's objects go with it, in the cluster.
func SweepNamespaces(ctx context.Context, cs kubernetes.Interface, selector string, dryRun bool) (NamespaceSweep, error) {
	var r NamespaceSweep
	if selector == "" {
		return r, fmt.Errorf("sweep namespaces: an empty label selector would select every namespace")
	}
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return r, fmt.Errorf("list the namespaces labelled %s: %w", selector, err)
	}
	for _, ns := range list.Items {
		if ns.DeletionTimestamp != nil {
			r.Terminating = append(r.Terminating, ns.Name)
			continue
		}
		if !dryRun {
			if err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return r, fmt.Errorf("delete namespace %s: %w", ns.Name, err)
			}
		}
		r.Deleted = append(r.Deleted, ns.Name)
	}
	return r, nil
}

// NewRunID returns a short random run identifier.
func NewRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// labelValue shortens a test name into a valid label value.
func labelValue(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-_.")
}

// waitGone waits until get returns NotFound.
func waitGone(ctx context.Context, what string, get func(context.Context) error) error {
	return wait.For(ctx, what, wait.Options{Timeout: 2 * time.Minute, Interval: 500 * time.Millisecond},
		func(ctx context.Context) (bool, string, error) {
			err := get(ctx)
			switch {
			case apierrors.IsNotFound(err):
				return true, "gone", nil
			case err != nil:
				return false, err.Error(), nil
			}
			return false, "still present", nil
		})
}

// ClusterSweep removes one kind of cluster-scoped object the suite made,
// found by label like its namespaces: a run's own (Delete, RunSelector) or
// every run's (Sweep, SuiteSelector). Only the features with the matching
// rights make such objects: without List, they were skipped and there is
// nothing to remove.
type ClusterSweep struct {
	Kind string
	List cluster.Access
	list func(ctx context.Context, cs kubernetes.Interface, o metav1.ListOptions) (runtime.Object, error)
	del  func(ctx context.Context, cs kubernetes.Interface, name string) error
}

// ErrNotServed is returned (wrapped) by Sweep when the API server does not
// serve the kind: its list answered 404 (ClusterTrustBundle v1 below 1.36).
// No run can have made such objects there.
var ErrNotServed = errors.New("not served by the API server")

// Delete removes the run's objects of the kind, as "kind/name". A kind the
// cluster does not serve has none (nil, nil): the run's features that make
// them were skipped.
func (sw ClusterSweep) Delete(ctx context.Context, cs kubernetes.Interface, runID string) ([]string, error) {
	deleted, err := sw.Sweep(ctx, cs, RunSelector(runID), false)
	if errors.Is(err, ErrNotServed) {
		return nil, nil
	}
	return deleted, err
}

// Sweep deletes the objects of the kind that the label selector selects,
// or with dryRun only lists them, as "kind/name". A kind the cluster does
// not serve gives an error wrapping ErrNotServed.
func (sw ClusterSweep) Sweep(ctx context.Context, cs kubernetes.Interface, selector string, dryRun bool) ([]string, error) {
	if selector == "" {
		return nil, fmt.Errorf("sweep %ss: an empty label selector would select every one", sw.Kind)
	}
	l, err := sw.list(ctx, cs, metav1.ListOptions{LabelSelector: selector})
	if apierrors.IsNotFound(err) {
		// A list answers 404 only when the API server does not serve the
		// resource.
		return nil, fmt.Errorf("%ss: %w", sw.Kind, ErrNotServed)
	}
	if err != nil {
		return nil, fmt.Errorf("list the %ss labelled %s: %w", sw.Kind, selector, err)
	}
	items, err := meta.ExtractList(l)
	if err != nil {
		return nil, fmt.Errorf("list the %ss labelled %s: %w", sw.Kind, selector, err)
	}
	var deleted []string
	for _, it := range items {
		o, err := meta.Accessor(it)
		if err != nil {
			return deleted, fmt.Errorf("a listed %s: %w", sw.Kind, err)
		}
		if !dryRun {
			if err := sw.del(ctx, cs, o.GetName()); err != nil && !apierrors.IsNotFound(err) {
				return deleted, fmt.Errorf("delete %s %s: %w", sw.Kind, o.GetName(), err)
			}
		}
		deleted = append(deleted, sw.Kind+"/"+o.GetName())
	}
	return deleted, nil
}

// ClusterSweeps are every kind of cluster-scoped object the suite makes.
var ClusterSweeps = []ClusterSweep{
	{Kind: "clusterrolebinding", List: cluster.ListGrants,
		list: func(ctx context.Context, cs kubernetes.Interface, o metav1.ListOptions) (runtime.Object, error) {
			return cs.RbacV1().ClusterRoleBindings().List(ctx, o)
		},
		del: func(ctx context.Context, cs kubernetes.Interface, n string) error {
			return cs.RbacV1().ClusterRoleBindings().Delete(ctx, n, metav1.DeleteOptions{})
		}},
	{Kind: "clusterrole", List: cluster.ListClusterRoles,
		list: func(ctx context.Context, cs kubernetes.Interface, o metav1.ListOptions) (runtime.Object, error) {
			return cs.RbacV1().ClusterRoles().List(ctx, o)
		},
		del: func(ctx context.Context, cs kubernetes.Interface, n string) error {
			return cs.RbacV1().ClusterRoles().Delete(ctx, n, metav1.DeleteOptions{})
		}},
	{Kind: "clustertrustbundle", List: cluster.ListTrustBundles,
		list: func(ctx context.Context, cs kubernetes.Interface, o metav1.ListOptions) (runtime.Object, error) {
			return cs.CertificatesV1().ClusterTrustBundles().List(ctx, o)
		},
		del: func(ctx context.Context, cs kubernetes.Interface, n string) error {
			return cs.CertificatesV1().ClusterTrustBundles().Delete(ctx, n, metav1.DeleteOptions{})
		}},
	// Releases before 1.37 serve the bundles at v1beta1 only (the same
	// objects where both are served: the v1 pass has removed them then).
	{Kind: "v1beta1 clustertrustbundle", List: cluster.ListTrustBundles,
		list: func(ctx context.Context, cs kubernetes.Interface, o metav1.ListOptions) (runtime.Object, error) {
			return cs.CertificatesV1beta1().ClusterTrustBundles().List(ctx, o)
		},
		del: func(ctx context.Context, cs kubernetes.Interface, n string) error {
			return cs.CertificatesV1beta1().ClusterTrustBundles().Delete(ctx, n, metav1.DeleteOptions{})
		}},
}
