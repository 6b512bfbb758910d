package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
