package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

func readRecords(t *testing.T, dir string) []ClusterRecord {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ClustersFile))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ReadClusterRecords(data)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestClusterRecordsFile(t *testing.T) {
	dir := t.TempDir()
	// An older run's file is replaced by the first write of this run.
	if err := os.WriteFile(filepath.Join(dir, ClustersFile), []byte(`[{"name":"kic-old","profile":"default"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &clusterRecords{dir: dir}
	if err := r.reset(); err != nil {
		t.Fatal(err)
	}
	if rs := readRecords(t, dir); len(rs) != 0 {
		t.Fatalf("after reset: %+v", rs)
	}
	rec := ClusterRecord{Name: "kic-default-1234", Profile: "default", Slot: "default", Kubeconfig: "state/kic-default-1234.kubeconfig",
		NodeImage: "kic.local/node:v1.37.2", NodeImageFrom: "profile default", State: "in use", Running: true}
	if err := r.add(rec); err != nil {
		t.Fatal(err)
	}
	// The cluster's end replaces its entry; a second reset is a no-op.
	rec.State, rec.NodeLogs, rec.FeatureFailed = "kept (--keep-cluster)", "art/cluster-kic-default-1234", true
	if err := r.add(rec); err != nil {
		t.Fatal(err)
	}
	if err := r.reset(); err != nil {
		t.Fatal(err)
	}
	if err := r.add(ClusterRecord{Name: "kic-issuers-5678", Profile: "issuers", Slot: "issuers", State: "removed"}); err != nil {
		t.Fatal(err)
	}
	rs := readRecords(t, dir)
	if len(rs) != 2 || rs[0].Name != "kic-default-1234" || rs[1].Name != "kic-issuers-5678" {
		t.Fatalf("records %+v", rs)
	}
	got := rs[0]
	if got.State != "kept (--keep-cluster)" || !got.Running || !got.FeatureFailed || !filepath.IsAbs(got.Kubeconfig) || !filepath.IsAbs(got.NodeLogs) ||
		!strings.HasSuffix(got.NodeLogs, "art/cluster-kic-default-1234") {
		t.Errorf("record %+v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, ClustersFile+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

func TestReadClusterRecordsRefusesBadInput(t *testing.T) {
	for _, in := range []string{``, `null`, `{}`, `[{"name":"kic-x"}]`, `[{"profile":"default"}]`} {
		if _, err := ReadClusterRecords([]byte(in)); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
}

func TestFeaturesFileListsEveryFeatureAsGoTestNamesIt(t *testing.T) {
	cases := func() []Case {
		return []Case{
			Default(feature("a pod's token", map[string]string{"area": "tokens", "source": "seed003", "section": "serviceAccountToken 投射卷"}, nil)),
			On("issuers", feature("the first issuer signs [issuers]", map[string]string{"area": "issuers"}, nil)).Disruptive(),
		}
	}
	newRT := func(dir string, dry bool, profile string) {
		t.Helper()
		run, _ := newNameMatcher("TestA/a_pod")
		_, err := New(Options{
			Provider: &fakeProvider{}, Selection: Selection{Run: run, Profile: profile}, ArtifactsDir: dir, DryRun: dry,
			ProfileBase: func(p string) string { return map[string]string{"v1.36": DefaultProfile}[p] },
			Env:         func(*steps.Cluster) types.Environment { return env.NewWithConfig(envconf.New()) },
			Idle:        env.NewWithConfig(envconf.New()), Progress: io.Discard,
		}, []Area{{"TestA", cases}})
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func(dir string) []FeatureRecord {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, FeaturesFile))
		if err != nil {
			t.Fatal(err)
		}
		rs, err := ReadFeatureRecords(data)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	dir := t.TempDir()
	newRT(dir, false, "")
	rs := read(dir)
	if len(rs) != 2 {
		t.Fatalf("records %+v", rs)
	}
	a, b := rs[0], rs[1]
	if a.Test != "TestA/a_pod's_token" || a.Area != "TestA" || a.Feature != "a pod's token" || !a.Selected || a.NotSelected != "" ||
		fmt.Sprint(a.Labels["section"]) != "[serviceAccountToken 投射卷]" || fmt.Sprint(a.Labels[LabelProfile]) != "[default]" || a.ClusterProfile != "default" {
		t.Errorf("first record %+v", a)
	}
	if b.Test != "TestA/the_first_issuer_signs_[issuers]" || b.Selected || b.NotSelected != "-run does not match" ||
		fmt.Sprint(b.Labels[LabelProfile]) != "[issuers]" || fmt.Sprint(b.Labels[LabelDisruptive]) != "[true]" || b.ClusterProfile != "issuers" {
		t.Errorf("second record %+v", b)
	}

	// --profile=v1.36: the default profile's features run on v1.36's cluster.
	v136 := t.TempDir()
	newRT(v136, false, "v1.36")
	if rs := read(v136); rs[0].ClusterProfile != "v1.36" || fmt.Sprint(rs[0].Labels[LabelProfile]) != "[default]" || !rs[0].Selected {
		t.Errorf("with --profile=v1.36: %+v", rs[0])
	}

	// A dry run (go test -list) leaves a real run's file alone.
	dry := t.TempDir()
	newRT(dry, true, "")
	if _, err := os.Stat(filepath.Join(dry, FeaturesFile)); !os.IsNotExist(err) {
		t.Errorf("a dry run wrote %s: %v", FeaturesFile, err)
	}
}

func TestSubtestNameIsGoTestsRewrite(t *testing.T) {
	for in, want := range map[string]string{
		"a b\tc":             "a_b_c",
		"80 % [v1.36]":       "80_%_[v1.36]",
		"no\u00a0break":      "no_break",
		"bell\a":             `bell\a`,
		"投射卷 podCertificate": "投射卷_podCertificate",
	} {
		if got := subtestName(in); got != want {
			t.Errorf("subtestName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadFeatureRecordsRefusesBadInput(t *testing.T) {
	for _, in := range []string{``, `null`, `{}`, `[{"test":"TestA/x","area":"TestA"}]`, `[{"area":"TestA","feature":"x"}]`} {
		if _, err := ReadFeatureRecords([]byte(in)); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
}

// TestFeatureRecordNamesAreTheSubtests runs features and compares their
// records' Test with the names go test gave them.
func TestFeatureRecordNamesAreTheSubtests(t *testing.T) {
	var mu sync.Mutex
	ran := map[string]bool{}
	named := func(name string) types.Feature {
		return features.New(name).Assess("runs", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			mu.Lock()
			defer mu.Unlock()
			ran[strings.TrimSuffix(t.Name(), "/runs")] = true
			return ctx
		}).Feature()
	}
	cases := func() []Case {
		return []Case{
			Default(named("a pod's token lives 80 %\tof its life")),
			On("issuers", named("the first issuer signs [issuers]")),
		}
	}
	dir := t.TempDir()
	area := t.Name() + "/group/TestArea"
	r, err := New(Options{
		Provider: &fakeProvider{}, ArtifactsDir: dir,
		Env: func(c *steps.Cluster) types.Environment {
			e, err := env.NewWithContext(steps.WithCluster(context.Background(), c), envconf.New())
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
		Idle: env.NewWithConfig(envconf.New()), Progress: io.Discard,
	}, []Area{{area, cases}})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background())
	// Run calls t.Parallel: the group returns once the area is done.
	t.Run("group", func(t *testing.T) {
		t.Run("TestArea", func(t *testing.T) { r.Run(t, cases()...) })
	})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, FeaturesFile))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ReadFeatureRecords(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || len(ran) != 2 {
		t.Fatalf("records %+v, ran %v", rs, ran)
	}
	for _, rec := range rs {
		if !ran[rec.Test] {
			t.Errorf("record %q is not a subtest that ran (%v)", rec.Test, ran)
		}
	}
}
