// Command report writes a conformance report of one or more suite runs:
// a Markdown file and one self-contained HTML page.
//
//	go run ./scripts/report --artifacts DIR [--out DIR] [--out-md FILE] [--out-html FILE]
//	go run ./scripts/report --artifacts DIR1 --artifacts DIR2 --out DIR   (or --artifacts DIR1,DIR2)
//
// It reads each run's artifacts directory (test.json; known-defects.json,
// clusters.json and features.json when present) and writes one row per
// documented behaviour (area, feature, assessment) and Kubernetes version:
// the seed document and section it checks (features.json's labels), its
// result (pass, fail, skip, known defect reproduced, defect absent), the
// reason (skip message, first failure lines, defect IDs), a link to the
// feature's failure file when the run wrote one, and the timings the
// assessment logged ("measured: ..."). A summary counts the results per
// area; the clusters table links their exported node logs; with several
// Kubernetes versions a matrix shows each behaviour's result per version.
// Several runs make one report, their versions resolved per run. The files
// default to OUT/report.md and OUT/report.html; OUT defaults to the one
// artifacts directory and is required with several. Links are relative to
// OUT. Exit status: 0 written, 2 bad input, 1 a file could not be written.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// dirList is a repeatable flag of directories; a value may be a comma
// list.
type dirList []string

func (d *dirList) String() string { return strings.Join(*d, ",") }

func (d *dirList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*d = append(*d, s)
		}
	}
	return nil
}

const usage = "report: usage: report --artifacts DIR [--artifacts DIR ...] [--out DIR] [--out-md FILE] [--out-html FILE]"

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var dirs dirList
	fs.Var(&dirs, "artifacts", "a run's artifacts directory (test.json, known-defects.json, clusters.json, features.json); repeat it, or give a comma list, for one report of several runs")
	out := fs.String("out", "", "the report's directory (default: the one artifacts directory; required with several)")
	outMD := fs.String("out-md", "", "the Markdown report (default OUT/report.md)")
	outHTML := fs.String("out-html", "", "the HTML report (default OUT/report.html)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(dirs) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if *out == "" {
		if len(dirs) > 1 {
			fmt.Fprintf(stderr, "report: %d artifacts directories: --out DIR says where the report goes\n%s\n", len(dirs), usage)
			return 2
		}
		*out = dirs[0]
	}
	r, err := Load(dirs...)
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 2
	}
	r.Out = *out
	if *outMD == "" {
		*outMD = filepath.Join(*out, "report.md")
	}
	if *outHTML == "" {
		*outHTML = filepath.Join(*out, "report.html")
	}
	for _, o := range []struct {
		path  string
		write func(io.Writer) error
	}{{*outMD, r.WriteMarkdown}, {*outHTML, r.WriteHTML}} {
		if err := writeFile(o.path, o.write); err != nil {
			fmt.Fprintf(stderr, "report: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "report: written to %s\n", o.path)
	}
	return 0
}

func writeFile(path string, write func(io.Writer) error) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if err := write(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
