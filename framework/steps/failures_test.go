package steps

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/results"
)

// A failed feature's file names its pods with their state and events, the
// namespace's events, and the containers' logs, where the report links it.
func TestFailureFileSummarisesTheNamespace(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ctb-optional", Namespace: "ns1"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "probe"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "probe",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}}}
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "ns1"}, Type: "Warning", Reason: "FailedMount",
		Message: `MountVolume.SetUp failed for volume "ctb"`, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "ctb-optional"}}
	cs := fake.NewClientset(pod, ev)
	dir := t.TempDir()
	path, err := writeFailureFile(context.Background(), dir, "TestClusterTrustBundles/optional bundles", "kic-default", "ns1", cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, results.FailureFile("TestClusterTrustBundles/optional bundles")); path != want {
		t.Errorf("written to %s, want %s", path, want)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"namespace ns1", "ctb-optional on n1: phase Pending", "container probe waiting: ContainerCreating", "Warning pod/ctb-optional FailedMount", "== log of ctb-optional/probe", "fake logs"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("failure file lacks %q:\n%s", want, data)
		}
	}
}
