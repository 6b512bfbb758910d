package runtime

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

// detectTimeout bounds the header's detection, as requirementsStep bounds a
// requirement's check.
const detectTimeout = 2 * time.Minute

// logDetected prints, in an existing-cluster run's header, what the suite
// detected of the cluster: the certificates.k8s.io versions serving the
// resources the suite uses, whether each gate-dependent projection survives
// admission, and each node's kubelet version. A detection that fails is
// printed with its reason and the run goes on: the capabilities are a
// cluster fact (steps.DetectCapabilities), so the features needing them
// then skip (or fail, under --require) with the same error.
func logDetected(ctx context.Context, c *steps.Cluster, logf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(ctx, detectTimeout)
	defer cancel()
	caps, capErr := steps.DetectCapabilities(ctx, c)
	nodes, nodeErr := steps.KubeletVersions(ctx, c)
	for _, l := range detectionLines(caps, capErr, nodes, nodeErr) {
		logf("%s", l)
	}
}

// detectionLines are logDetected's lines, one per fact.
func detectionLines(caps steps.Capabilities, capErr error, nodes []steps.NodeKubelet, nodeErr error) []string {
	var out []string
	if capErr != nil {
		out = append(out, fmt.Sprintf("detected: capabilities unknown (%v); features needing trustBundles or podCertificates skip with this reason", capErr))
	} else {
		out = append(out,
			"detected: certificates.k8s.io serves clustertrustbundles in "+versions(caps.TrustBundleVersions),
			"detected: certificates.k8s.io serves podcertificaterequests in "+versions(caps.PodCertificateVersions),
			"detected: trust bundle projection (a pod's clusterTrustBundle source kept by a dry-run create): "+onOff(caps.TrustBundleProjection, "gate ClusterTrustBundleProjection"),
			"detected: pod certificate projection (a pod's podCertificate source kept by a dry-run create): "+onOff(caps.PodCertificateProjection, "gate PodCertificateRequest"),
		)
	}
	switch {
	case nodeErr != nil:
		out = append(out, fmt.Sprintf("detected: kubelet versions unknown: %v", nodeErr))
	case len(nodes) == 0:
		out = append(out, "detected: no nodes listed")
	}
	for _, n := range nodes {
		v := n.Kubelet
		if v == "" {
			v = "(not reported)"
		}
		out = append(out, fmt.Sprintf("detected: node %s: kubelet %s", n.Node, v))
	}
	return out
}

func versions(v []string) string {
	if len(v) == 0 {
		return "no version"
	}
	return strings.Join(v, ", ")
}

func onOff(on bool, gate string) string {
	if on {
		return "on"
	}
	return "off (the API server drops the source: " + gate + " off)"
}
