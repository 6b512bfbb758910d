package main

import (
	"os"
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

// The workflow's matrix job runs exactly clusters.MatrixVersions.
func TestWorkflowMatrixIsTheMatrixVersions(t *testing.T) {
	data, err := os.ReadFile("../../.github/workflows/conformance.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := "kubernetes: [" + strings.Join(clusters.MatrixVersions, ", ") + "]"
	if !strings.Contains(string(data), want) {
		t.Errorf("the workflow's matrix job does not list %q", want)
	}
}
