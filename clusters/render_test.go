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

// A repeated flag must survive kind's merge patches: from 1.36 each value is
// appended to v1beta4's extraArgs list; below, the first value is in the
// v1beta3 map and the others are a kubeadm patch of the static pod, in the
// files directory mounted into the node, which InitConfiguration names.
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
	if files, _ := p.NodeFiles(); len(files) != 0 || len(c.Nodes[0].ExtraMounts) != 0 {
		t.Errorf("1.37 needs no node files: %v, mounts %v", files, c.Nodes[0].ExtraMounts)
	}

	p.KubernetesVersion = "v1.35.4"
	c, err = p.Cluster(Host{FilesDir: "/state/files"})
	if err != nil {
		t.Fatal(err)
	}
	merge := strings.Join(c.KubeadmConfigPatches, "\n")
	if !strings.Contains(merge, `service-account-issuer: "https://new.example"`) || strings.Contains(merge, "cluster.local") {
		t.Errorf("v1beta3: the first issuer belongs in extraArgs, the second not:\n%s", merge)
	}
	if !strings.Contains(merge, "patches:\n  directory: "+NodeFilesPath+"/"+PatchesDir) {
		t.Errorf("v1beta3: InitConfiguration does not name the patches directory:\n%s", merge)
	}
	if len(c.KubeadmConfigPatchesJSON6902) != 0 {
		t.Errorf("v1beta3: no v1beta4 patch expected, got %v", c.KubeadmConfigPatchesJSON6902)
	}
	files, err := p.NodeFiles()
	if err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "op": "add",
    "path": "/spec/containers/0/command/-",
    "value": "--service-account-issuer=https://kubernetes.default.svc.cluster.local"
  }
]
`
	if got := string(files[PatchesDir+"/kube-apiserver+json.json"]); got != want || len(files) != 1 {
		t.Errorf("v1beta3 kubeadm patch %v:\n%s\nwant\n%s", files, got, want)
	}
	if m := c.Nodes[0].ExtraMounts; len(m) != 1 || m[0].HostPath != "/state/files/default" || m[0].ContainerPath != NodeFilesPath || !m[0].Readonly {
		t.Errorf("v1beta3: want the files directory mounted read-only at %s, got %+v", NodeFilesPath, m)
	}
}

// A suite-generated key replaces kubeadm's signer and is verified beside
// kubeadm's public key (legacy Secret tokens are still signed with it).
func TestServiceAccountKeyFlags(t *testing.T) {
	p := Default()
	p.ServiceAccountKey = KeyECDSAP256
	if got, want := p.ArgValues("service-account-key-file"), []string{NodeFilesPath + "/sa.pub", KubeadmPublicKeyFile}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("key files %v, want %v", got, want)
	}
	if got, _ := p.Arg("service-account-signing-key-file"); got != NodeFilesPath+"/sa.key" {
		t.Errorf("signing key file %q", got)
	}
	if p.ServiceAccountKey.Algorithm() != "ES256" || KeyRSA2048.Algorithm() != "RS256" {
		t.Errorf("algorithms %q, %q", p.ServiceAccountKey.Algorithm(), KeyRSA2048.Algorithm())
	}
	c, err := p.Cluster(Host{})
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Nodes[0].ExtraMounts; len(m) != 1 || m[0].HostPath != DefaultFilesDir+"/default" {
		t.Errorf("want the files directory mounted, got %+v", m)
	}
	if got := p.ServiceAccountIssuers(); len(got) != 1 || got[0] != KubeadmIssuer {
		t.Errorf("issuers %v, want kubeadm's default", got)
	}
}

func TestLookupUnknownListsKnown(t *testing.T) {
	_, err := Lookup("nope")
	if err == nil || !strings.Contains(err.Error(), "default") {
		t.Fatalf("want an error listing the known profiles, got %v", err)
	}
}

// kube-apiserver refuses a maximum token lifetime below an hour; a profile
// asking for one fails before kind runs, saying so.
func TestMaxTokenExpirationBelowAnHourIsRefused(t *testing.T) {
	for v, ok := range map[string]bool{"30m": false, "59m59s": false, "1h": true, "1080h": true, "2160h": true, "forever": false} {
		p := Default()
		p.APIServerArgs = []Arg{{"service-account-max-token-expiration", v}}
		_, err := p.Cluster(Host{})
		if ok && err != nil {
			t.Errorf("%s: %v", v, err)
		}
		if !ok && (err == nil || !strings.Contains(err.Error(), "service-account-max-token-expiration="+v)) {
			t.Errorf("%s: want an error naming the flag, got %v", v, err)
		}
	}
	p := Default()
	p.APIServerArgs = []Arg{{"service-account-max-token-expiration", "30m"}}
	if _, err := p.Cluster(Host{}); err == nil || !strings.Contains(err.Error(), "between 1 hour and 2^32 seconds") {
		t.Errorf("want the upstream bound in the message, got %v", err)
	}
}

func TestRenderWithNodeImageOverride(t *testing.T) {
	p, err := Lookup("default")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := p.Cluster(Host{})
	if err != nil {
		t.Fatal(err)
	}
	if got := plain.Nodes[0].Image; got != "kic.local/node:v1.37.2" {
		t.Fatalf("default image %q", got)
	}
	for _, tc := range []struct {
		name       string
		o          NodeImageOverride
		disableCNI bool
	}{
		{"source image", NodeImageOverride{Ref: "kic.local/node:v1.37.3-src-0123456789ab"}, true},
		{"official image", NodeImageOverride{Ref: "kindest/node:v1.37.0", KindCNI: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := p
			q.NodeImageOverride = &tc.o
			if got := q.NodeImage(); got != tc.o.Ref {
				t.Errorf("NodeImage() = %q, want %q", got, tc.o.Ref)
			}
			out, err := q.Render(Host{})
			if err != nil {
				t.Fatal(err)
			}
			var c v1alpha4.Cluster
			if err := yaml.UnmarshalStrict(out, &c); err != nil {
				t.Fatal(err)
			}
			if c.Nodes[0].Image != tc.o.Ref {
				t.Errorf("rendered node image %q, want %q:\n%s", c.Nodes[0].Image, tc.o.Ref, out)
			}
			if c.Networking.DisableDefaultCNI != tc.disableCNI {
				t.Errorf("disableDefaultCNI = %v, want %v", c.Networking.DisableDefaultCNI, tc.disableCNI)
			}
			// Everything else is the profile's own rendering.
			c.Nodes[0].Image, c.Networking.DisableDefaultCNI = plain.Nodes[0].Image, plain.Networking.DisableDefaultCNI
			want, err := yaml.Marshal(plain)
			if err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(&c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the override changed more than the image:\n%s\nwant\n%s", got, want)
			}
		})
	}
	// The override never leaks into the profile itself (All returns values).
	if again, _ := Lookup("default"); again.NodeImageOverride != nil {
		t.Error("Lookup returned a profile with an override")
	}
	q := p
	q.NodeImageOverride = &NodeImageOverride{}
	if _, err := q.Render(Host{}); err == nil || !strings.Contains(err.Error(), "without an image reference") {
		t.Errorf("an empty override rendered: %v", err)
	}
}
