package defects

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what a check reported.
type recorder struct {
	testing.TB
	errors, logs []string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Name() string                 { return "TestX/feature" }
func (r *recorder) Error(args ...any)            { r.errors = append(r.errors, strings.TrimSpace(fmtln(args...))) }
func (r *recorder) Errorf(f string, args ...any) { r.errors = append(r.errors, sprintf(f, args...)) }
func (r *recorder) Log(args ...any)              { r.logs = append(r.logs, strings.TrimSpace(fmtln(args...))) }
func (r *recorder) Logf(f string, args ...any)   { r.logs = append(r.logs, sprintf(f, args...)) }

var d = Defect{ID: "x-defect", Title: "x goes wrong", Component: "kubelet", Introduced: "v1.33.0", Fixed: "v1.38.0",
	Expected: "documented", Actual: "defective", Cause: "a bug", Steps: []string{"do it"}}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name       string
		strict     bool
		o          Observation
		want       Result
		failed     bool
		logContain string
	}{
		{"documented", false, Observation{Version: "v1.37.2", Documented: true, Seen: "empty"}, Absent, false, "absent"},
		{"defect in range", false, Observation{Version: "v1.37.2", Defective: true, Seen: "all"}, Reproduced, false, "KNOWN DEFECT REPRODUCED x-defect"},
		{"defect in range, strict", true, Observation{Version: "v1.37.2", Defective: true, Seen: "all"}, Reproduced, true, ""},
		{"defect after the fix", false, Observation{Version: "v1.38.1", Defective: true, Seen: "all"}, OutOfRange, true, ""},
		{"defect before it was introduced", false, Observation{Version: "v1.32.0", Defective: true, Seen: "all"}, OutOfRange, true, ""},
		{"third result", false, Observation{Version: "v1.37.2", Seen: "half"}, Unexpected, true, ""},
		{"bad version", false, Observation{Version: "latest", Defective: true, Seen: "all"}, Unexpected, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := &Registry{Strict: tc.strict}
			r := &recorder{TB: t}
			if got := reg.Check(r, d, tc.o); got != tc.want {
				t.Errorf("result %q, want %q", got, tc.want)
			}
			if failed := len(r.errors) > 0; failed != tc.failed {
				t.Errorf("failed = %v, want %v (errors %q)", failed, tc.failed, r.errors)
			}
			if tc.logContain != "" && !strings.Contains(strings.Join(r.logs, "\n"), tc.logContain) {
				t.Errorf("logs %q lack %q", r.logs, tc.logContain)
			}
			if fs := reg.Findings(); len(fs) != 1 || fs[0].Result != tc.want || fs[0].Test != "TestX/feature" {
				t.Errorf("findings %+v", fs)
			}
		})
	}
}

func TestSummaryAndReport(t *testing.T) {
	reg := &Registry{}
	if reg.Summary() != "" {
		t.Error("summary without findings")
	}
	r := &recorder{TB: t}
	reg.Check(r, d, Observation{Version: "v1.37.2", Defective: true, Seen: "all | every one"})
	reg.Check(r, d, Observation{Version: "v1.37.2", Documented: true, Seen: "none"})
	s := reg.Summary()
	if !strings.HasPrefix(s, "known defects:\n") || !strings.Contains(s, string(Reproduced)) || !strings.Contains(s, string(Absent)) {
		t.Errorf("summary:\n%s", s)
	}
	rep := reg.Report()
	for _, want := range []string{"| x-defect | known defect reproduced | kubelet v1.37.2 |", `all \| every one`, "**Steps to reproduce**", "1. do it", "**Cause**: a bug", ">= v1.33.0, < v1.38.0"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	if strings.Count(rep, "### kubelet: x goes wrong") != 1 {
		t.Errorf("the bug report should appear once:\n%s", rep)
	}
}

func TestKnownDefectsAreComplete(t *testing.T) {
	for _, k := range []Defect{KubeletCTBNilSelector, KubeletCTBByNameStale, KubeletPCREventMessage} {
		if k.ID == "" || k.Title == "" || k.Component == "" || len(k.Steps) == 0 || k.Expected == "" || k.Actual == "" || k.Cause == "" || k.Upstream == "" {
			t.Errorf("%s: every field of a bug report is needed: %+v", k.ID, k)
		}
		if ok, err := k.Affects("v1.37.2"); err != nil || !ok {
			t.Errorf("%s should affect v1.37.2: %v %v", k.ID, ok, err)
		}
	}
}

func fmtln(args ...any) string { return fmt.Sprintln(args...) }

func sprintf(f string, args ...any) string { return fmt.Sprintf(f, args...) }

func TestRecordsFileRoundTrip(t *testing.T) {
	reg := &Registry{}
	js, err := reg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(js)) != "[]" {
		t.Errorf("no findings should be an empty list, got %s", js)
	}
	r := &recorder{TB: t}
	reg.Check(r, d, Observation{Version: "v1.37.2", Defective: true, Seen: "all"})
	reg.Check(r, KubeletPCREventMessage, Observation{Version: "v1.37.2", Documented: true, Seen: "the documented event"})
	js, err = reg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"defect": "x-defect"`, `"test": "TestX/feature"`, `"result": "known defect reproduced"`, `"component": "kubelet"`, `"version": "v1.37.2"`, `"seen": "all"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("known-defects.json lacks %s:\n%s", want, js)
		}
	}
	got, err := ReadRecords(js)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{Defect: KubeletPCREventMessage.ID, Test: "TestX/feature", Result: Absent, Component: KubeletPCREventMessage.Component, Version: "v1.37.2", Seen: "the documented event"},
		{Defect: "x-defect", Test: "TestX/feature", Result: Reproduced, Component: "kubelet", Version: "v1.37.2", Seen: "all"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, want)
	}
}

func TestReadRecordsRefusesBadInput(t *testing.T) {
	for _, in := range []string{
		``,
		`null`,
		`{"defect": "x"}`,
		`[{"defect": "x", "test": "TestX", "result": "maybe"}]`,
		`[{"test": "TestX", "result": "defect absent"}]`,
		`[{"defect": "x", "test": "TestX", "result": "defect absent", "extra": 1}]`,
	} {
		if _, err := ReadRecords([]byte(in)); err == nil {
			t.Errorf("ReadRecords(%q) accepted it", in)
		}
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	reg := &Registry{}
	reg.Check(&recorder{TB: t}, d, Observation{Version: "v1.37.2", Documented: true, Seen: "none"})
	paths, err := reg.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("wrote %v, want the JSON and the Markdown report", paths)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	// A later run without findings leaves an empty list and no older report.
	paths, err = (&Registry{}).WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || filepath.Base(paths[0]) != RecordsFile {
		t.Fatalf("wrote %v, want only %s", paths, RecordsFile)
	}
	if _, err := os.Stat(filepath.Join(dir, ReportFile)); !os.IsNotExist(err) {
		t.Errorf("the older run's %s is still there: %v", ReportFile, err)
	}
	data, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if rs, err := ReadRecords(data); err != nil || len(rs) != 0 {
		t.Errorf("records %v, %v; want an empty list", rs, err)
	}
}
