package main

import (
	"bytes"
	"encoding/json"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/results"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/defects"
)

const pkg = "github.com/kube-identity-conformance/kube-identity-conformance/tests"

// events writes test2json events: each step is "action test [output]".
func events(t *testing.T, steps ...[3]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"Action":"start","Package":"` + pkg + `"}` + "\n")
	for _, s := range steps {
		e := map[string]any{"Action": s[0], "Package": pkg, "Test": s[1]}
		if s[2] != "" {
			e["Output"] = s[2] + "\n"
		}
		if s[0] == "pass" || s[0] == "fail" || s[0] == "skip" {
			e["Elapsed"] = 1.5
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(out)
		b.WriteString("\n")
	}
	return b.String()
}

// result is the events of a test that ran and ended with action.
func result(name, action string, output ...string) [][3]string {
	steps := [][3]string{{"run", name, ""}, {"output", name, "=== RUN   " + name}}
	for _, o := range output {
		steps = append(steps, [3]string{"output", name, o})
	}
	return append(steps, [3]string{"output", name, "--- " + strings.ToUpper(action) + ": " + name + " (1.50s)"}, [3]string{action, name, ""})
}

func runDir(t *testing.T, testJSON, knownDefects string) string {
	t.Helper()
	dir := t.TempDir()
	if testJSON != "" {
		if err := os.WriteFile(filepath.Join(dir, "test.json"), []byte(testJSON), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if knownDefects != "" {
		if err := os.WriteFile(filepath.Join(dir, "known-defects.json"), []byte(knownDefects), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func concat(parts ...[][3]string) [][3]string {
	var all [][3]string
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// Run A: every assessment passes; f3 is skipped; the defect is reproduced.
// Run B: a2 fails, the defect is absent, f3's setup fails (no assessment),
// f4's teardown fails (its assessment passes), and each run has a test of
// its own.
func twoRuns(t *testing.T) (string, string) {
	a := events(t, concat(
		result("TestT/f1/a1", "pass"),
		result("TestT/f1/a2", "pass"),
		result("TestT/f1", "pass"),
		result("TestT/f2/a1", "pass", "    trustbundles_test.go:10: KNOWN DEFECT REPRODUCED x"),
		result("TestT/f2", "pass"),
		result("TestT/f3/a1", "skip", "    x_test.go:5: Windows nodes only"),
		result("TestT/f3", "pass"),
		result("TestT/f4/a1", "pass"),
		result("TestT/f4", "pass"),
		result("TestT", "pass"),
		result("TestOnlyA/f/a", "pass"),
		result("TestOnlyA/f", "pass"),
		result("TestOnlyA", "pass"),
	)...)
	b := events(t, concat(
		result("TestT/f1/a1", "pass"),
		result("TestT/f1/a2", "fail", "    tokens_test.go:42: iss = \"foo\", want \"bar\"", "    tokens_test.go:43: second line"),
		result("TestT/f1", "fail"),
		result("TestT/f2/a1", "pass"),
		result("TestT/f2", "pass"),
		result("TestT/f3", "fail", "    runtime.go:224: setup: pod never started"),
		result("TestT/f4/a1", "pass"),
		result("TestT/f4", "fail", "    teardown: namespace not removed"),
		result("TestT", "fail"),
		result("TestOnlyB", "skip"),
	)...)
	kdA := `[{"defect":"kubelet-ctb-nil-selector-cache","test":"TestT/f2/a1","result":"known defect reproduced","component":"kubelet","version":"v1.37.2","seen":"all"}]`
	kdB := `[{"defect":"kubelet-ctb-nil-selector-cache","test":"TestT/f2/a1","result":"defect absent","component":"kubelet","version":"v1.37.3","seen":"empty"}]`
	return runDir(t, a, kdA), runDir(t, b, kdB)
}

func TestCompareTwoRuns(t *testing.T) {
	dirA, dirB := twoRuns(t)
	a, err := results.LoadRun(dirA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := results.LoadRun(dirB)
	if err != nil {
		t.Fatal(err)
	}
	c := Compare(a, b, "v1.37.2", "/src/kubernetes")
	var got []string
	for _, r := range c.Rows {
		got = append(got, r.Test+" | "+r.A+" | "+r.B+" | "+strings.Join(r.Defects, ","))
	}
	want := []string{
		"TestT/f1/a2 | pass | fail | ",
		"TestT/f2/a1 | pass (known defect reproduced) | pass (defect absent) | kubelet-ctb-nil-selector-cache",
		"TestT/f3 | pass | fail | ",
		"TestT/f4 | pass | fail | ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c.Rows[0].Note != "" || c.Rows[2].Note != "no subtests in /src/kubernetes" || c.Rows[3].Note != "its own result: its subtests are equal" {
		t.Errorf("notes of rows %+v", c.Rows)
	}
	// Assessments in both runs: f1/a1, f1/a2, f2/a1, f4/a1.
	if c.Compared != 4 || c.Equal != 2 {
		t.Errorf("%s, want 4 compared, 2 equal", c.Summary())
	}
	if len(c.OnlyA) != 2 || c.OnlyA[0].Test != "TestT/f3/a1" || c.OnlyA[0].Result != "skip" || c.OnlyA[1].Test != "TestOnlyA" || c.OnlyA[1].Subtests != 2 {
		t.Errorf("only in A: %+v", c.OnlyA)
	}
	if len(c.OnlyB) != 1 || c.OnlyB[0].Test != "TestOnlyB" {
		t.Errorf("only in B: %+v", c.OnlyB)
	}
	var text, mdown bytes.Buffer
	if err := c.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMarkdown(&mdown); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"pass (known defect reproduced)  pass (defect absent)  kubelet-ctb-nil-selector-cache  TestT/f2/a1\n",
		"only in v1.37.2: TestOnlyA (pass, and its 2 subtests)\n",
		"only in /src/kubernetes: TestOnlyB (skip)\n",
		"TestT/f4 (its own result: its subtests are equal)",
		"4 assessments compared, 2 equal\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	for _, want := range []string{
		"| A: v1.37.2 | B: /src/kubernetes | known defect | test |\n|---|---|---|---|\n",
		"| pass (known defect reproduced) | pass (defect absent) | kubelet-ctb-nil-selector-cache | TestT/f2/a1 |\n",
		"| pass | fail | - | TestT/f1/a2 |\n",
		"Only in v1.37.2:\n\n- TestT/f3/a1 (skip)\n- TestOnlyA (pass, and its 2 subtests)\n",
		"4 assessments compared, 2 equal.\n",
	} {
		if !strings.Contains(mdown.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, mdown.String())
		}
	}
}

func TestCompareEqualRuns(t *testing.T) {
	dirA, _ := twoRuns(t)
	var out, errOut bytes.Buffer
	if code := run([]string{"--a", dirA, "--b", dirA}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "no assessment differs\n") || !strings.Contains(out.String(), "6 assessments compared, 6 equal") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestCompareCommandWritesMarkdownAndExitsZeroOnDifferences(t *testing.T) {
	dirA, dirB := twoRuns(t)
	md := filepath.Join(t.TempDir(), "sub", "compare.md")
	var out, errOut bytes.Buffer
	code := run([]string{"--a", dirA, "--b", dirB, "--label-a", "v1.37.2", "--label-b", "/src/k", "--out", md}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	data, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "| pass | fail | - | TestT/f1/a2 |") {
		t.Errorf("--out:\n%s", data)
	}
	if !strings.Contains(out.String(), "compare: written to "+md) {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestCompareBadInputExitsTwo(t *testing.T) {
	dirA, _ := twoRuns(t)
	noDefects := runDir(t, events(t, result("TestT", "pass")...), "")
	noEvents := runDir(t, `{"Action":"start","Package":"x"}`+"\n", "[]")
	refused := runDir(t, `{"Action":"start","Package":"x"}`+"\n"+`{"Action":"output","Package":"x","Output":"conformance: --node-image=kindest/node:v1.35.0 is Kubernetes v1.35.0, but ...\n"}`+"\n"+`{"Action":"fail","Package":"x"}`+"\n", "[]")
	badDefects := runDir(t, events(t, result("TestT", "pass")...), `{"not":"a list"}`)
	twoPkgs := runDir(t, `{"Action":"run","Package":"a","Test":"T"}`+"\n"+`{"Action":"run","Package":"b","Test":"T"}`+"\n", "[]")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--a", dirA}, "--a and --b are required"},
		{[]string{"--a", dirA, "--b", filepath.Join(dirA, "missing")}, "run B: artifacts directory"},
		{[]string{"--a", dirA, "--b", t.TempDir()}, "test.json"},
		{[]string{"--a", noDefects, "--b", dirA}, "known-defects.json"},
		{[]string{"--a", noEvents, "--b", dirA}, "no test events"},
		{[]string{"--a", refused, "--b", dirA}, "no test events: the suite ran no test; it printed:\n  conformance: --node-image=kindest/node:v1.35.0 is Kubernetes v1.35.0, but ..."},
		{[]string{"--a", badDefects, "--b", dirA}, "not a JSON list of known-defect records"},
		{[]string{"--a", twoPkgs, "--b", dirA}, "two packages"},
		{[]string{"--a", dirA, "--b", dirA, "extra"}, "unexpected arguments"},
		{[]string{"--nope"}, "flag provided but not defined"},
	} {
		var out, errOut bytes.Buffer
		if code := run(tc.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

func TestTestJSONParsing(t *testing.T) {
	in := events(t, result("TestT/f/a", "fail", "    x_test.go:1: got 1", "        continued")...) + "not json\n" + `{"Action":"output","Package":"` + pkg + `","Test":"TestT/f/a","Output":"    --- FAIL: nested framing\n"}` + "\n" + `{"Action":"run","Package":"` + pkg + `","Test":"TestCut"}` + "\n" + `{"Action":"outp`
	r, err := results.ParseTestJSON(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if r.BadLines != 2 {
		t.Errorf("bad lines %d, want 2", r.BadLines)
	}
	a := r.Tests["TestT/f/a"]
	if a.Action != "fail" || strings.Join(a.Output, "|") != "    x_test.go:1: got 1|        continued" {
		t.Errorf("result %+v", a)
	}
	if got := r.Tests["TestCut"].Outcome(); got != "no result (the run ended first)" {
		t.Errorf("a test without an end: %q", got)
	}
	if r.Leaf("TestT") || r.Leaf("TestT/f") || !r.Leaf("TestT/f/a") {
		t.Error("tree")
	}
}

func TestRefinedWithSeveralDefects(t *testing.T) {
	r := &results.Run{Tests: map[string]*results.Result{"T/a": {Name: "T/a", Action: "pass"}}, Findings: map[string][]defects.Record{
		"T/a": {{Defect: "d2", Test: "T/a", Result: "defect absent"}, {Defect: "d1", Test: "T/a", Result: "known defect reproduced"}},
	}}
	if got, want := r.Refined("T/a"), "pass (d1: known defect reproduced; d2: defect absent)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	r.Findings["T/a"] = r.Findings["T/a"][:1]
	if got, want := r.Refined("T/a"), "pass (defect absent)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
