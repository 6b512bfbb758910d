// Command report writes a conformance report of one suite run: a
// Markdown file and one self-contained HTML page.
//
//	go run ./scripts/report --artifacts DIR [--out-md FILE] [--out-html FILE]
//
// It reads the run's artifacts directory (test.json; known-defects.json
// and clusters.json when present) and writes one row per documented
// behaviour (area, feature, assessment) and Kubernetes version: its result
// (pass, fail, skip, known defect reproduced, defect absent), the reason
// (skip message, first failure lines, defect IDs) and the timings the
// assessment logged ("measured: ..."). A summary counts the results per
// area. The files default to DIR/report.md and DIR/report.html. Exit
// status: 0 written, 2 bad input, 1 a file could not be written.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("artifacts", "", "the run's artifacts directory (test.json, known-defects.json, clusters.json)")
	outMD := fs.String("out-md", "", "the Markdown report (default DIR/report.md)")
	outHTML := fs.String("out-html", "", "the HTML report (default DIR/report.html)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "report: usage: report --artifacts DIR [--out-md FILE] [--out-html FILE]")
		return 2
	}
	r, err := Load(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 2
	}
	if *outMD == "" {
		*outMD = filepath.Join(*dir, "report.md")
	}
	if *outHTML == "" {
		*outHTML = filepath.Join(*dir, "report.html")
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
