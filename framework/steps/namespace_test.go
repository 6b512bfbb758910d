package steps

import (
	"context"
	"slices"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
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
