package main

import (
	"strings"
	"testing"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
)

// Every matrix version has its variant of the default profile, named
// after its minor; the existing-cluster profile of the same release is not
// taken for it, and an unknown version is refused naming the known ones.
func TestEveryMatrixVersionHasItsProfile(t *testing.T) {
	for _, v := range clusters.MatrixVersions {
		p, err := profileFor(v)
		if err != nil {
			t.Errorf("%s: %v", v, err)
			continue
		}
		if p.KubernetesVersion != v || (p.Name != "default" && !strings.HasPrefix(v, p.Name+".")) {
			t.Errorf("%s: profile %s (%s)", v, p.Name, p.KubernetesVersion)
		}
	}
	if _, err := profileFor("v1.33.1"); err == nil || !strings.Contains(err.Error(), "v1.37.2") {
		t.Errorf("v1.33.1: %v", err)
	}
}
