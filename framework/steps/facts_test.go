package steps

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestDetectCapabilitiesListsServingVersionsAndReadsTheDryRunBack(t *testing.T) {
	cs := fake.NewSimpleClientset(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status:     corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.35.2"}},
	})
	cs.Resources = []*metav1.APIResourceList{
		{GroupVersion: "certificates.k8s.io/v1", APIResources: []metav1.APIResource{{Name: "certificatesigningrequests"}, {Name: "clustertrustbundles"}}},
		{GroupVersion: "certificates.k8s.io/v1beta1", APIResources: []metav1.APIResource{{Name: "clustertrustbundles"}, {Name: "podcertificaterequests"}}},
	}
	// The API server with the PodCertificateRequest gate off: the
	// podCertificate source is dropped from the created pod.
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pod := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).DeepCopy()
		for _, v := range pod.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			v.Projected.Sources = slices.DeleteFunc(v.Projected.Sources, func(s corev1.VolumeProjection) bool { return s.PodCertificate != nil })
		}
		return true, pod, nil
	})
	c := &Cluster{Name: "c", Clientset: cs}
	caps, err := DetectCapabilities(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(caps.TrustBundleVersions, []string{"v1", "v1beta1"}) || !slices.Equal(caps.PodCertificateVersions, []string{"v1beta1"}) {
		t.Errorf("versions: trust bundles %q, pod certificates %q", caps.TrustBundleVersions, caps.PodCertificateVersions)
	}
	if !caps.TrustBundleAPI || caps.TrustBundleVersion != "v1" || !caps.PodCertificateAPI || caps.PodCertificateVersion != "v1beta1" {
		t.Errorf("spoken versions: trust bundles %v %q (want v1), pod certificates %v %q (want v1beta1)", caps.TrustBundleAPI, caps.TrustBundleVersion, caps.PodCertificateAPI, caps.PodCertificateVersion)
	}
	if got := spokenVersion([]string{"v1alpha1"}); got != "" {
		t.Errorf("only v1alpha1 served: spoken version %q, want none", got)
	}
	if !caps.TrustBundleProjection || caps.PodCertificateProjection {
		t.Errorf("projections kept: trust bundle %v (want true), pod certificate %v (want false)", caps.TrustBundleProjection, caps.PodCertificateProjection)
	}
	nodes, err := KubeletVersions(context.Background(), c)
	if err != nil || len(nodes) != 1 || nodes[0] != (NodeKubelet{Node: "n1", Kubelet: "v1.35.2"}) {
		t.Errorf("kubelet versions %v, %v", nodes, err)
	}
}
