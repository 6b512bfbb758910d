package runtime

import (
	"errors"
	"strings"
	"testing"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

func TestDetectionLinesOneFactEach(t *testing.T) {
	caps := steps.Capabilities{
		TrustBundleVersions: []string{"v1", "v1beta1"}, TrustBundleAPI: true, TrustBundleProjection: true,
		PodCertificateVersions: []string{"v1beta1"},
	}
	nodes := []steps.NodeKubelet{{Node: "cp", Kubelet: "v1.35.0"}, {Node: "w1"}}
	got := strings.Join(detectionLines(caps, nil, nodes, nil), "\n")
	want := strings.Join([]string{
		"detected: certificates.k8s.io serves clustertrustbundles in v1, v1beta1",
		"detected: certificates.k8s.io serves podcertificaterequests in v1beta1",
		"detected: trust bundle projection (a pod's clusterTrustBundle source kept by a dry-run create): on",
		"detected: pod certificate projection (a pod's podCertificate source kept by a dry-run create): off (the API server drops the source: gate PodCertificateRequest off)",
		"detected: node cp: kubelet v1.35.0",
		"detected: node w1: kubelet (not reported)",
	}, "\n")
	if got != want {
		t.Errorf("lines:\n%s\nwant:\n%s", got, want)
	}

	got = strings.Join(detectionLines(steps.Capabilities{}, errors.New("dry-run pod: forbidden"), nil, errors.New("list nodes: forbidden")), "\n")
	for _, w := range []string{
		"detected: capabilities unknown (dry-run pod: forbidden); features needing trustBundles or podCertificates skip with this reason",
		"detected: kubelet versions unknown: list nodes: forbidden",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("lines on failed detection:\n%s\nlack %q", got, w)
		}
	}
	if strings.Contains(got, "serves") {
		t.Errorf("failed detection still prints versions:\n%s", got)
	}
	if got := detectionLines(caps, nil, nil, nil); got[len(got)-1] != "detected: no nodes listed" {
		t.Errorf("no nodes: last line %q", got[len(got)-1])
	}
}
