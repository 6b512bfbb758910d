package main

import (
	"errors"
	"fmt"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/results"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
)

// reproOptions say what `make repro` ran, so that the report can give the
// command that runs it again on the same cluster.
type reproOptions struct {
	// Artifacts is the run's artifacts directory.
	Artifacts string
	// Run is the -run pattern.
	Run string
	// Binary is the compiled suite, Dir the directory it runs in (tests/).
	Binary, Dir string
	Timeout     string
	// NodeImage and Profile are --node-image and --profile ("" when not
	// given).
	NodeImage, Profile string
	// Extra are further suite flags (the Makefile's ARGS).
	Extra []string
	// MaxLines bounds the output lines shown per failing test (the last
	// ones, where the failure is).
	MaxLines int
}

// reproReport writes what a repro run found: the failing assessments with
// their output, the known-defect findings, the command that runs the test
// again on the same cluster, each cluster's kubeconfig and node logs.
func reproReport(w io.Writer, o reproOptions) error {
	if o.Run == "" || o.Binary == "" || o.Dir == "" {
		return badInput{errors.New("--run, --binary and --dir are required")}
	}
	r, err := results.LoadTests(o.Artifacts)
	if err != nil {
		return badInput{err}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "repro: -run %s", shellQuote(o.Run))
	if o.NodeImage != "" {
		fmt.Fprintf(&b, " on node image %s (--node-image)", o.NodeImage)
	} else {
		b.WriteString(" on the profiles' default node images")
	}
	b.WriteString("\n")
	if r.BadLines > 0 {
		fmt.Fprintf(&b, "repro: note: %d lines of %s are no test2json event (the run was cut short?)\n", r.BadLines, filepath.Join(o.Artifacts, results.TestJSONFile))
	}
	findingsErr := r.LoadFindings()

	counts := map[string]int{}
	leaves := 0
	var failed []string
	for _, n := range r.Order {
		t := r.Tests[n]
		if r.Leaf(n) {
			leaves++
			counts[t.Action]++
		}
		if t.Action == "fail" || t.Action == "" {
			if r.Leaf(n) || !descendantFailed(r, n) {
				failed = append(failed, n)
			}
		}
	}
	fmt.Fprintf(&b, "repro: %d assessments: %d passed, %d failed, %d skipped", leaves, counts["pass"], counts["fail"], counts["skip"])
	if n := counts[""]; n > 0 {
		fmt.Fprintf(&b, ", %d without a result (the run ended first)", n)
	}
	if n := len(failed) - counts["fail"] - counts[""]; n > 0 {
		fmt.Fprintf(&b, "; %d features or tests failed outside their assessments (set-up, teardown)", n)
	}
	b.WriteString("\n")
	if len(failed) == 0 {
		b.WriteString("\nno assessment failed\n")
	}
	for _, n := range failed {
		t := r.Tests[n]
		fmt.Fprintf(&b, "\n%s %s (%.1fs)\n", strings.ToUpper(t.Outcome()), n, t.Elapsed)
		lines := t.Output
		if o.MaxLines > 0 && len(lines) > o.MaxLines {
			fmt.Fprintf(&b, "    ... %d earlier lines in %s\n", len(lines)-o.MaxLines, filepath.Join(o.Artifacts, results.TestJSONFile))
			lines = lines[len(lines)-o.MaxLines:]
		}
		if len(lines) == 0 {
			b.WriteString("    (no output)\n")
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "%s\n", l)
		}
	}

	b.WriteString("\nknown defects:\n")
	switch {
	case findingsErr != nil:
		fmt.Fprintf(&b, "  not known: %v\n", findingsErr)
	case len(r.Findings) == 0:
		b.WriteString("  no check of a known defect ran\n")
	default:
		for _, n := range r.Order {
			for _, f := range r.Findings[n] {
				fmt.Fprintf(&b, "  %s: %s (%s %s) in %s\n", f.Defect, f.Result, f.Component, f.Version, f.Test)
			}
		}
	}

	cmd, err := rerunCommand(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nrun it again on the same cluster:\n  %s\n", cmd)

	b.WriteString("\nclusters:\n")
	recs, recErr := readClusters(o.Artifacts)
	switch {
	case recErr != nil:
		fmt.Fprintf(&b, "  not known: %v\n", recErr)
	case len(recs) == 0:
		fmt.Fprintf(&b, "  the run made no cluster (see %s)\n", filepath.Join(o.Artifacts, "progress.log"))
	}
	for _, c := range recs {
		fmt.Fprintf(&b, "  %s (profile %s, node image %s from %s): %s\n", c.Name, c.Profile, c.NodeImage, c.NodeImageFrom, c.State)
		if c.OwnCluster {
			fmt.Fprintf(&b, "    the own cluster of a disruptive feature (%s): running the test again makes a new one", c.Slot)
			if c.Running {
				b.WriteString("; this one is kept for inspection")
			}
			b.WriteString("\n")
		}
		if c.Running {
			fmt.Fprintf(&b, "    kubeconfig: %s\n    export KUBECONFIG=%s\n", c.Kubeconfig, shellQuote(c.Kubeconfig))
		} else {
			b.WriteString("    no longer running\n")
		}
		if c.NodeLogs != "" {
			fmt.Fprintf(&b, "    node logs: %s\n", c.NodeLogs)
		} else {
			b.WriteString("    node logs: not exported (run with --export-node-logs, or `go run ./scripts/cluster logs --profile " + c.Profile + "`)\n")
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if findingsErr != nil || recErr != nil {
		return badInput{errors.Join(findingsErr, recErr)}
	}
	return nil
}

func descendantFailed(r *results.Run, name string) bool {
	for _, n := range r.Order {
		if strings.HasPrefix(n, name+"/") && r.Tests[n].Action == "fail" {
			return true
		}
	}
	return false
}

// readClusters reads the run's clusters.json; a run that made no cluster
// has none.
func readClusters(dir string) ([]runtime.ClusterRecord, error) {
	data, err := os.ReadFile(filepath.Join(dir, runtime.ClustersFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return runtime.ReadClusterRecords(data)
}

// rerunCommand is the test binary's command line for the same test on the
// same cluster: --reuse-cluster picks up the kept cluster (same profile,
// same node image), and its artifacts go beside this run's.
func rerunCommand(o reproOptions) (string, error) {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return "", err
	}
	bin, err := filepath.Abs(o.Binary)
	if err != nil {
		return "", err
	}
	art, err := filepath.Abs(filepath.Join(o.Artifacts, "rerun"))
	if err != nil {
		return "", err
	}
	args := []string{bin, "-test.count=1"}
	if o.Timeout != "" {
		args = append(args, "-test.timeout="+o.Timeout)
	}
	args = append(args, "-test.v", "-test.run="+o.Run, "--cluster=kind", "--reuse-cluster", "--keep-cluster", "--export-node-logs", "--artifacts-dir="+art)
	if o.Profile != "" {
		args = append(args, "--profile="+o.Profile)
	}
	if o.NodeImage != "" {
		args = append(args, "--node-image="+o.NodeImage)
	}
	args = append(args, o.Extra...)
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return "cd " + shellQuote(dir) + " && " + strings.Join(q, " "), nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
