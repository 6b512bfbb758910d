package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/results"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
)

// leftBehindPrefix starts the entry's line naming files the suite left in
// its temporary directory (entry.LeftBehindPrefix; the entry is a program of
// the standard library alone, so it is written twice).
const leftBehindPrefix = "entry: left behind by the suite: "

// Assessment is what the check found in the suite's events.
type Assessment struct {
	Passed, Failed, Skipped []string
	// FeaturesPassed counts the features (TestXxx/feature) that passed.
	FeaturesPassed int
	// SkipReasons maps a skipped test to its reason ("" when it printed
	// none).
	SkipReasons map[string]string
	// Disruptive lists the tests skipped as disruptive.
	Disruptive []string
	// Problems are the failed assertions; none means the check passed.
	Problems []string
}

// Assess reads the pod's log (test2json events, and the entry's and the
// suite's standard error, which are no events) and checks it: the run
// started, no test failed, a feature passed, every skip gives its reason,
// the suite left nothing in its temporary directory, and disruptive features were skipped as existing-cluster mode skips them
// (wantDisruptive: the whole suite ran, which has some).
func Assess(log io.Reader, wantDisruptive bool) (*Assessment, error) {
	data, err := io.ReadAll(log)
	if err != nil {
		return nil, err
	}
	a := &Assessment{SkipReasons: map[string]string{}}
	run, err := results.ParseTestJSON(strings.NewReader(string(data)))
	if err != nil {
		a.Problems = append(a.Problems, fmt.Sprintf("the run did not start: %v%s", err, lastPlainLines(string(data), 10)))
		return a, nil
	}
	started := false
	for _, name := range run.Order {
		t := run.Tests[name]
		top := !strings.Contains(name, "/")
		if top && strings.HasPrefix(name, "Test") {
			started = true
		}
		switch t.Action {
		case "pass":
			a.Passed = append(a.Passed, name)
			if strings.Count(name, "/") == 1 {
				a.FeaturesPassed++
			}
		case "fail":
			a.Failed = append(a.Failed, name)
		case "skip":
			a.Skipped = append(a.Skipped, name)
			reason := skipReason(t.Output)
			a.SkipReasons[name] = reason
			if reason == "" {
				a.Problems = append(a.Problems, fmt.Sprintf("%s was skipped without a reason", name))
			}
			if strings.Contains(reason, runtime.DisruptiveSkip) {
				a.Disruptive = append(a.Disruptive, name)
			}
		case "":
			a.Problems = append(a.Problems, fmt.Sprintf("%s has no result (the run ended before it did)", name))
		}
		// A disruptive feature's reason in the output of a test that ran
		// would mean the mode's skip did not stop it.
		if t.Action != "skip" && strings.Contains(strings.Join(t.Output, "\n"), runtime.DisruptiveSkip) {
			a.Problems = append(a.Problems, fmt.Sprintf("%s printed the disruptive skip reason but ended %s", name, t.Outcome()))
		}
	}
	if !started {
		a.Problems = append(a.Problems, "the run did not start: no TestXxx event")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, leftBehindPrefix); ok {
			a.Problems = append(a.Problems, "the suite left files in its pod's temporary directory: "+rest)
		}
	}
	for _, f := range a.Failed {
		if run.Leaf(f) {
			a.Problems = append(a.Problems, fmt.Sprintf("%s failed:%s", f, indent(run.Tests[f].Output, 8)))
		}
	}
	if len(a.Failed) > 0 && !anyLeaf(run, a.Failed) {
		a.Problems = append(a.Problems, fmt.Sprintf("tests failed: %s", strings.Join(a.Failed, ", ")))
	}
	if a.FeaturesPassed == 0 {
		a.Problems = append(a.Problems, "no feature passed")
	}
	if wantDisruptive && len(a.Disruptive) == 0 {
		a.Problems = append(a.Problems, fmt.Sprintf("no feature was skipped as disruptive (%q): existing-cluster mode without --allow-disruptive skips them", runtime.DisruptiveSkip))
	}
	return a, nil
}

func anyLeaf(run *results.Run, names []string) bool {
	for _, n := range names {
		if run.Leaf(n) {
			return true
		}
	}
	return false
}

// skipReason is the last line a skipped test printed (t.Skip's message,
// after its file:line prefix).
func skipReason(out []string) string {
	for i := len(out) - 1; i >= 0; i-- {
		l := strings.TrimSpace(out[i])
		if l == "" {
			continue
		}
		if _, rest, ok := strings.Cut(l, ": "); ok && strings.Contains(l[:len(l)-len(rest)], ".go:") {
			l = rest
		}
		return strings.TrimSpace(l)
	}
	return ""
}

// lastPlainLines are the log's last lines that are no JSON events: the
// entry's and the suite's standard error.
func lastPlainLines(log string, n int) string {
	var plain []string
	for _, l := range strings.Split(log, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "{") {
			plain = append(plain, l)
		}
	}
	if len(plain) == 0 {
		return ""
	}
	if len(plain) > n {
		plain = plain[len(plain)-n:]
	}
	return "\n  " + strings.Join(plain, "\n  ")
}

func indent(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("\n    " + strings.TrimSpace(l))
	}
	return b.String()
}

// Summary prints the counts and the skip reasons, grouped.
func (a *Assessment) Summary(w io.Writer) {
	fmt.Fprintf(w, "incluster: %d passed (%d features), %d failed, %d skipped (%d as disruptive)\n",
		len(a.Passed), a.FeaturesPassed, len(a.Failed), len(a.Skipped), len(a.Disruptive))
	byReason := map[string][]string{}
	for name, r := range a.SkipReasons {
		byReason[r] = append(byReason[r], name)
	}
	reasons := make([]string, 0, len(byReason))
	for r := range byReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		names := byReason[r]
		sort.Strings(names)
		if r == "" {
			r = "(no reason)"
		}
		fmt.Fprintf(w, "  skipped (%d): %s\n", len(names), r)
		for _, n := range names {
			fmt.Fprintf(w, "    %s\n", n)
		}
	}
	for _, f := range a.Failed {
		fmt.Fprintf(w, "  failed: %s\n", f)
	}
}
