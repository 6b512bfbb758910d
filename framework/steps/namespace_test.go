package steps

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// TestClusterSweepsRemoveOnlyTheRunsObjects: a stopped run's cluster-scoped
// objects are found by its label, and nothing else is touched.
func TestClusterSweepsRemoveOnlyTheRunsObjects(t *testing.T) {
	mine := map[string]string{LabelRun: "abc123"}
	other := map[string]string{LabelRun: "zzz999"}
	cs := fake.NewClientset(
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b-mine", Labels: mine}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b-other", Labels: other}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "r-mine", Labels: mine}},
		&certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: "ctb-mine", Labels: mine}},
		&certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: "ctb-unlabelled"}},
	)
	ctx := context.Background()
	var deleted []string
	for _, sw := range ClusterSweeps {
		d, err := sw.Delete(ctx, cs, "abc123")
		if err != nil {
			t.Fatalf("%s: %v", sw.Kind, err)
		}
		deleted = append(deleted, d...)
	}
	slices.Sort(deleted)
	if want := []string{"clusterrole/r-mine", "clusterrolebinding/b-mine", "clustertrustbundle/ctb-mine"}; !slices.Equal(deleted, want) {
		t.Errorf("deleted %v, want %v", deleted, want)
	}
	if _, err := cs.CertificatesV1().ClusterTrustBundles().Get(ctx, "ctb-unlabelled", metav1.GetOptions{}); err != nil {
		t.Errorf("an object of no run was removed: %v", err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, "b-other", metav1.GetOptions{}); err != nil {
		t.Errorf("another run's object was removed: %v", err)
	}
}

// TestClusterSweepsPassOverUnservedResources: a cluster that does not serve
// a kind (ClusterTrustBundle v1 on 1.35) answers its list with 404; the run
// made none there, so the sweep finds nothing instead of failing the run.
func TestClusterSweepsPassOverUnservedResources(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("list", "clustertrustbundles", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "certificates.k8s.io", Resource: "clustertrustbundles"}, "")
	})
	for _, sw := range ClusterSweeps {
		d, err := sw.Delete(context.Background(), cs, "abc123")
		if err != nil || len(d) > 0 {
			t.Errorf("%s: deleted %v, error %v; want nothing and no error", sw.Kind, d, err)
		}
	}
}

// suiteObjects is a cluster after interrupted runs: objects of two runs
// (each with the suite label), one with the suite label only (a trust
// bundle made outside a run's context), and objects nobody labelled.
func suiteObjects() *fake.Clientset {
	run := func(id string) map[string]string { return map[string]string{LabelSuite: "true", LabelRun: id} }
	suiteOnly := map[string]string{LabelSuite: "true"}
	gone := metav1.Now()
	return fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kic-abc123-x", Labels: run("abc123")}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kic-zzz999-y", Labels: run("zzz999")}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kic-zzz999-stuck", Labels: run("zzz999"), DeletionTimestamp: &gone, Finalizers: []string{"example.com/hold"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "suite-false", Labels: map[string]string{LabelSuite: "false"}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b-abc", Labels: run("abc123")}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b-zzz", Labels: run("zzz999")}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "r-zzz", Labels: run("zzz999")}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view"}},
		&certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: "ctb-suite", Labels: suiteOnly}},
		&certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: "ctb-unlabelled"}},
	)
}

// TestSweepsBySuiteLabelTakeEveryRun: the suite's selector finds the objects
// of every run and nothing unlabelled; a dry run deletes nothing, the real
// sweep exactly what the dry run listed.
func TestSweepsBySuiteLabelTakeEveryRun(t *testing.T) {
	ctx := context.Background()
	cs := suiteObjects()
	sweepAll := func(dryRun bool) (NamespaceSweep, []string) {
		t.Helper()
		ns, err := SweepNamespaces(ctx, cs, SuiteSelector, dryRun)
		if err != nil {
			t.Fatalf("namespaces: %v", err)
		}
		var objs []string
		for _, sw := range ClusterSweeps {
			d, err := sw.Sweep(ctx, cs, SuiteSelector, dryRun)
			if err != nil {
				t.Fatalf("%s: %v", sw.Kind, err)
			}
			objs = append(objs, d...)
		}
		slices.Sort(ns.Deleted)
		slices.Sort(objs)
		return ns, objs
	}
	wantNS := []string{"kic-abc123-x", "kic-zzz999-y"}
	wantObjs := []string{"clusterrole/r-zzz", "clusterrolebinding/b-abc", "clusterrolebinding/b-zzz", "clustertrustbundle/ctb-suite"}

	ns, objs := sweepAll(true)
	if !slices.Equal(ns.Deleted, wantNS) || !slices.Equal(objs, wantObjs) {
		t.Errorf("dry run listed %v and %v, want %v and %v", ns.Deleted, objs, wantNS, wantObjs)
	}
	if !slices.Equal(ns.Terminating, []string{"kic-zzz999-stuck"}) {
		t.Errorf("terminating %v, want [kic-zzz999-stuck]", ns.Terminating)
	}
	if n := countDeletes(cs); n != 0 {
		t.Fatalf("a dry run deleted %d objects", n)
	}

	ns, objs = sweepAll(false)
	if !slices.Equal(ns.Deleted, wantNS) || !slices.Equal(objs, wantObjs) {
		t.Errorf("deleted %v and %v, want %v and %v", ns.Deleted, objs, wantNS, wantObjs)
	}
	if n := countDeletes(cs); n != len(wantNS)+len(wantObjs) {
		t.Errorf("%d deletes, want %d (the terminating namespace is not deleted again)", n, len(wantNS)+len(wantObjs))
	}
	for _, get := range []struct {
		what string
		get  func() error
	}{
		{"namespace kube-system", func() error {
			_, err := cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
			return err
		}},
		{"namespace suite-false", func() error {
			_, err := cs.CoreV1().Namespaces().Get(ctx, "suite-false", metav1.GetOptions{})
			return err
		}},
		{"clusterrolebinding cluster-admin", func() error {
			_, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, "cluster-admin", metav1.GetOptions{})
			return err
		}},
		{"clusterrole view", func() error { _, err := cs.RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{}); return err }},
		{"clustertrustbundle ctb-unlabelled", func() error {
			_, err := cs.CertificatesV1().ClusterTrustBundles().Get(ctx, "ctb-unlabelled", metav1.GetOptions{})
			return err
		}},
	} {
		if err := get.get(); err != nil {
			t.Errorf("unlabelled %s was removed: %v", get.what, err)
		}
	}
}

func countDeletes(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "delete" {
			n++
		}
	}
	return n
}

// TestSweepReportsUnservedKinds: by the suite's selector, a kind the
// cluster does not serve is reported as such (ErrNotServed), not as a
// failure and not as silence; the other kinds are swept all the same.
func TestSweepReportsUnservedKinds(t *testing.T) {
	cs := suiteObjects()
	cs.PrependReactor("list", "clustertrustbundles", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "certificates.k8s.io", Resource: "clustertrustbundles"}, "")
	})
	for _, sw := range ClusterSweeps {
		d, err := sw.Sweep(context.Background(), cs, SuiteSelector, false)
		if strings.HasSuffix(sw.Kind, "clustertrustbundle") {
			if !errors.Is(err, ErrNotServed) || len(d) > 0 {
				t.Errorf("%s: deleted %v, error %v; want nothing and ErrNotServed", sw.Kind, d, err)
			}
			continue
		}
		if err != nil || len(d) == 0 {
			t.Errorf("%s: deleted %v, error %v; want its suite objects", sw.Kind, d, err)
		}
	}
}

// TestSweepsRefuseAnEmptySelector: an empty selector selects everything;
// no sweep takes it.
func TestSweepsRefuseAnEmptySelector(t *testing.T) {
	cs := suiteObjects()
	if _, err := SweepNamespaces(context.Background(), cs, "", true); err == nil {
		t.Error("namespaces: no error for an empty selector")
	}
	for _, sw := range ClusterSweeps {
		if _, err := sw.Sweep(context.Background(), cs, "", true); err == nil {
			t.Errorf("%s: no error for an empty selector", sw.Kind)
		}
	}
	if n := len(cs.Actions()); n != 0 {
		t.Errorf("%d API calls for an empty selector, want none", n)
	}
}

// TestSweepErrorsNameTheKindAndSelector: a refused list says what was listed.
func TestSweepErrorsNameTheKindAndSelector(t *testing.T) {
	cs := suiteObjects()
	cs.PrependReactor("list", "clusterroles", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}, "", errors.New("no"))
	})
	for _, sw := range ClusterSweeps {
		if sw.Kind != "clusterrole" {
			continue
		}
		_, err := sw.Sweep(context.Background(), cs, SuiteSelector, false)
		if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "clusterroles labelled "+SuiteSelector) {
			t.Errorf("error %v; want the forbidden list, naming the kind and selector", err)
		}
	}
}

// TestDeleteRunNamespacesTakesOnlyTheRuns: the run's own clean-up leaves
// other runs' namespaces alone.
func TestDeleteRunNamespacesTakesOnlyTheRuns(t *testing.T) {
	cs := suiteObjects()
	deleted, err := DeleteRunNamespaces(context.Background(), cs, "abc123")
	if err != nil || !slices.Equal(deleted, []string{"kic-abc123-x"}) {
		t.Errorf("deleted %v, error %v; want [kic-abc123-x]", deleted, err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "kic-zzz999-y", metav1.GetOptions{}); err != nil {
		t.Errorf("another run's namespace was removed: %v", err)
	}
}
