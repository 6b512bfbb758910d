package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/results"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
)

const pkg = "github.com/kube-identity-conformance/kube-identity-conformance/tests"

// result is the test2json events of a test that ended with action.
func result(t *testing.T, b *strings.Builder, name, action string, output ...string) {
	t.Helper()
	emit := func(e map[string]any) {
		e["Package"], e["Test"] = pkg, name
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(out)
		b.WriteByte('\n')
	}
	emit(map[string]any{"Action": "run"})
	emit(map[string]any{"Action": "output", "Output": "=== RUN   " + name + "\n"})
	for _, o := range output {
		emit(map[string]any{"Action": "output", "Output": o + "\n"})
	}
	emit(map[string]any{"Action": action, "Elapsed": 2.5})
}

const (
	featTokens  = "TestServiceAccountTokens/a_bound_token_carries_the_pod_claims"
	featIssuers = "TestServiceAccountIssuers/the_first_issuer_signs_[issuers]"
	featCTB     = "TestClusterTrustBundles/no_labelSelector"
)

// artifacts writes a small run: a pass with a measurement, a failure (with
// its failure file), a skip, a reproduced known defect, an absent one, and
// a feature on the issuers profile; features.json labels two of the three
// features, and the default cluster's node logs were exported (recorded
// under another directory: the artifacts were moved).
func artifacts(t *testing.T) string {
	t.Helper()
	return writeRun(t, t.TempDir(), "v1.37.2", "v1.36.9")
}

// writeRun writes artifacts() into dir, the default profile's cluster on
// defaultVersion, the issuers profile's on issuersVersion.
func writeRun(t *testing.T, dir, defaultVersion, issuersVersion string) string {
	t.Helper()
	var b strings.Builder
	result(t, &b, featTokens+"/audience_is_the_API's", "pass", "    tokens_test.go:735: measured: INVALIDATION after deleting the pod: token sha256:ab12 rejected 4.1 s after the deletion (bound 30s)")
	result(t, &b, featTokens+"/expiry_<_1h", "fail", "    tokens_test.go:42: exp = 7200, want <= 3600", "    tokens_test.go:43: second", "    tokens_test.go:44: third", "    tokens_test.go:45: fourth")
	result(t, &b, featTokens, "fail")
	result(t, &b, featIssuers+"/accepted_issuers_authenticate", "pass")
	result(t, &b, featIssuers+"/windows_only", "skip", "    issuers_test.go:9: Windows nodes only")
	result(t, &b, featIssuers, "pass")
	result(t, &b, featCTB+"/the_bundle_is_projected", "pass", "    trustbundles_test.go:543: measured: by-signer.pem held the added certificate 3.2 s after the update (bound 90s)")
	result(t, &b, featCTB+"/nil_selector_matches_all", "pass")
	result(t, &b, featCTB, "pass")
	result(t, &b, "TestServiceAccountTokens", "fail")
	result(t, &b, "TestServiceAccountIssuers", "pass")
	result(t, &b, "TestClusterTrustBundles", "pass")
	kd := `[{"defect":"kubelet-ctb-nil-selector-cache","test":"` + featCTB + `/nil_selector_matches_all","result":"known defect reproduced","component":"kubelet","version":"` + defaultVersion + `","seen":"all"},
{"defect":"kubelet-ctb-update","test":"` + featCTB + `/the_bundle_is_projected","result":"defect absent","component":"kubelet","version":"` + defaultVersion + `","seen":"ok"}]`
	cl := `[{"name":"kic-default","profile":"default","nodeImage":"kic.local/node:` + defaultVersion + `","state":"removed","nodeLogs":"/elsewhere/_artifacts/cluster-kic-default"},
{"name":"kic-issuers","profile":"issuers","nodeImage":"kic.local/node:` + issuersVersion + `","state":"removed"}]`
	feats := []runtime.FeatureRecord{
		{Test: featTokens, Area: "TestServiceAccountTokens", Feature: "a bound token carries the pod claims", ClusterProfile: "default", Selected: true,
			Labels: map[string][]string{"area": {"tokens"}, "source": {"seed003"}, "section": {"serviceAccountToken 投射卷"}, "profile": {"default"}}},
		{Test: featIssuers, Area: "TestServiceAccountIssuers", Feature: "the first issuer signs [issuers]", ClusterProfile: "issuers", Selected: true,
			Labels: map[string][]string{"area": {"issuers"}, "source": {"seed002"}, "section": {"发行者(Issuer)配置"}, "profile": {"issuers"}}},
		{Test: featCTB, Area: "TestClusterTrustBundles", Feature: "no labelSelector", ClusterProfile: "default", Selected: true,
			Labels: map[string][]string{"area": {"trustbundles"}, "profile": {"default"}}},
	}
	fj, err := json.Marshal(feats)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"test.json": b.String(), "known-defects.json": kd, "clusters.json": cl, "features.json": string(fj),
		results.FailureFile(featTokens):   "pods of the feature's namespace ...\n",
		"cluster-kic-default/kubelet.log": "kubelet log\n",
	}
	for name, data := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rowLines are the rows as "area | feature | assessment | source | profile
// | version | result | reason | timings | failure".
func rowLines(r *Report) string {
	var got []string
	for _, row := range r.Rows {
		got = append(got, strings.Join([]string{row.Area, row.Feature, row.Assessment, row.Source, row.Profile, row.Version, row.Result, row.Reason,
			strings.Join(row.Timings, ";"), r.Link(row.Failure)}, " | "))
	}
	return strings.Join(got, "\n")
}

func TestBuildRows(t *testing.T) {
	r, err := Load(artifacts(t))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"issuers | the first issuer signs | accepted issuers authenticate | seed 002 §发行者(Issuer)配置 | issuers | v1.36.9 | pass |  |  | ",
		"issuers | the first issuer signs | windows only | seed 002 §发行者(Issuer)配置 | issuers | v1.36.9 | skip | Windows nodes only |  | ",
		"tokens | a bound token carries the pod claims | audience is the API's | seed 003 §serviceAccountToken 投射卷 | default | v1.37.2 | pass |  | INVALIDATION after deleting the pod: token sha256:ab12 rejected 4.1 s after the deletion (bound 30s) | ",
		"tokens | a bound token carries the pod claims | expiry < 1h | seed 003 §serviceAccountToken 投射卷 | default | v1.37.2 | fail | exp = 7200, want <= 3600 / second / third / (1 more lines) |  | failures/TestServiceAccountTokens__a_bound_token_carries_the_pod_claims.txt",
		"trustbundles | no labelSelector | nil selector matches all |  | default | v1.37.2 | known defect reproduced | kubelet-ctb-nil-selector-cache (known defect reproduced, kubelet v1.37.2) |  | ",
		"trustbundles | no labelSelector | the bundle is projected |  | default | v1.37.2 | defect absent | kubelet-ctb-update (defect absent, kubelet v1.37.2) | by-signer.pem held the added certificate 3.2 s after the update (bound 90s) | ",
	}, "\n")
	if got := rowLines(r); got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
	if r.Counts[Pass] != 2 || r.Counts[Fail] != 1 || r.Counts[Skip] != 1 || r.Counts[Reproduced] != 1 || r.Counts[Absent] != 1 {
		t.Errorf("counts %v", r.Counts)
	}
	conforms := map[string]bool{}
	for _, a := range r.Areas {
		conforms[a.Area] = a.Conforms()
	}
	if !conforms["issuers"] || conforms["tokens"] || !conforms["trustbundles"] || len(conforms) != 3 {
		t.Errorf("areas %+v", r.Areas)
	}
	if len(r.Notes) != 0 {
		t.Errorf("notes %v", r.Notes)
	}
	if got := fmt.Sprint(r.Versions); got != "[v1.36.9 v1.37.2]" || len(r.Matrix) != 6 {
		t.Errorf("versions %s, %d matrix rows", got, len(r.Matrix))
	}
	var logs []string
	for _, c := range r.Runs[0].Clusters {
		logs = append(logs, c.Name+"="+r.Link(c.Logs))
	}
	if got := strings.Join(logs, " "); got != "kic-default=cluster-kic-default kic-issuers=" {
		t.Errorf("node logs: %s", got)
	}
}

func TestLoadWithoutOptionalFiles(t *testing.T) {
	dir := artifacts(t)
	for _, f := range []string{"known-defects.json", "clusters.json", "features.json"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Notes) != 3 || r.Counts[Reproduced] != 0 {
		t.Errorf("notes %v, counts %v", r.Notes, r.Counts)
	}
	// The issuers profile's default version, from clusters/profiles.go.
	for _, row := range r.Rows {
		if row.Version == "" {
			t.Errorf("row %s has no version", row.Test)
		}
		if row.Source != "" {
			t.Errorf("row %s has a source (%s) without features.json", row.Test, row.Source)
		}
	}
}

func TestMarkdown(t *testing.T) {
	r, err := Load(artifacts(t))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# Conformance report\n",
		"6 behaviours checked.",
		"- pass: 2\n- fail: 1\n- skip: 1\n- known defect reproduced: 1\n- defect absent: 1\n",
		"| tokens | no | 1 | 1 | 0 | 0 | 0 | 0 | 0 | 2 |\n",
		"| issuers | yes | 1 | 0 | 1 | 0 | 0 | 0 | 0 | 2 |\n",
		"| tokens | a bound token carries the pod claims | expiry &lt; 1h | seed 003 §serviceAccountToken 投射卷 | default | v1.37.2 | fail ([failure file](failures/TestServiceAccountTokens__a_bound_token_carries_the_pod_claims.txt)) | exp = 7200, want &lt;= 3600 / second / third / (1 more lines) | - |\n",
		"| trustbundles | no labelSelector | nil selector matches all | - | default | v1.37.2 | known defect reproduced | kubelet-ctb-nil-selector-cache (known defect reproduced, kubelet v1.37.2) | - |\n",
		"| seed 002 §发行者(Issuer)配置 | issuers | v1.36.9 | skip |",
		"(bound 90s) |\n",
		"## Clusters\n\n| cluster | profile | version | state | node logs |\n|---|---|---|---|---|\n| kic-default | default | v1.37.2 | removed | [node logs](cluster-kic-default) |\n| kic-issuers | issuers | v1.36.9 | removed | - |\n",
		"## Behaviour x version\n\n| area | behaviour | assessment | v1.36.9 | v1.37.2 |\n|---|---|---|---|---|\n",
		"| tokens | a bound token carries the pod claims | expiry &lt; 1h | - | fail |\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	if !(strings.Index(out, "## Summary") < strings.Index(out, "## Behaviour x version") && strings.Index(out, "## Behaviour x version") < strings.Index(out, "## Results")) {
		t.Error("the order is not summary, matrix, results")
	}
}

func TestHTMLEscapesAndIsSelfContained(t *testing.T) {
	r, err := Load(artifacts(t))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, `<table id="results">`) || !strings.Contains(out, "expiry &lt; 1h") || strings.Contains(out, "expiry < 1h") {
		t.Errorf("html table or escaping:\n%s", out)
	}
	for _, want := range []string{
		`<table id="matrix">`, `<th>v1.36.9</th><th>v1.37.2</th>`, `<td>seed 003 §serviceAccountToken 投射卷</td>`,
		`<td>fail (<a href="failures/TestServiceAccountTokens__a_bound_token_carries_the_pod_claims.txt">failure file</a>)</td>`,
		`<a href="cluster-kic-default">node logs</a>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("html lacks %s:\n%s", want, out)
		}
	}
	for _, bad := range []string{"<link", "<script", "src=", "http://", "https://"} {
		if strings.Contains(out, bad) {
			t.Errorf("html refers to an external resource (%q)", bad)
		}
	}
	if n := strings.Count(out, `<tr class="`); n != len(r.Rows) {
		t.Errorf("%d result rows in the html, want %d", n, len(r.Rows))
	}
}

func TestRunWritesBothFiles(t *testing.T) {
	dir := artifacts(t)
	var out, errOut bytes.Buffer
	if code := run([]string{"--artifacts", dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, f := range []string{"report.md", "report.html"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if code := run([]string{"--artifacts", t.TempDir()}, &out, &errOut); code != 2 {
		t.Errorf("a directory without test.json: exit %d, want 2", code)
	}
}

// TestSeveralRuns: two runs of the same profiles on different versions
// make one report; each row's version is its own run's, the matrix has a
// column per version, and links are relative to the out directory.
func TestSeveralRuns(t *testing.T) {
	root := t.TempDir()
	a := writeRun(t, filepath.Join(root, "a"), "v1.36.9", "v1.36.9")
	b := writeRun(t, filepath.Join(root, "b"), "v1.37.2", "v1.37.2")
	out := filepath.Join(root, "report")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--artifacts", a, "--artifacts", b}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--out") {
		t.Errorf("two directories without --out: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"--artifacts", a + "," + b, "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(data)
	for _, want := range []string{
		"Runs: `" + a + "`, `" + b + "`, 12 behaviours checked.",
		"| tokens | a bound token carries the pod claims | expiry &lt; 1h | v1.36.9 | default | v1.36.9 | fail ([failure file](../a/failures/TestServiceAccountTokens__a_bound_token_carries_the_pod_claims.txt))",
		"| v1.37.2 | fail ([failure file](../b/failures/TestServiceAccountTokens__a_bound_token_carries_the_pod_claims.txt))",
		"| area | behaviour | assessment | v1.36.9 | v1.37.2 |\n",
		"| tokens | a bound token carries the pod claims | expiry &lt; 1h | fail | fail |\n",
		"| issuers | the first issuer signs | windows only | skip | skip |\n",
		"| run | cluster | profile | version | state | node logs |\n",
		"| " + a + " | kic-default | default | v1.36.9 | removed | [node logs](../a/cluster-kic-default) |\n",
		"| " + b + " | kic-issuers | issuers | v1.37.2 | removed | - |\n",
	} {
		want = strings.Replace(want, "| v1.36.9 | default |", "| seed 003 §serviceAccountToken 投射卷 | default |", 1)
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if _, err := os.Stat(filepath.Join(a, "report.md")); !os.IsNotExist(err) {
		t.Errorf("a run's directory got a report: %v", err)
	}

	r, err := Load(a, b)
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]string{}
	for _, row := range r.Rows {
		runs[row.Version] += fmt.Sprint(row.Run)
	}
	if runs["v1.36.9"] != "000000" || runs["v1.37.2"] != "111111" || len(runs) != 2 {
		t.Errorf("rows per version and run: %v", runs)
	}
	if r.Counts[Fail] != 2 || len(r.Matrix) != 6 || len(r.Areas) != 3 || r.Areas[1].Total != 4 {
		t.Errorf("counts %v, %d matrix rows, areas %+v", r.Counts, len(r.Matrix), r.Areas)
	}
}

// TestVariantProfileRowsTakeTheirClustersVersion: with --profile=v1.36 the
// default profile's features run on v1.36's cluster; features.json says
// so, and the rows take that cluster's version, not the default profile's.
func TestVariantProfileRowsTakeTheirClustersVersion(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	result(t, &b, featTokens+"/audience_is_the_API's", "pass")
	result(t, &b, featTokens, "pass")
	feats := `[{"test":"` + featTokens + `","area":"TestServiceAccountTokens","feature":"a bound token carries the pod claims","clusterProfile":"v1.36","selected":true,"labels":{"profile":["default"],"source":["seed003"]}}]`
	cl := `[{"name":"kic-v1.36","profile":"v1.36","nodeImage":"kic.local/node:v1.36.4"}]`
	r := loadRunOf(t, dir, b.String(), cl, feats)
	if got, want := rowLines(r), "tokens | a bound token carries the pod claims | audience is the API's | seed 003 | v1.36 | v1.36.4 | pass |  |  | "; got != want {
		t.Errorf("row %q, want %q", got, want)
	}
	if len(r.Matrix) != 0 {
		t.Errorf("one version, yet a matrix: %+v", r.Matrix)
	}
}

// TestExistingClusterRowsTakeTheServersVersion: on an existing cluster
// every feature ran on it; the rows name it and the API server's version
// that clusters.json records, not the kind profiles' defaults.
func TestExistingClusterRowsTakeTheServersVersion(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	result(t, &b, featTokens+"/audience_is_the_API's", "pass")
	result(t, &b, featTokens, "pass")
	feats := `[{"test":"` + featTokens + `","area":"TestServiceAccountTokens","feature":"a bound token carries the pod claims","clusterProfile":"existing","selected":true,"labels":{"profile":["default"],"source":["seed003"]}}]`
	cl := `[{"name":"existing","profile":"existing","kubernetesVersion":"v1.35.4"}]`
	r := loadRunOf(t, dir, b.String(), cl, feats)
	if got, want := rowLines(r), "tokens | a bound token carries the pod claims | audience is the API's | seed 003 | existing | v1.35.4 | pass |  |  | "; got != want {
		t.Errorf("row %q, want %q", got, want)
	}
}

// TestUnselectedFeaturesAreNoRows: a feature the run did not select (go
// test reports it skipped) is not a behaviour checked on that version; it
// is counted in a note instead.
func TestUnselectedFeaturesAreNoRows(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	result(t, &b, featTokens+"/audience_is_the_API's", "pass")
	result(t, &b, featTokens, "pass")
	result(t, &b, featIssuers, "skip")
	feats := `[{"test":"` + featTokens + `","area":"TestServiceAccountTokens","feature":"a bound token carries the pod claims","clusterProfile":"default","selected":true,"labels":{"source":["seed003"]}},` +
		`{"test":"` + featIssuers + `","area":"TestServiceAccountIssuers","feature":"the first issuer signs [issuers]","clusterProfile":"issuers","selected":false,"notSelected":"profile issuers, not default","labels":{"source":["seed002"]}}]`
	r := loadRunOf(t, dir, b.String(), "[]", feats)
	if len(r.Rows) != 1 || r.Rows[0].Test != featTokens+"/audience_is_the_API's" {
		t.Errorf("rows %+v, want only the selected feature's assessment", r.Rows)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "1 features the run did not select") {
		t.Errorf("notes %q lack the count of unselected features", r.Notes)
	}
}

// loadRunOf writes a run's test.json, clusters.json and features.json (no
// known defects) into dir and loads it.
func loadRunOf(t *testing.T, dir, testJSON, clustersJSON, featuresJSON string) *Report {
	t.Helper()
	for name, data := range map[string]string{"test.json": testJSON, "clusters.json": clustersJSON, "features.json": featuresJSON, "known-defects.json": "[]"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCompareVersions(t *testing.T) {
	for _, c := range [][2]string{{"v1.9.0", "v1.10.0"}, {"v1.36.9", "v1.37.2"}, {"v1.37.0-rc.1", "v1.37.0"}, {"v1.37.0-alpha.2", "v1.37.0-alpha.10"}, {"kic.local/node:a", "kic.local/node:b"}, {"v1.37.2", ""}} {
		if compareVersions(c[0], c[1]) >= 0 || compareVersions(c[1], c[0]) <= 0 {
			t.Errorf("%s is not before %s", c[0], c[1])
		}
	}
}
