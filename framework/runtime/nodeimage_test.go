package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

// fakeImages is an imageInspector over a few made-up images.
type fakeImages map[string]fakeImage

type fakeImage struct {
	labels map[string]string
	files  map[string]string
}

func (f fakeImages) inspect(_ context.Context, ref string) (string, map[string]string, error) {
	img, ok := f[ref]
	if !ok {
		return "", nil, fmt.Errorf("%w: No such image: %s", errImageMissing, ref)
	}
	return "sha256:" + strings.Repeat("a", 64), img.labels, nil
}

func (f fakeImages) readFiles(_ context.Context, ref string, paths ...string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, p := range paths {
		if c, ok := f[ref].files[p]; ok {
			out[p] = []byte(c)
		}
	}
	return out, nil
}

const cni = "kind: DaemonSet\n"

var fakeNodeImages = fakeImages{
	"kic.local/node:v1.37.3-src-0123456789ab": {labels: map[string]string{
		LabelKubernetesVersion: "v1.37.3-alpha.0.12+0123456789ab", LabelSource: "/src/kubernetes@0123456789ab", "io.kic.inputs": "x"}},
	"kic.local/node:v1.37.2":        {labels: map[string]string{LabelKubernetesVersion: "v1.37.2"}},
	"kindest/node:v1.37.0":          {files: map[string]string{KindVersionFile: "v1.37.0\n", KindDefaultCNIFile: cni}},
	"kindest/node:v1.36.1":          {files: map[string]string{KindDefaultCNIFile: cni}},
	"kindest/node@sha256:0123":      {files: map[string]string{KindDefaultCNIFile: cni}},
	"example.com/plain:v1.37.0":     {labels: map[string]string{"maintainer": "someone"}},
	"kindest/node:latest":           {files: map[string]string{KindDefaultCNIFile: cni}},
	"kic.local/node:bad":            {labels: map[string]string{LabelKubernetesVersion: "v2.0.0"}},
	"kic.local/node:v1.37-nolabels": {files: map[string]string{KindVersionFile: "v1.37.1", KindDefaultCNIFile: cni}},
}

func TestVersionFromLabels(t *testing.T) {
	for _, tc := range []struct {
		labels      map[string]string
		v, source   string
		fromLabels  bool
		description string
	}{
		{map[string]string{LabelKubernetesVersion: "v1.37.2", LabelSource: "/src/k@abc"}, "v1.37.2", "/src/k@abc", true, "source image"},
		{map[string]string{LabelKubernetesVersion: " v1.35.4\n", "io.kic.inputs": "h"}, "v1.35.4", "", true, "release image"},
		{map[string]string{LabelSource: "/src/k@abc"}, "", "", false, "source without version"},
		{nil, "", "", false, "no labels (official image)"},
	} {
		v, source, ok := versionFromLabels(tc.labels)
		if v != tc.v || source != tc.source || ok != tc.fromLabels {
			t.Errorf("%s: got %q %q %v, want %q %q %v", tc.description, v, source, ok, tc.v, tc.source, tc.fromLabels)
		}
	}
}

func TestInspectNodeImage(t *testing.T) {
	for _, tc := range []struct {
		ref                 string
		version, from, src  string
		project             bool
		minor               int
		err                 string
		describeContains    string
		describeNotContains string
	}{
		{ref: "kic.local/node:v1.37.3-src-0123456789ab", version: "v1.37.3-alpha.0.12+0123456789ab", from: "label io.kic.kubernetes-version", src: "/src/kubernetes@0123456789ab", project: true, minor: 37,
			describeContains: "source /src/kubernetes@0123456789ab", describeNotContains: "default CNI"},
		{ref: "kic.local/node:v1.37.2", version: "v1.37.2", from: "label io.kic.kubernetes-version", project: true, minor: 37},
		{ref: "kindest/node:v1.37.0", version: "v1.37.0", from: KindVersionFile, minor: 37, describeContains: "kind's default CNI"},
		// The file wins over the tag; the tag is the last resort.
		{ref: "kic.local/node:v1.37-nolabels", version: "v1.37.1", from: KindVersionFile, minor: 37},
		{ref: "kindest/node:v1.36.1", version: "v1.36.1", from: "the image's tag (no label io.kic.kubernetes-version, no /kind/version)", minor: 36},
		{ref: "kindest/node:latest", err: `Kubernetes version from the image's tag`},
		{ref: "kindest/node@sha256:0123", err: "cannot tell its Kubernetes version"},
		{ref: "example.com/plain:v1.37.0", err: "no pod network"},
		{ref: "kic.local/node:bad", err: "not a Kubernetes 1.x version"},
		{ref: "kic.local/node:v9.9.9", err: "make node-image KUBERNETES_SOURCE=DIR"},
		{ref: "", err: "empty image reference"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			n, err := inspectNodeImage(context.Background(), fakeNodeImages, tc.ref)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.KubernetesVersion != tc.version || n.VersionFrom != tc.from || n.Source != tc.src || n.Project != tc.project || n.Ref != tc.ref {
				t.Errorf("got %+v", n)
			}
			if m, err := n.Minor(); err != nil || m != tc.minor {
				t.Errorf("minor %d, %v; want %d", m, err, tc.minor)
			}
			if o := n.Override(); o.Ref != tc.ref || o.KindCNI == tc.project {
				t.Errorf("override %+v", o)
			}
			d := n.Describe()
			if !strings.Contains(d, tc.ref+" (--node-image: Kubernetes "+tc.version) {
				t.Errorf("description %q", d)
			}
			if tc.describeContains != "" && !strings.Contains(d, tc.describeContains) {
				t.Errorf("description %q lacks %q", d, tc.describeContains)
			}
			if tc.describeNotContains != "" && strings.Contains(d, tc.describeNotContains) {
				t.Errorf("description %q has %q", d, tc.describeNotContains)
			}
		})
	}
}

func TestImageTag(t *testing.T) {
	for ref, want := range map[string]string{
		"kindest/node:v1.37.0":                     "v1.37.0",
		"localhost:5000/node:v1.37.0":              "v1.37.0",
		"localhost:5000/node":                      "",
		"kindest/node:v1.37.0@sha256:0123":         "v1.37.0",
		"kindest/node@sha256:0123":                 "",
		"kic.local/node:v1.37.2-src-0123456789ab":  "v1.37.2-src-0123456789ab",
		"registry.example.com:443/a/b/node:v1.2.3": "v1.2.3",
	} {
		if got := imageTag(ref); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", ref, got, want)
		}
	}
}

func lookup(t *testing.T, names ...string) []clusters.Profile {
	t.Helper()
	var ps []clusters.Profile
	for _, n := range names {
		p, err := clusters.Lookup(n)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func TestCheckNodeImageMinor(t *testing.T) {
	img := &NodeImage{Ref: "kic.local/node:v1.37.3-src-0123456789ab", KubernetesVersion: "v1.37.3-alpha.0.12+0123456789ab"}
	if err := checkNodeImage(img, lookup(t, "default", "tokens-limits", "issuers", "issuer-migration")); err != nil {
		t.Errorf("profiles of 1.37 refused on a 1.37 image: %v", err)
	}
	err := checkNodeImage(img, lookup(t, "default", "issuers-v1.35-ec", "v1.36", "issuer-migration-v1.35"))
	if err == nil {
		t.Fatal("profiles of 1.35 and 1.36 accepted on a 1.37 image")
	}
	for _, want := range []string{
		"--node-image=kic.local/node:v1.37.3-src-0123456789ab is Kubernetes v1.37.3-alpha.0.12+0123456789ab",
		"issuer-migration-v1.35 (v1.35.4), issuers-v1.35-ec (v1.35.4), v1.36 (v1.36.3)",
		"select fewer features (-run, --profile)",
		"the profiles of 1.37 are default, tokens-limits,",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "default (") {
		t.Errorf("the error names a profile of the image's minor as refused: %v", err)
	}
	old := &NodeImage{Ref: "kindest/node:v1.33.1", KubernetesVersion: "v1.33.1"}
	if err := checkNodeImage(old, lookup(t, "default")); err == nil || !strings.Contains(err.Error(), "no profile is of 1.33") {
		t.Errorf("error %v, want one saying no profile is of 1.33", err)
	}
}

func TestKindProviderRefusesThePlanOnAnotherMinor(t *testing.T) {
	img := &NodeImage{Ref: "kindest/node:v1.35.0", KubernetesVersion: "v1.35.0", VersionFrom: KindVersionFile}
	area := Area{Test: "TestArea", Cases: func() []Case {
		return []Case{
			Default(feature("on 1.37", nil, nil)),
			On("issuers-v1.35-ec", feature("on 1.35", nil, nil)),
		}
	}}
	o := Options{
		Provider: NewKindProvider(KindOptions{NodeImage: img}),
		Env:      func(*steps.Cluster) types.Environment { return nil },
		Idle:     env.NewWithConfig(envconf.New()),
	}
	if _, err := New(o, []Area{area}); err == nil || !strings.Contains(err.Error(), "default (v1.37.2)") {
		t.Fatalf("New: %v, want a refusal naming profile default", err)
	}
	// Selecting only the 1.35 profile's features runs.
	o.Selection.Profile = "issuers-v1.35-ec"
	if _, err := New(o, []Area{area}); err != nil {
		t.Fatalf("New with only 1.35 profiles: %v", err)
	}
	// Without --node-image no profile is refused.
	o.Provider, o.Selection.Profile = NewKindProvider(KindOptions{}), ""
	if _, err := New(o, []Area{area}); err != nil {
		t.Fatalf("New without a node image: %v", err)
	}
}

func TestKindProviderDescribesAndOverridesTheImage(t *testing.T) {
	plain := NewKindProvider(KindOptions{})
	if got, want := plain.DescribeSlot(Slot{Profile: "issuers-v1.35-ec"}), "node image kic.local/node:v1.35.4 (profile default, Kubernetes v1.35.4)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	img := &NodeImage{Ref: "kic.local/node:v1.37.3-src-0123456789ab", KubernetesVersion: "v1.37.3", VersionFrom: "label " + LabelKubernetesVersion, Source: "/src/k@0123456789ab", Project: true}
	p := NewKindProvider(KindOptions{NodeImage: img})
	if got, want := p.DescribeSlot(Slot{Profile: "default"}), "node image kic.local/node:v1.37.3-src-0123456789ab (--node-image: Kubernetes v1.37.3 from label io.kic.kubernetes-version, source /src/k@0123456789ab)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	prof, err := p.profile(Slot{Profile: "tokens-limits"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := prof.Render(clusters.Host{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "image: "+img.Ref+"\n") || !strings.Contains(string(out), "disableDefaultCNI: true") {
		t.Errorf("rendering on the override:\n%s", out)
	}
	if _, err := p.profile(Slot{Profile: "issuers-v1.35-ec"}); err == nil {
		t.Error("a 1.35 profile got a 1.37 image")
	}
}

// describingProvider is a fake provider that describes its slots.
type describingProvider struct{ *fakeProvider }

func (describingProvider) DescribeSlot(s Slot) string { return "node image img-of-" + s.Profile }

func TestStartPrintsEachClustersNodeImage(t *testing.T) {
	area := Area{Test: t.Name(), Cases: func() []Case {
		return []Case{On("limits", feature("a", nil, nil)), Default(feature("b", nil, nil))}
	}}
	r, out := newTestRuntime(t, describingProvider{&fakeProvider{}}, Selection{}, false, area)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no cluster is created
	r.Start(ctx)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"plan: cluster limits: node image img-of-limits\n", "plan: cluster default: node image img-of-default\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
}

func TestFirstFileOfATarStream(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "kind", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "version", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte("v1.37.0\n")); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := firstFile(&buf)
	if err != nil || string(got) != "v1.37.0\n" {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := firstFile(bytes.NewReader(nil)); err == nil {
		t.Error("an empty stream gave a file")
	}
	if _, err := firstFile(strings.NewReader("not a tar stream")); err == nil {
		t.Error("garbage gave a file")
	}
}
