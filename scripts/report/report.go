package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
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
// (tests/*.go: WithLabel("area", ...)). test.json has no labels; a TestXxx
// not listed here is its own area.
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
	Test       string // the go test name
	Area       string
	Feature    string
	Assessment string
	Profile    string
	Version    string
	Result     string
	Reason     string
	Defects    []string
	Timings    []string
	Elapsed    float64
}

// AreaCount is one line of the summary per area.
type AreaCount struct {
	Area   string
	Counts map[string]int
	Total  int
}

// Conforms: nothing failed and nothing is without a result.
func (a AreaCount) Conforms() bool { return a.Counts[Fail] == 0 && a.Counts[NoResult] == 0 }

// Report is a run's rows and their summary.
type Report struct {
	Dir      string
	Rows     []Row
	Counts   map[string]int
	Areas    []AreaCount
	Clusters []runtime.ClusterRecord
	Notes    []string
}

// Load reads a run's artifacts directory. test.json is required;
// known-defects.json and clusters.json are read when present (a run cut
// short may lack them), and their absence is noted in the report.
func Load(dir string) (*Report, error) {
	run, err := results.LoadTests(dir)
	if err != nil {
		return nil, err
	}
	var notes []string
	if run.BadLines > 0 {
		notes = append(notes, fmt.Sprintf("%d lines of %s are no test2json event (the run was cut short?)", run.BadLines, results.TestJSONFile))
	}
	if err := run.LoadFindings(); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		notes = append(notes, defects.RecordsFile+" is missing: known defects are not shown (did the run end?)")
	}
	var recs []runtime.ClusterRecord
	data, err := os.ReadFile(filepath.Join(dir, runtime.ClustersFile))
	switch {
	case err == nil:
		if recs, err = runtime.ReadClusterRecords(data); err != nil {
			return nil, err
		}
	case errors.Is(err, fs.ErrNotExist):
		notes = append(notes, runtime.ClustersFile+" is missing: versions are the profiles' defaults")
	default:
		return nil, err
	}
	r := Build(run, recs)
	r.Dir = dir
	r.Notes = append(notes, r.Notes...)
	return r, nil
}

var profileSuffix = regexp.MustCompile(`_\[([A-Za-z0-9.-]+)\]$`)

// Build makes the rows: every test without subtests below a TestXxx.
func Build(run *results.Run, recs []runtime.ClusterRecord) *Report {
	r := &Report{Counts: map[string]int{}, Clusters: recs}
	versions := profileVersions(recs)
	areas := map[string]*AreaCount{}
	for _, name := range run.Order {
		parts := strings.SplitN(name, "/", 3)
		if len(parts) < 2 || !run.Leaf(name) {
			continue
		}
		t := run.Tests[name]
		row := Row{Test: name, Area: areaOf[parts[0]], Feature: parts[1], Profile: runtime.DefaultProfile, Elapsed: t.Elapsed}
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
		row.Feature = humanize(row.Feature)
		row.Version = versions[row.Profile]
		row.Result, row.Reason = classify(t, run.Findings[name])
		row.Defects = run.DefectIDs(name)
		row.Timings = timings(t.Output)
		r.Rows = append(r.Rows, row)
		r.Counts[row.Result]++
		a := areas[row.Area]
		if a == nil {
			a = &AreaCount{Area: row.Area, Counts: map[string]int{}}
			areas[row.Area] = a
		}
		a.Counts[row.Result]++
		a.Total++
	}
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
		return a.Version < b.Version
	})
	for _, a := range areas {
		r.Areas = append(r.Areas, *a)
	}
	sort.Slice(r.Areas, func(i, j int) bool { return r.Areas[i].Area < r.Areas[j].Area })
	return r
}

// profileVersions is each profile's Kubernetes version: the node image
// tag of its cluster in clusters.json, else the profile's default.
func profileVersions(recs []runtime.ClusterRecord) map[string]string {
	v := map[string]string{}
	for _, p := range clusters.All() {
		v[p.Name] = p.KubernetesVersion
	}
	for _, rec := range recs {
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
