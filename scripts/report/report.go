package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/defects"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/results"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
)

// The results a row can have, in the order the summary lists them.
const (
	Pass       = "pass"
	Fail       = "fail"
	Skip       = "skip"
	Reproduced = "known defect reproduced"
	Absent     = "defect absent"
	OtherDef   = "defect: other result"
	NoResult   = "no result"
)

// Results is the summary's column order.
var Results = []string{Pass, Fail, Skip, Reproduced, Absent, OtherDef, NoResult}

// areaOf maps the suite's TestXxx to the area label its features carry
// (tests/*.go: WithLabel("area", ...)), for a run without features.json,
// whose area label is used when present (test.json has no labels); a
// TestXxx not listed here is its own area.
var areaOf = map[string]string{
	"TestServiceAccountIssuers": "issuers",
	"TestPodCertificates":       "podcertificates",
	"TestProbe":                 "probe",
	"TestProjectedVolumes":      "projected",
	"TestServiceAccounts":       "serviceaccounts",
	"TestServiceAccountTokens":  "tokens",
	"TestClusterTrustBundles":   "trustbundles",
}

// Row is one documented behaviour checked on one Kubernetes version: an
// assessment of a feature (or a feature that ended before its assessments).
type Row struct {
	Test string // the go test name
	// Run is the index of its run (Report.Runs).
	Run        int
	Area       string
	Feature    string
	Assessment string
	// Source is the seed document and section the feature checks
	// ("seed 002 §发行者(Issuer)配置"), from its labels in features.json.
	Source  string
	Profile string
	Version string
	Result  string
	Reason  string
	Defects []string
	Timings []string
	Elapsed float64
	// Failure is the path of the feature's failure file
	// (results.FailureFile) of a failed row, when the run wrote one.
	Failure string
}

// AreaCount is one line of the summary per area.
type AreaCount struct {
	Area   string
	Counts map[string]int
	Total  int
}

// Conforms: nothing failed and nothing is without a result.
func (a AreaCount) Conforms() bool { return a.Counts[Fail] == 0 && a.Counts[NoResult] == 0 }

// Run is one artifacts directory of the report.
type Run struct {
	Dir      string
	Clusters []Cluster
	Notes    []string
}

// Cluster is a kind cluster of a run, as the report shows it.
type Cluster struct {
	runtime.ClusterRecord
	Version string
	// Logs is the directory of its exported node logs, when it is there.
	Logs string
}

// MatrixRow is one behaviour (area, feature, assessment) across the
// report's Kubernetes versions (Report.Versions): the result on each.
type MatrixRow struct {
	Area, Feature, Assessment string
	Cells                     []Cell
}

// Cell is a behaviour's result on one version: "" when not checked there,
// every distinct result when several rows (profiles, runs) checked it.
type Cell struct {
	Text, Class string
}

// Report is the rows of one or more runs and their summary.
type Report struct {
	// Out is the directory the report is written to: links are relative
	// to it.
	Out    string
	Runs   []Run
	Rows   []Row
	Counts map[string]int
	Areas  []AreaCount
	// Versions are the Kubernetes versions of the rows, oldest first;
	// Matrix, when there are several, is each behaviour across them.
	Versions []string
	Matrix   []MatrixRow
	Notes    []string
}

// Dirs are the runs' artifacts directories.
func (r *Report) Dirs() []string {
	var d []string
	for _, run := range r.Runs {
		d = append(d, run.Dir)
	}
	return d
}

// Link is path as a URL relative to the report's directory (Out; a path
// that cannot be made relative stays as it is), escaped for an href or a
// Markdown link.
func (r *Report) Link(path string) string {
	if path == "" {
		return ""
	}
	if r.Out != "" {
		out, err1 := filepath.Abs(r.Out)
		abs, err2 := filepath.Abs(path)
		if err1 == nil && err2 == nil {
			if rel, err := filepath.Rel(out, abs); err == nil {
				path = rel
			}
		}
	}
	u := url.URL{Path: filepath.ToSlash(path)}
	return u.String()
}

// Load reads the artifacts directories of one or more runs into one
// report. Each needs test.json; known-defects.json, clusters.json and
// features.json are read when present (a run cut short may lack them), and
// their absence is noted in the report. Versions are resolved per run:
// two runs may give one profile different node images. With one
// directory, the report's Out is that directory.
func Load(dirs ...string) (*Report, error) {
	if len(dirs) == 0 {
		return nil, errors.New("no artifacts directory")
	}
	r := &Report{Counts: map[string]int{}}
	if len(dirs) == 1 {
		r.Out = dirs[0]
	}
	for i, dir := range dirs {
		rows, run, err := loadRun(dir, i)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		r.Runs = append(r.Runs, run)
		r.Rows = append(r.Rows, rows...)
		for _, n := range run.Notes {
			if len(dirs) > 1 {
				n = dir + ": " + n
			}
			r.Notes = append(r.Notes, n)
		}
	}
	r.summarize()
	return r, nil
}

// loadRun reads one artifacts directory: its rows (Row.Run = index) and
// its clusters.
func loadRun(dir string, index int) ([]Row, Run, error) {
	run := Run{Dir: dir}
	tests, err := results.LoadTests(dir)
	if err != nil {
		return nil, run, err
	}
	if tests.BadLines > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d lines of %s are no test2json event (the run was cut short?)", tests.BadLines, results.TestJSONFile))
	}
	if err := tests.LoadFindings(); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, run, err
		}
		run.Notes = append(run.Notes, defects.RecordsFile+" is missing: known defects are not shown (did the run end?)")
	}
	var recs []runtime.ClusterRecord
	switch data, err := os.ReadFile(filepath.Join(dir, runtime.ClustersFile)); {
	case err == nil:
		if recs, err = runtime.ReadClusterRecords(data); err != nil {
			return nil, run, err
		}
	case errors.Is(err, fs.ErrNotExist):
		run.Notes = append(run.Notes, runtime.ClustersFile+" is missing: versions are the profiles' defaults")
	default:
		return nil, run, err
	}
	var feats []runtime.FeatureRecord
	switch data, err := os.ReadFile(filepath.Join(dir, runtime.FeaturesFile)); {
	case err == nil:
		if feats, err = runtime.ReadFeatureRecords(data); err != nil {
			return nil, run, err
		}
	case errors.Is(err, fs.ErrNotExist):
		run.Notes = append(run.Notes, runtime.FeaturesFile+" is missing: the rows name no source section")
	default:
		return nil, run, err
	}
	versions := profileVersions(recs)
	for _, rec := range recs {
		run.Clusters = append(run.Clusters, Cluster{ClusterRecord: rec, Version: versions[rec.Profile], Logs: nodeLogs(dir, rec)})
	}
	rows, notSelected := build(tests, versions, feats, dir, index)
	if notSelected > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("%d features the run did not select (another profile's, -run, --labels) are not rows: %s lists them", notSelected, runtime.FeaturesFile))
	}
	return rows, run, nil
}

// nodeLogs is where a cluster's exported node logs are: the recorded
// directory, else the directory of that name in the run's artifacts (the
// artifacts were moved, for example downloaded from CI); "" when neither is
// there.
func nodeLogs(dir string, rec runtime.ClusterRecord) string {
	if rec.NodeLogs == "" {
		return ""
	}
	if isDir(rec.NodeLogs) {
		return rec.NodeLogs
	}
	if p := filepath.Join(dir, filepath.Base(rec.NodeLogs)); isDir(p) {
		return p
	}
	return ""
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

var profileSuffix = regexp.MustCompile(`_\[([A-Za-z0-9.-]+)\]$`)

// build makes a run's rows: every test without subtests below a TestXxx,
// except the features features.json says the run did not select (go test
// reports them as skipped; they were never meant to run here), which it
// counts.
func build(run *results.Run, versions map[string]string, feats []runtime.FeatureRecord, dir string, index int) ([]Row, int) {
	byTest := map[string]runtime.FeatureRecord{}
	for _, f := range feats {
		byTest[f.Test] = f
	}
	var rows []Row
	notSelected, counted := 0, map[string]bool{}
	for _, name := range run.Order {
		parts := strings.SplitN(name, "/", 3)
		if len(parts) < 2 || !run.Leaf(name) {
			continue
		}
		t := run.Tests[name]
		feature := parts[0] + "/" + parts[1]
		rec, known := byTest[feature]
		if known && !rec.Selected {
			if !counted[feature] {
				counted[feature] = true
				notSelected++
			}
			continue
		}
		row := Row{Test: name, Run: index, Area: areaOf[parts[0]], Feature: parts[1], Profile: runtime.DefaultProfile, Elapsed: t.Elapsed}
		if a := rec.Labels["area"]; len(a) > 0 {
			row.Area = a[0]
		}
		if row.Area == "" {
			row.Area = parts[0]
		}
		if len(parts) == 3 {
			row.Assessment = humanize(parts[2])
		}
		if m := profileSuffix.FindStringSubmatch(row.Feature); m != nil {
			row.Profile = m[1]
			row.Feature = strings.TrimSuffix(row.Feature, m[0])
		}
		if known && rec.ClusterProfile != "" {
			// A variant's cluster (--profile=v1.36), or the existing
			// cluster everything ran on.
			row.Profile = rec.ClusterProfile
		}
		row.Feature = humanize(row.Feature)
		row.Source = source(rec.Labels)
		row.Version = versions[row.Profile]
		row.Result, row.Reason = classify(t, run.Findings[name])
		row.Defects = run.DefectIDs(name)
		row.Timings = timings(t.Output)
		if row.Result == Fail {
			if p := filepath.Join(dir, filepath.FromSlash(results.FailureFile(feature))); isFile(p) {
				row.Failure = p
			}
		}
		rows = append(rows, row)
	}
	return rows, notSelected
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

var seedLabel = regexp.MustCompile(`^seed(\d+)$`)

// source is the seed document and section of a feature's labels: "seed
// 002 §发行者(Issuer)配置"; "" without a source label.
func source(labels map[string][]string) string {
	src := labels["source"]
	if len(src) == 0 || src[0] == "" {
		return ""
	}
	s := src[0]
	if m := seedLabel.FindStringSubmatch(s); m != nil {
		s = "seed " + m[1]
	}
	if sec := labels["section"]; len(sec) > 0 && sec[0] != "" {
		s += " §" + sec[0]
	}
	return s
}

// summarize sorts the rows and counts them, per result and per area, and
// builds the matrix when the rows span several versions.
func (r *Report) summarize() {
	sort.SliceStable(r.Rows, func(i, j int) bool {
		a, b := r.Rows[i], r.Rows[j]
		if a.Area != b.Area {
			return a.Area < b.Area
		}
		if a.Feature != b.Feature {
			return a.Feature < b.Feature
		}
		if a.Assessment != b.Assessment {
			return a.Assessment < b.Assessment
		}
		if c := compareVersions(a.Version, b.Version); c != 0 {
			return c < 0
		}
		return a.Run < b.Run
	})
	areas := map[string]*AreaCount{}
	seen := map[string]bool{}
	for _, row := range r.Rows {
		r.Counts[row.Result]++
		a := areas[row.Area]
		if a == nil {
			a = &AreaCount{Area: row.Area, Counts: map[string]int{}}
			areas[row.Area] = a
		}
		a.Counts[row.Result]++
		a.Total++
		if !seen[row.Version] {
			seen[row.Version] = true
			r.Versions = append(r.Versions, row.Version)
		}
	}
	for _, a := range areas {
		r.Areas = append(r.Areas, *a)
	}
	sort.Slice(r.Areas, func(i, j int) bool { return r.Areas[i].Area < r.Areas[j].Area })
	sort.Slice(r.Versions, func(i, j int) bool { return compareVersions(r.Versions[i], r.Versions[j]) < 0 })
	if len(r.Versions) > 1 {
		r.Matrix = matrix(r.Rows, r.Versions)
	}
}

// matrix is one row per behaviour, in the rows' order, with its results
// on each version.
func matrix(rows []Row, versions []string) []MatrixRow {
	col := map[string]int{}
	for i, v := range versions {
		col[v] = i
	}
	var out []MatrixRow
	at := map[[3]string]int{}
	cells := map[[3]string][][]string{}
	for _, row := range rows {
		k := [3]string{row.Area, row.Feature, row.Assessment}
		if _, ok := at[k]; !ok {
			at[k] = len(out)
			out = append(out, MatrixRow{Area: row.Area, Feature: row.Feature, Assessment: row.Assessment})
			cells[k] = make([][]string, len(versions))
		}
		c := cells[k][col[row.Version]]
		if !slices.Contains(c, row.Result) {
			cells[k][col[row.Version]] = append(c, row.Result)
		}
	}
	for k, i := range at {
		for _, res := range cells[k] {
			cell := Cell{Text: strings.Join(res, " / ")}
			switch len(res) {
			case 0:
			case 1:
				cell.Class = cssClass(res[0])
			default:
				cell.Class = "other"
			}
			out[i].Cells = append(out[i].Cells, cell)
		}
	}
	return out
}

// compareVersions orders Kubernetes versions by their numbers (v1.9.0
// before v1.10.0, a pre-release before its release), then as strings; ""
// last.
func compareVersions(a, b string) int {
	if a == b {
		return 0
	}
	if a == "" || b == "" {
		return map[bool]int{true: 1, false: -1}[a == ""]
	}
	coreA, preA, _ := strings.Cut(a, "-")
	coreB, preB, _ := strings.Cut(b, "-")
	if c := slices.Compare(versionNumbers(coreA), versionNumbers(coreB)); c != 0 {
		return c
	}
	switch {
	case preA == "" && preB != "":
		return 1
	case preA != "" && preB == "":
		return -1
	}
	if c := slices.Compare(versionNumbers(preA), versionNumbers(preB)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

var digits = regexp.MustCompile(`\d+`)

func versionNumbers(v string) []int {
	var n []int
	for _, d := range digits.FindAllString(v, -1) {
		i, _ := strconv.Atoi(d)
		n = append(n, i)
	}
	return n
}

// profileVersions is each profile's Kubernetes version: the node image
// tag of its cluster in clusters.json, else the profile's default.
func profileVersions(recs []runtime.ClusterRecord) map[string]string {
	v := map[string]string{}
	for _, p := range clusters.All() {
		v[p.Name] = p.KubernetesVersion
	}
	for _, rec := range recs {
		if rec.KubernetesVersion != "" {
			v[rec.Profile] = rec.KubernetesVersion
			continue
		}
		if i := strings.LastIndex(rec.NodeImage, ":"); i >= 0 && !strings.Contains(rec.NodeImage[i:], "/") {
			v[rec.Profile] = rec.NodeImage[i+1:]
		} else if rec.NodeImage != "" {
			v[rec.Profile] = rec.NodeImage
		}
	}
	return v
}

// humanize undoes go test's spaces-to-underscores in subtest names.
func humanize(s string) string { return strings.ReplaceAll(s, "_", " ") }

// classify is the row's result and its reason.
func classify(t *results.Result, fs []defects.Record) (string, string) {
	lines := messages(t.Output)
	var ids []string
	res := map[defects.Result]bool{}
	for _, f := range fs {
		res[f.Result] = true
		ids = append(ids, f.Defect+" ("+string(f.Result)+", "+f.Component+" "+f.Version+")")
	}
	sort.Strings(ids)
	defectReason := strings.Join(results.Dedupe(ids), "; ")
	switch {
	case t.Action == "":
		return NoResult, "the run ended before the test did"
	case t.Action == "fail":
		return Fail, joinNonEmpty(first(lines, 3), defectReason)
	case res[defects.Reproduced]:
		return Reproduced, defectReason
	case t.Action == "skip":
		return Skip, last(lines)
	case res[defects.OutOfRange] || res[defects.Unexpected]:
		return OtherDef, defectReason
	case res[defects.Absent]:
		return Absent, defectReason
	}
	return Pass, ""
}

var fileLine = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)

// messages are the test's log lines without their file:line prefix.
func messages(out []string) []string {
	var m []string
	for _, l := range out {
		l = strings.TrimSpace(fileLine.ReplaceAllString(l, ""))
		if l != "" {
			m = append(m, l)
		}
	}
	return m
}

var timingLine = regexp.MustCompile(`(?i)\b(measured|took|elapsed|duration):\s*(.*)$`)

// timings are what the assessments logged as measurements ("measured: ...").
func timings(out []string) []string {
	var ts []string
	for _, l := range out {
		if m := timingLine.FindStringSubmatch(l); m != nil && m[2] != "" {
			ts = append(ts, strings.TrimSpace(m[2]))
		}
	}
	return ts
}

func first(l []string, n int) string {
	if len(l) > n {
		l = append(l[:n:n], fmt.Sprintf("(%d more lines)", len(l)-n))
	}
	return strings.Join(l, " / ")
}

func last(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}
