package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// ClustersFile, in the artifacts directory, lists the run's kind clusters
// (ClusterRecord) for programs that follow up on a run (make repro): which
// cluster ran what, where its kubeconfig and node logs are, whether it is
// still there.
const ClustersFile = "clusters.json"

// ClusterRecord is one kind cluster of the run.
type ClusterRecord struct {
	Name    string `json:"name"`
	Profile string `json:"profile"`
	// Slot is the runtime's name of the cluster; OwnCluster marks a
	// disruptive feature's cluster, which --reuse-cluster never picks up.
	Slot       string `json:"slot"`
	OwnCluster bool   `json:"ownCluster"`
	Kubeconfig string `json:"kubeconfig"`
	// NodeImage is the image the node runs; NodeImageFrom says why:
	// "profile default" or "--node-image".
	NodeImage     string `json:"nodeImage"`
	NodeImageFrom string `json:"nodeImageFrom"`
	// FeatureFailed: a feature on the cluster failed.
	FeatureFailed bool `json:"featureFailed"`
	// Running: the cluster is still there after the run (kept, or a reused
	// one left in place); State says what became of it.
	Running bool   `json:"running"`
	State   string `json:"state"`
	// NodeLogs is the directory of its exported node logs ("" when none were
	// exported).
	NodeLogs string `json:"nodeLogs,omitempty"`
	// KubernetesVersion is the API server's version, recorded for an
	// existing cluster (profile "existing"), whose node image the suite
	// does not know.
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
}

// clusterRecords keeps the run's records and rewrites ClustersFile at every
// change, so that the file is complete whenever the run stops.
type clusterRecords struct {
	dir string // the artifacts directory; "" writes no file (unit tests)

	mu      sync.Mutex
	started bool
	byName  map[string]ClusterRecord
}

// add records (or updates) a cluster and rewrites the file. The first call
// of the run replaces an older run's file.
func (r *clusterRecords) add(rec ClusterRecord) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byName == nil {
		r.byName = map[string]ClusterRecord{}
	}
	if rec.Name != "" {
		for _, p := range []*string{&rec.Kubeconfig, &rec.NodeLogs} {
			if *p == "" {
				continue
			}
			abs, err := filepath.Abs(*p)
			if err != nil {
				return fmt.Errorf("%s: %w", ClustersFile, err)
			}
			*p = abs
		}
		r.byName[rec.Name] = rec
	}
	r.started = true
	return r.write()
}

// reset starts the run's file empty (an older run's records must not be
// taken for this run's).
func (r *clusterRecords) reset() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return nil
	}
	r.started = true
	return r.write()
}

func (r *clusterRecords) list() []ClusterRecord {
	out := []ClusterRecord{}
	for _, rec := range r.byName {
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r *clusterRecords) write() error {
	if r.dir == "" {
		return nil
	}
	data, err := json.MarshalIndent(r.list(), "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", ClustersFile, err)
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", ClustersFile, err)
	}
	path := filepath.Join(r.dir, ClustersFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("%s: %w", ClustersFile, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("%s: %w", ClustersFile, err)
	}
	return nil
}

// ReadClusterRecords parses ClustersFile.
func ReadClusterRecords(data []byte) ([]ClusterRecord, error) {
	var rs []ClusterRecord
	if err := json.Unmarshal(data, &rs); err != nil {
		return nil, fmt.Errorf("%s: not a JSON list of cluster records: %w", ClustersFile, err)
	}
	if rs == nil {
		return nil, fmt.Errorf("%s: not a JSON list of cluster records (null)", ClustersFile)
	}
	for i, rec := range rs {
		if rec.Name == "" || rec.Profile == "" {
			return nil, fmt.Errorf("%s: record %d names no cluster or no profile: %+v", ClustersFile, i, rec)
		}
	}
	return rs, nil
}

// FeaturesFile, in the artifacts directory, lists every feature of the run
// (FeatureRecord), selected or not, as the plan saw it: the report reads it
// for what test.json lacks, the features' labels (the seed document and
// section a behaviour comes from).
const FeaturesFile = "features.json"

// FeatureRecord is one feature of the run.
type FeatureRecord struct {
	// Test is the feature's go test name, TestXxx/<feature>, as go test
	// names the subtest (spaces become underscores; a feature of a profile
	// variant ends in _[profile] because its name ends in " [profile]").
	Test string `json:"test"`
	// Area is the area's TestXxx; Feature the feature's name.
	Area    string `json:"area"`
	Feature string `json:"feature"`
	// Labels are the feature's labels as it runs with them: its own and the
	// runtime's (profile, disruptive).
	Labels map[string][]string `json:"labels"`
	// ClusterProfile is the profile of the cluster it runs on: its own
	// profile, or the variant the run was given (--profile=v1.36 runs the
	// default profile's features on v1.36's cluster), which is the profile
	// ClusterRecord names; "existing" on an existing cluster.
	ClusterProfile string `json:"clusterProfile"`
	// Selected: the run's selection keeps the feature; NotSelected says why
	// not (empty when selected).
	Selected    bool   `json:"selected"`
	NotSelected string `json:"notSelected,omitempty"`
}

// writeFeatureRecords writes FeaturesFile into dir (replacing an older
// run's).
func writeFeatureRecords(dir string, recs []FeatureRecord) error {
	if recs == nil {
		recs = []FeatureRecord{}
	}
	data, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", FeaturesFile, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", FeaturesFile, err)
	}
	path := filepath.Join(dir, FeaturesFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("%s: %w", FeaturesFile, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("%s: %w", FeaturesFile, err)
	}
	return nil
}

// ReadFeatureRecords parses FeaturesFile.
func ReadFeatureRecords(data []byte) ([]FeatureRecord, error) {
	var rs []FeatureRecord
	if err := json.Unmarshal(data, &rs); err != nil {
		return nil, fmt.Errorf("%s: not a JSON list of feature records: %w", FeaturesFile, err)
	}
	if rs == nil {
		return nil, fmt.Errorf("%s: not a JSON list of feature records (null)", FeaturesFile)
	}
	for i, rec := range rs {
		if rec.Test == "" || rec.Area == "" || rec.Feature == "" {
			return nil, fmt.Errorf("%s: record %d names no test, area or feature: %+v", FeaturesFile, i, rec)
		}
	}
	return rs, nil
}
