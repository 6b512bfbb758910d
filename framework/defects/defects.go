// Package defects reports known defects of the components under test.
//
// A check tied to a known defect has three results. The documented behaviour
// passes as "defect absent". The defect's own behaviour, on a version the
// defect is known to affect, is "known defect reproduced": reported under its
// own heading (in the test output, the run's summary and the report file),
// with its cause, and a failure only under --strict. Anything else fails, and
// so does the defect's behaviour on a version outside its range: a defect
// that should be fixed there is an ordinary failure.
package defects

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/version"
)

// Defect is a known bug, described so that it could be sent upstream.
type Defect struct {
	// ID is short and stable, for example "kubelet-ctb-nil-selector-cache".
	ID string
	// Title says what goes wrong in one line.
	Title string
	// Component is what has the bug ("kubelet", "kube-apiserver").
	Component string
	// Introduced is the first version known to have it; Fixed the first
	// without it ("" = not fixed yet).
	Introduced, Fixed string
	// Upstream links the report, or says it has not been filed.
	Upstream string
	// Steps, Expected, Actual and Cause are the bug report.
	Steps    []string
	Expected string
	Actual   string
	Cause    string
}

// Affects reports whether the component version v is in the defect's
// range [Introduced, Fixed).
func (d Defect) Affects(v string) (bool, error) {
	got, err := version.ParseGeneric(v)
	if err != nil {
		return false, fmt.Errorf("defect %s: version %q: %w", d.ID, v, err)
	}
	from, err := version.ParseGeneric(d.Introduced)
	if err != nil {
		return false, fmt.Errorf("defect %s: Introduced %q: %w", d.ID, d.Introduced, err)
	}
	if got.LessThan(from) {
		return false, nil
	}
	if d.Fixed == "" {
		return true, nil
	}
	fixed, err := version.ParseGeneric(d.Fixed)
	if err != nil {
		return false, fmt.Errorf("defect %s: Fixed %q: %w", d.ID, d.Fixed, err)
	}
	return got.LessThan(fixed), nil
}

// Range is the defect's version range, for messages.
func (d Defect) Range() string {
	if d.Fixed == "" {
		return ">= " + d.Introduced
	}
	return fmt.Sprintf(">= %s, < %s", d.Introduced, d.Fixed)
}

// BugReport is the defect written as an upstream bug report (Markdown).
func (d Defect) BugReport() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s: %s\n\n", d.Component, d.Title)
	fmt.Fprintf(&b, "Affected: %s %s. Upstream: %s.\n\n", d.Component, d.Range(), d.Upstream)
	b.WriteString("**Steps to reproduce**\n\n")
	for i, s := range d.Steps {
		fmt.Fprintf(&b, "%d. %s\n", i+1, s)
	}
	fmt.Fprintf(&b, "\n**Expected**: %s\n\n**Actual**: %s\n\n**Cause**: %s\n", d.Expected, d.Actual, d.Cause)
	return b.String()
}

// Result is what a defect check found.
type Result string

const (
	// Absent: the documented behaviour was seen.
	Absent Result = "defect absent"
	// Reproduced: the defect's behaviour, on an affected version.
	Reproduced Result = "known defect reproduced"
	// OutOfRange: the defect's behaviour on a version it should not affect.
	OutOfRange Result = "defect outside its version range"
	// Unexpected: neither the documented behaviour nor the defect's.
	Unexpected Result = "unexpected result"
)

// Observation is what a check saw.
type Observation struct {
	// Version is the version of the defect's component that produced it
	// (the kubelet's of the pod's node, for a kubelet defect).
	Version string
	// Documented: what was seen is the documented behaviour.
	Documented bool
	// Defective: what was seen is the defect's behaviour.
	Defective bool
	// Seen describes it.
	Seen string
}

// Finding is one check's result.
type Finding struct {
	Defect  Defect
	Test    string
	Result  Result
	Version string
	Seen    string
	At      time.Time
}

// Registry collects the run's findings. Strict turns a reproduced known
// defect into a failure.
type Registry struct {
	Strict bool

	mu       sync.Mutex
	findings []Finding
}

// Check judges an observation of defect d: it logs or reports the result on
// t and records it. It returns the result.
func (r *Registry) Check(t testing.TB, d Defect, o Observation) Result {
	t.Helper()
	res := Unexpected
	var rangeErr error
	switch {
	case o.Documented && o.Defective:
		t.Errorf("defect check %s: an observation cannot be both documented and defective: %s", d.ID, o.Seen)
	case o.Documented:
		res = Absent
	case o.Defective:
		affected, err := d.Affects(o.Version)
		switch {
		case err != nil:
			rangeErr = err
		case affected:
			res = Reproduced
		default:
			res = OutOfRange
		}
	}
	r.record(Finding{Defect: d, Test: t.Name(), Result: res, Version: o.Version, Seen: o.Seen, At: time.Now()})
	switch res {
	case Absent:
		t.Logf("known defect %s: absent on %s %s (%s)", d.ID, d.Component, o.Version, o.Seen)
	case Reproduced:
		msg := fmt.Sprintf("KNOWN DEFECT REPRODUCED %s (%s %s, affects %s): %s\n  seen: %s\n  expected: %s\n  cause: %s",
			d.ID, d.Component, o.Version, d.Range(), d.Title, o.Seen, d.Expected, d.Cause)
		if r.Strict {
			t.Error(msg + "\n  (--strict: a known defect fails)")
		} else {
			t.Log(msg)
		}
	case OutOfRange:
		t.Errorf("%s %s shows the behaviour of known defect %s (%s), which affects only %s: an ordinary failure\n  seen: %s\n  expected: %s",
			d.Component, o.Version, d.ID, d.Title, d.Range(), o.Seen, d.Expected)
	case Unexpected:
		if rangeErr != nil {
			t.Errorf("defect check %s: %v", d.ID, rangeErr)
		}
		t.Errorf("neither the documented behaviour nor known defect %s: %s\n  expected: %s\n  the defect gives: %s", d.ID, o.Seen, d.Expected, d.Actual)
	}
	return res
}

func (r *Registry) record(f Finding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.findings = append(r.findings, f)
}

// Findings returns the run's findings, by defect and test.
func (r *Registry) Findings() []Finding {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Finding(nil), r.findings...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Defect.ID != out[j].Defect.ID {
			return out[i].Defect.ID < out[j].Defect.ID
		}
		return out[i].Test < out[j].Test
	})
	return out
}

// Summary is the "known defects" heading of the run's output: one line per
// finding ("" when there is none).
func (r *Registry) Summary() string {
	fs := r.Findings()
	if len(fs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("known defects:\n")
	for _, f := range fs {
		fmt.Fprintf(&b, "  %-34s %-26s %s %s  %s\n", f.Defect.ID, f.Result, f.Defect.Component, f.Version, f.Test)
	}
	return strings.TrimRight(b.String(), "\n")
}

// Report is the findings as a Markdown document: a table, then each
// defect's bug report once.
func (r *Registry) Report() string {
	fs := r.Findings()
	var b strings.Builder
	b.WriteString("# Known defects\n\n")
	if len(fs) == 0 {
		b.WriteString("No check of a known defect ran.\n")
		return b.String()
	}
	if r.Strict {
		b.WriteString("Run with --strict: a reproduced known defect fails its test.\n\n")
	} else {
		b.WriteString("A reproduced known defect is reported here and does not fail its test (--strict makes it fail).\n\n")
	}
	b.WriteString("| defect | result | version | test | seen |\n|---|---|---|---|---|\n")
	seen := map[string]Defect{}
	var order []string
	for _, f := range fs {
		fmt.Fprintf(&b, "| %s | %s | %s %s | %s | %s |\n", f.Defect.ID, f.Result, f.Defect.Component, f.Version, f.Test, strings.ReplaceAll(f.Seen, "|", `\|`))
		if _, ok := seen[f.Defect.ID]; !ok {
			seen[f.Defect.ID] = f.Defect
			order = append(order, f.Defect.ID)
		}
	}
	for _, id := range order {
		b.WriteString("\n")
		b.WriteString(seen[id].BugReport())
	}
	return b.String()
}

// Record is one finding as written to known-defects.json, for programs
// (scripts/compare) that read a run's results.
type Record struct {
	Defect    string `json:"defect"`
	Test      string `json:"test"`
	Result    Result `json:"result"`
	Component string `json:"component"`
	Version   string `json:"version"`
	Seen      string `json:"seen"`
}

// Records returns the findings as records, in the order of Findings.
func (r *Registry) Records() []Record {
	out := []Record{} // an empty list, not null, when nothing was checked
	for _, f := range r.Findings() {
		out = append(out, Record{Defect: f.Defect.ID, Test: f.Test, Result: f.Result, Component: f.Defect.Component, Version: f.Version, Seen: f.Seen})
	}
	return out
}

// JSON is the findings as a JSON list of records (an empty list when no
// check of a known defect ran).
func (r *Registry) JSON() ([]byte, error) {
	out, err := json.MarshalIndent(r.Records(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("known-defect records: %w", err)
	}
	return append(out, '\n'), nil
}

// ReadRecords parses known-defects.json. Every record must name its defect,
// test and a known result: a file that does not is refused, naming the
// record.
func ReadRecords(data []byte) ([]Record, error) {
	var rs []Record
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rs); err != nil {
		return nil, fmt.Errorf("not a JSON list of known-defect records: %w", err)
	}
	if rs == nil {
		return nil, fmt.Errorf("not a JSON list of known-defect records (null)")
	}
	for i, rec := range rs {
		switch {
		case rec.Defect == "" || rec.Test == "":
			return nil, fmt.Errorf("record %d names no defect or no test: %+v", i, rec)
		case !rec.Result.known():
			return nil, fmt.Errorf("record %d (%s in %s): unknown result %q (known: %q, %q, %q, %q)", i, rec.Defect, rec.Test, rec.Result, Absent, Reproduced, OutOfRange, Unexpected)
		}
	}
	return rs, nil
}

func (res Result) known() bool {
	switch res {
	case Absent, Reproduced, OutOfRange, Unexpected:
		return true
	}
	return false
}

// Report file names in a run's artifacts directory.
const (
	ReportFile  = "known-defects.md"
	RecordsFile = "known-defects.json"
)

// WriteFiles writes the run's findings into dir: known-defects.json always
// (an empty list when no check ran, so that a reader never takes an older
// run's file for this one's), known-defects.md when there is a finding (an
// older run's is removed when there is none). It returns the paths written.
func (r *Registry) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("known-defect report: %w", err)
	}
	js, err := r.JSON()
	if err != nil {
		return nil, err
	}
	var written []string
	path := filepath.Join(dir, RecordsFile)
	if err := os.WriteFile(path, js, 0o644); err != nil {
		return nil, fmt.Errorf("known-defect records: %w", err)
	}
	written = append(written, path)
	path = filepath.Join(dir, ReportFile)
	if len(r.Findings()) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return written, fmt.Errorf("remove an older run's known-defect report: %w", err)
		}
		return written, nil
	}
	if err := os.WriteFile(path, []byte(r.Report()), 0o644); err != nil {
		return written, fmt.Errorf("known-defect report: %w", err)
	}
	return append(written, path), nil
}
