package steps

import (
	"context"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// On a v1beta1 cluster every call goes to v1beta1, and what it returns
// reads as v1 with the same fields.
func TestTrustBundleClientSpeaksTheServedVersion(t *testing.T) {
	ctx := context.Background()
	for _, version := range []string{"v1", "v1beta1"} {
		cs := fake.NewClientset()
		c, err := NewTrustBundleClient(cs, version)
		if err != nil {
			t.Fatal(err)
		}
		ctb := &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: "a:b:c", Labels: map[string]string{"l": "v"}},
			Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: "a/b", TrustBundle: "PEM"}}
		if _, err := c.Create(ctx, ctb, metav1.CreateOptions{}); err != nil {
			t.Fatalf("%s: create: %v", version, err)
		}
		got, err := c.Get(ctx, "a:b:c", metav1.GetOptions{})
		if err != nil || got.Spec.SignerName != "a/b" || got.Spec.TrustBundle != "PEM" || got.Labels["l"] != "v" {
			t.Fatalf("%s: get %+v, %v", version, got, err)
		}
		got.Spec.TrustBundle = "PEM2"
		if _, err := c.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("%s: update: %v", version, err)
		}
		var other int
		if version == "v1" {
			l, _ := cs.CertificatesV1beta1().ClusterTrustBundles().List(ctx, metav1.ListOptions{})
			other = len(l.Items)
		} else {
			l, _ := cs.CertificatesV1().ClusterTrustBundles().List(ctx, metav1.ListOptions{})
			other = len(l.Items)
		}
		if other != 0 {
			t.Errorf("%s: the other version holds %d bundles, want 0", version, other)
		}
		list, err := c.List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 1 || list.Items[0].Spec.TrustBundle != "PEM2" {
			t.Errorf("%s: list %+v, %v", version, list, err)
		}
		if err := c.Delete(ctx, "a:b:c", metav1.DeleteOptions{}); err != nil {
			t.Errorf("%s: delete: %v", version, err)
		}
	}
	if _, err := NewTrustBundleClient(fake.NewClientset(), "v1alpha1"); err == nil {
		t.Error("v1alpha1 accepted")
	}
}
