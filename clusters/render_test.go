package clusters

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the checked-in renderings")

// hosts are the renderings checked in for every profile.
var hosts = map[string]Host{"": {}, "-cgroupv1": {CgroupV1: true}}

// TestCheckedInRenderingsMatch fails when a profile's YAML beside this file
// differs from what the Go definition renders (go test ./clusters -update).
func TestCheckedInRenderingsMatch(t *testing.T) {
	for _, p := range All() {
		for suffix, h := range hosts {
			want, err := p.Render(h)
			if err != nil {
				t.Fatal(err)
			}
			want = append([]byte("# Rendered from clusters/profiles.go by `go test ./clusters -update`; do not edit.\n"), want...)
			file := filepath.Join(".", p.Name+suffix+".yaml")
			if *update {
				if err := os.WriteFile(file, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("profile %s: %v (run go test ./clusters -update)", p.Name, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendering of profile %s; run go test ./clusters -update\n--- checked in\n%s\n--- rendered\n%s", file, p.Name, got, want)
			}
		}
	}
}

func TestRenderingIsStrictKindConfig(t *testing.T) {
	for _, p := range All() {
		out, err := p.Render(Host{CgroupV1: true})
		if err != nil {
			t.Fatal(err)
		}
		var c v1alpha4.Cluster
		if err := yaml.UnmarshalStrict(out, &c); err != nil {
			t.Fatalf("profile %s does not parse strictly as kind v1alpha4: %v", p.Name, err)
		}
	}
}

func TestHostQuirksOnlyWhereNeeded(t *testing.T) {
	for _, tc := range []struct {
		version              string
		cgroupV1             bool
		failCgroupV1, ignore bool
	}{
		{"v1.37.2", false, false, false},
		{"v1.37.2", true, true, false},
		{"v1.36.3", true, true, false},
		{"v1.35.4", true, true, true},
		{"v1.34.4", true, false, true},
		{"v1.34.4", false, false, false},
	} {
		p := Default()
		p.KubernetesVersion = tc.version
		c, err := p.Cluster(Host{CgroupV1: tc.cgroupV1})
		if err != nil {
			t.Fatal(err)
		}
		patches := strings.Join(c.KubeadmConfigPatches, "\n")
		if got := strings.Contains(patches, "failCgroupV1: false"); got != tc.failCgroupV1 {
			t.Errorf("%s cgroupv1=%v: failCgroupV1 patch %v, want %v", tc.version, tc.cgroupV1, got, tc.failCgroupV1)
		}
		if got := strings.Contains(patches, "SystemVerification"); got != tc.ignore {
			t.Errorf("%s cgroupv1=%v: SystemVerification ignore %v, want %v", tc.version, tc.cgroupV1, got, tc.ignore)
		}
	}
}

func TestRuntimeConfigPerRelease(t *testing.T) {
	for version, want := range map[string]map[string]string{
		"v1.37.2": nil,
		"v1.36.3": {"certificates.k8s.io/v1beta1/clustertrustbundles": "true", "certificates.k8s.io/v1beta1/podcertificaterequests": "true"},
		"v1.35.4": {"certificates.k8s.io/v1beta1/clustertrustbundles": "true", "certificates.k8s.io/v1beta1/podcertificaterequests": "true"},
		"v1.34.4": {"certificates.k8s.io/v1beta1/clustertrustbundles": "true", "certificates.k8s.io/v1alpha1/podcertificaterequests": "true"},
	} {
		p := Default()
		p.KubernetesVersion = version
		got, err := p.RuntimeConfig()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("%s: runtime config %v, want %v", version, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: runtime config %v, want %v", version, got, want)
			}
		}
	}
}

// A repeated flag must survive kind's merge patches: each value is appended
// to v1beta4's extraArgs list, and v1beta3 releases refuse it.
func TestRepeatedAPIServerFlags(t *testing.T) {
	p := Default()
	p.APIServerArgs = []Arg{
		{"service-account-issuer", "https://new.example"},
		{"service-account-issuer", "https://kubernetes.default.svc.cluster.local"},
		{"service-account-max-token-expiration", "48h"},
	}
	c, err := p.Cluster(Host{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.KubeadmConfigPatchesJSON6902) != 1 {
		t.Fatalf("want one JSON 6902 patch, got %d", len(c.KubeadmConfigPatchesJSON6902))
	}
	patch := c.KubeadmConfigPatchesJSON6902[0].Patch
	if strings.Count(patch, "name: service-account-issuer") != 2 || !strings.Contains(patch, `"https://new.example"`) {
		t.Errorf("repeated issuers not appended in order:\n%s", patch)
	}
	if !strings.Contains(strings.Join(c.KubeadmConfigPatches, ""), `service-account-max-token-expiration: "48h"`) {
		t.Errorf("single flag not in the merge patch: %v", c.KubeadmConfigPatches)
	}
	p.KubernetesVersion = "v1.35.4"
	if _, err := p.Cluster(Host{}); err == nil || !strings.Contains(err.Error(), "v1beta4") {
		t.Errorf("repeated flag on 1.35: want an error naming v1beta4, got %v", err)
	}
}

func TestLookupUnknownListsKnown(t *testing.T) {
	_, err := Lookup("nope")
	if err == nil || !strings.Contains(err.Error(), "default") {
		t.Fatalf("want an error listing the known profiles, got %v", err)
	}
}
