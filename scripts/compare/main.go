// Command compare compares two runs of the suite, assessment by assessment,
// and reports on a repro run (make compare, make repro).
//
//	go run ./scripts/compare --a DIR_A --b DIR_B [--label-a A] [--label-b B] [--out FILE.md]
//	go run ./scripts/compare repro-report --artifacts DIR --run PATTERN --binary PATH --dir tests [--timeout 60m] [--node-image REF] [--profile NAME] [-- SUITE FLAGS]
//
// A run is its artifacts directory: gotestsum's test.json (test2json
// events) and the suite's known-defects.json. A test's result is pass, fail
// or skip, refined by the known-defect checks it made ("pass (known defect
// reproduced)" and "pass (defect absent)" differ). compare prints the tests
// whose results differ, the tests only one run has, and "N assessments
// compared, M equal" (assessments: tests without subtests), and writes the
// same as Markdown to --out. It exits 0 when it could compare (differences
// are its output, not an error), 2 on bad input, 1 when --out cannot be
// written.
//
// repro-report prints, for a run of one test on a kept cluster: the failing
// assessments with their output, the known-defect findings, the test
// binary's command line that runs the test again on the same cluster
// (--reuse-cluster), and each cluster's kubeconfig and node logs (from the
// run's clusters.json).
package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/results"
	"io"
	"os"
	"path/filepath"
)

// badInput marks errors of the input (exit status 2).
type badInput struct{ error }

func (b badInput) Unwrap() error { return b.error }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var err error
	name := "compare"
	if len(args) > 0 && args[0] == "repro-report" {
		name = "repro-report"
		err = reproMain(args[1:], stdout, stderr)
	} else {
		err = compareMain(args, stdout, stderr)
	}
	var bad badInput
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 2
	case errors.As(err, &bad):
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}

func compareMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dirA := fs.String("a", "", "artifacts directory of run A (test.json, known-defects.json)")
	dirB := fs.String("b", "", "artifacts directory of run B")
	labelA := fs.String("label-a", "", "what run A ran (default: its directory)")
	labelB := fs.String("label-b", "", "what run B ran (default: its directory)")
	out := fs.String("out", "", "also write the comparison as Markdown to this file")
	if err := fs.Parse(args); err != nil {
		return badInput{err}
	}
	if fs.NArg() > 0 {
		return badInput{fmt.Errorf("unexpected arguments %q (usage: compare --a DIR_A --b DIR_B [--label-a A] [--label-b B] [--out FILE.md], or compare repro-report ...)", fs.Args())}
	}
	if *dirA == "" || *dirB == "" {
		return badInput{errors.New("--a and --b are required: the artifacts directories of the two runs")}
	}
	a, err := results.LoadRun(*dirA)
	if err != nil {
		return badInput{fmt.Errorf("run A: %w", err)}
	}
	b, err := results.LoadRun(*dirB)
	if err != nil {
		return badInput{fmt.Errorf("run B: %w", err)}
	}
	for _, r := range []*results.Run{a, b} {
		if r.BadLines > 0 {
			fmt.Fprintf(stderr, "compare: note: %d lines of %s are no test2json event and were not read (the run was cut short?)\n", r.BadLines, filepath.Join(r.Dir, results.TestJSONFile))
		}
	}
	c := Compare(a, b, orDefault(*labelA, *dirA), orDefault(*labelB, *dirB))
	if err := c.WriteText(stdout); err != nil {
		return err
	}
	if *out == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := c.WriteMarkdown(f); err != nil {
		f.Close()
		return fmt.Errorf("--out %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--out %s: %w", *out, err)
	}
	fmt.Fprintf(stdout, "compare: written to %s\n", *out)
	return nil
}

func reproMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("repro-report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o reproOptions
	fs.StringVar(&o.Artifacts, "artifacts", "", "the repro run's artifacts directory (test.json, known-defects.json, clusters.json)")
	fs.StringVar(&o.Run, "run", "", "the -run pattern the run used")
	fs.StringVar(&o.Binary, "binary", "", "the compiled suite (go test -c)")
	fs.StringVar(&o.Dir, "dir", "", "the directory the suite runs in (tests/)")
	fs.StringVar(&o.Timeout, "timeout", "60m", "the test binary's -test.timeout")
	fs.StringVar(&o.NodeImage, "node-image", "", "the run's --node-image, if any")
	fs.StringVar(&o.Profile, "profile", "", "the run's --profile, if any")
	fs.IntVar(&o.MaxLines, "max-lines", 40, "output lines shown per failing test (its last ones); 0: all")
	if err := fs.Parse(args); err != nil {
		return badInput{err}
	}
	if o.Artifacts == "" {
		return badInput{errors.New("--artifacts is required")}
	}
	o.Extra = fs.Args()
	return reproReport(stdout, o)
}

func orDefault(v, d string) string {
	if v != "" {
		return v
	}
	return d
}
