// Package results reads a suite run's artifacts: gotestsum's test.json
// (test2json events) and known-defects.json. scripts/compare and
// scripts/report share it.
package results

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/defects"
)

// TestJSONFile is gotestsum's --jsonfile in a run's artifacts directory:
// go test -json (test2json) events, one a line.
const TestJSONFile = "test.json"

// event is one test2json event (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// Result is how one test (a TestXxx, a feature or an assessment) ended.
type Result struct {
	Name string
	// Action is pass, fail or skip; "" when the run ended before the test
	// did.
	Action  string
	Elapsed float64
	// Output is what the test printed, without go test's framing lines
	// (=== RUN, --- FAIL: ...).
	Output []string
}

// Outcome is the result as a word.
func (r *Result) Outcome() string {
	if r.Action == "" {
		return "no result (the run ended first)"
	}
	return r.Action
}

// Run is one suite run's results: its tests in the order they started, and
// its known-defect findings by test.
type Run struct {
	Dir      string
	Tests    map[string]*Result
	Order    []string
	Findings map[string][]defects.Record
	// BadLines counts lines of test.json that are no test2json event (a
	// truncated last line when the run was killed).
	BadLines int
	parents  map[string]bool
}

// LoadRun reads a run's artifacts directory: test.json and
// known-defects.json, both required.
func LoadRun(dir string) (*Run, error) {
	r, err := LoadTests(dir)
	if err != nil {
		return nil, err
	}
	if err := r.LoadFindings(); err != nil {
		return nil, err
	}
	return r, nil
}

// LoadTests reads the run's test.json.
func LoadTests(dir string) (*Run, error) {
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("artifacts directory: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("artifacts directory %s is not a directory", dir)
	}
	f, err := os.Open(filepath.Join(dir, TestJSONFile))
	if err != nil {
		return nil, fmt.Errorf("%w (gotestsum writes it when the suite runs through the Makefile: did the run start?)", err)
	}
	defer f.Close()
	r, err := ParseTestJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	r.Dir = dir
	return r, nil
}

// LoadFindings reads the run's known-defects.json.
func (r *Run) LoadFindings() error {
	path := filepath.Join(r.Dir, defects.RecordsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w (the suite writes it at the end of every run: did the run end? see %s)", err, filepath.Join(r.Dir, "progress.log"))
	}
	recs, err := defects.ReadRecords(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, rec := range recs {
		r.Findings[rec.Test] = append(r.Findings[rec.Test], rec)
	}
	return nil
}

// ParseTestJSON reads test2json events. Events of one package only: the
// suite is one package, and test names are compared without it.
func ParseTestJSON(in io.Reader) (*Run, error) {
	r := &Run{Tests: map[string]*Result{}, Findings: map[string][]defects.Record{}, parents: map[string]bool{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	pkg := ""
	var pkgOutput []string // what the binary printed outside any test
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			r.BadLines++
			continue
		}
		if e.Package != "" {
			if pkg == "" {
				pkg = e.Package
			} else if e.Package != pkg {
				return nil, fmt.Errorf("events of two packages (%s, %s): compare runs of the one suite package", pkg, e.Package)
			}
		}
		if e.Test == "" {
			if line := strings.TrimSpace(e.Output); e.Action == "output" && line != "" {
				pkgOutput = append(pkgOutput, line)
			}
			continue
		}
		t, ok := r.Tests[e.Test]
		if !ok {
			t = &Result{Name: e.Test}
			r.Tests[e.Test] = t
			r.Order = append(r.Order, e.Test)
		}
		switch e.Action {
		case "pass", "fail", "skip":
			t.Action, t.Elapsed = e.Action, e.Elapsed
		case "output":
			if line := strings.TrimRight(e.Output, "\n"); !framing(line) {
				t.Output = append(t.Output, line)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(r.Tests) == 0 {
		if len(pkgOutput) > 5 {
			pkgOutput = pkgOutput[len(pkgOutput)-5:]
		}
		if len(pkgOutput) > 0 {
			return nil, fmt.Errorf("no test events: the suite ran no test; it printed:\n  %s", strings.Join(pkgOutput, "\n  "))
		}
		return nil, errors.New("no test events: the suite ran no test (see progress.log beside it)")
	}
	for name := range r.Tests {
		for i := strings.Index(name, "/"); i >= 0; i = NextSlash(name, i) {
			r.parents[name[:i]] = true
		}
	}
	return r, nil
}

func NextSlash(s string, i int) int {
	j := strings.Index(s[i+1:], "/")
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// framing reports go test's own lines about a test's life, which say
// nothing the action does not.
func framing(line string) bool {
	l := strings.TrimLeft(line, " ")
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS:", "--- FAIL:", "--- SKIP:"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// Leaf reports whether the test has no subtest in the run (an assessment,
// or a feature that stopped before its assessments).
func (r *Run) Leaf(name string) bool { return !r.parents[name] }

// Refined is the test's outcome with the results of the known-defect checks
// it made: "pass (known defect reproduced)".
func (r *Run) Refined(name string) string {
	t := r.Tests[name]
	fs := r.Findings[name]
	if len(fs) == 0 {
		return t.Outcome()
	}
	results := map[defects.Result]bool{}
	var parts []string
	for _, f := range fs {
		results[f.Result] = true
		parts = append(parts, f.Defect+": "+string(f.Result))
	}
	if len(results) == 1 {
		return fmt.Sprintf("%s (%s)", t.Outcome(), fs[0].Result)
	}
	sort.Strings(parts)
	return fmt.Sprintf("%s (%s)", t.Outcome(), strings.Join(Dedupe(parts), "; "))
}

// DefectIDs lists the defects the test checked.
func (r *Run) DefectIDs(name string) []string {
	var ids []string
	for _, f := range r.Findings[name] {
		ids = append(ids, f.Defect)
	}
	sort.Strings(ids)
	return Dedupe(ids)
}

func Dedupe(sorted []string) []string {
	var out []string
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}
