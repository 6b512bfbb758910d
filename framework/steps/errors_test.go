package steps

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// The helpers assessments call return their errors (an assessment reports
// with t.Error and returns; a t.Fatal would skip the feature's other
// assessments): each failure here is an error naming what failed, and the
// test itself is not failed by the helper.
func TestAssessmentHelpersReturnErrors(t *testing.T) {
	const ns = "kic-test"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns, UID: "pod-uid"},
		Spec:       corev1.PodSpec{ServiceAccountName: "sa", NodeName: "node"},
	}
	cs := fake.NewClientset(pod, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa", Namespace: ns, UID: "sa-uid"}})
	ctx := context.WithValue(context.Background(), namespaceKey{}, ns)
	ctx = WithCluster(WithSuite(ctx, Suite{RunID: "abc123", ProbeImage: "kic.local/probe"}), &Cluster{Name: "fake", Clientset: cs})

	if _, err := Pod(ctx, cs, "missing"); err == nil || !strings.Contains(err.Error(), "get pod kic-test/missing") {
		t.Errorf("Pod of a missing pod: %v, want an error naming it", err)
	}
	got, err := Pod(ctx, cs, "p")
	if err != nil || got.UID != "pod-uid" {
		t.Fatalf("Pod: %v %v", got, err)
	}
	if _, err := LiveIdentity(ctx, cs, got); err == nil || !strings.Contains(err.Error(), "get node node") {
		t.Errorf("LiveIdentity without the node: %v, want an error naming it", err)
	}
	noSA := got.DeepCopy()
	noSA.Spec.ServiceAccountName = "gone"
	if _, err := LiveIdentity(ctx, cs, noSA); err == nil || !strings.Contains(err.Error(), "get ServiceAccount kic-test/gone") {
		t.Errorf("LiveIdentity without the ServiceAccount: %v, want an error naming it", err)
	}
	if err := CreatePodNow(ctx, t, ProbePod("p")); err == nil || !strings.Contains(err.Error(), "create pod p") {
		t.Errorf("CreatePodNow of an existing pod: %v, want an error naming it", err)
	}
	if err := CreatePodNow(ctx, t, ProbePod("q")); err != nil {
		t.Errorf("CreatePodNow: %v", err)
	}
	if err := CreateServiceAccountNow(ctx, t, "sa"); err == nil || !strings.Contains(err.Error(), "create ServiceAccount sa") {
		t.Errorf("CreateServiceAccountNow of an existing ServiceAccount: %v, want an error naming it", err)
	}
	if err := CreateServiceAccountNow(ctx, t, "other"); err != nil {
		t.Errorf("CreateServiceAccountNow: %v", err)
	}
}
