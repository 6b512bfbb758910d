package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReproReport(t *testing.T) {
	_, dir := twoRuns(t)
	clustersJSON := `[
  {"name":"kic-default-1234abcd","profile":"default","slot":"default","ownCluster":false,
   "kubeconfig":"/repo/_build/clusters/kic-default-1234abcd.kubeconfig","nodeImage":"kic.local/node:v1.37.3-src-0123456789ab",
   "nodeImageFrom":"--node-image","featureFailed":true,"running":true,"state":"kept (--keep-cluster)",
   "nodeLogs":"/repo/_artifacts/repro/cluster-kic-default-1234abcd"},
  {"name":"kic-issuer-migration-5678-run1","profile":"issuer-migration","slot":"issuer-migration (own cluster of \"TestT/f9\")","ownCluster":true,
   "kubeconfig":"/repo/_build/clusters/kic-issuer-migration-5678-run1.kubeconfig","nodeImage":"kic.local/node:v1.37.3-src-0123456789ab",
   "nodeImageFrom":"--node-image","running":false,"state":"removed"}
]`
	if err := os.WriteFile(filepath.Join(dir, "clusters.json"), []byte(clustersJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"repro-report", "--artifacts", dir, "--run", "TestT/f1|TestT/f3", "--binary", "/repo/_build/bin/tests.test", "--dir", "/repo/tests",
		"--node-image", "kic.local/node:v1.37.3-src-0123456789ab", "--max-lines", "1", "--", "--strict", "--labels", "area=tokens"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"repro: -run 'TestT/f1|TestT/f3' on node image kic.local/node:v1.37.3-src-0123456789ab (--node-image)\n",
		"repro: 6 assessments: 3 passed, 2 failed, 1 skipped; 1 features or tests failed outside their assessments (set-up, teardown)\n",
		// The failing assessment and the feature whose setup failed, with
		// what they printed (the last line only: --max-lines 1).
		"\nFAIL TestT/f1/a2 (1.5s)\n    ... 1 earlier lines in " + filepath.Join(dir, "test.json") + "\n    tokens_test.go:43: second line\n",
		"\nFAIL TestT/f3 (1.5s)\n    runtime.go:224: setup: pod never started\n",
		"\nFAIL TestT/f4 (1.5s)\n    teardown: namespace not removed\n",
		"known defects:\n  kubelet-ctb-nil-selector-cache: defect absent (kubelet v1.37.3) in TestT/f2/a1\n",
		"run it again on the same cluster:\n  cd /repo/tests && /repo/_build/bin/tests.test -test.count=1 -test.timeout=60m -test.v '-test.run=TestT/f1|TestT/f3' --cluster=kind --reuse-cluster --keep-cluster --export-node-logs --artifacts-dir=" + filepath.Join(dir, "rerun") + " --node-image=kic.local/node:v1.37.3-src-0123456789ab --strict --labels area=tokens\n",
		"  kic-default-1234abcd (profile default, node image kic.local/node:v1.37.3-src-0123456789ab from --node-image): kept (--keep-cluster)\n" +
			"    kubeconfig: /repo/_build/clusters/kic-default-1234abcd.kubeconfig\n" +
			"    export KUBECONFIG=/repo/_build/clusters/kic-default-1234abcd.kubeconfig\n" +
			"    node logs: /repo/_artifacts/repro/cluster-kic-default-1234abcd\n",
		"  kic-issuer-migration-5678-run1 (profile issuer-migration, node image kic.local/node:v1.37.3-src-0123456789ab from --node-image): removed\n" +
			"    the own cluster of a disruptive feature (issuer-migration (own cluster of \"TestT/f9\")): running the test again makes a new one\n" +
			"    no longer running\n    node logs: not exported",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks\n%s\n--- report:\n%s", want, got)
		}
	}
	if strings.Contains(got, "FAIL TestT/f1 (") || strings.Contains(got, "FAIL TestT (") {
		t.Errorf("a parent whose failure a subtest explains is listed:\n%s", got)
	}
}

func TestReproReportWithoutClustersOrFindings(t *testing.T) {
	dir := runDir(t, events(t, result("TestT/f/a", "pass")...), "")
	var out, errOut bytes.Buffer
	code := run([]string{"repro-report", "--artifacts", dir, "--run", "TestT", "--binary", "b", "--dir", "tests"}, &out, &errOut)
	// The report is printed, and the missing known-defects.json makes it bad
	// input.
	if code != 2 || !strings.Contains(errOut.String(), "known-defects.json") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	for _, want := range []string{"no assessment failed\n", "known defects:\n  not known: ", "the run made no cluster (see " + filepath.Join(dir, "progress.log") + ")"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestReproReportBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"repro-report"},
		{"repro-report", "--artifacts", t.TempDir(), "--run", "T", "--binary", "b", "--dir", "d"},
		{"repro-report", "--artifacts", t.TempDir()},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, errOut.String())
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                    "plain",
		"--artifacts-dir=/a/b":     "--artifacts-dir=/a/b",
		"":                         "''",
		"a b":                      "'a b'",
		"TestX/it's":               `'TestX/it'\''s'`,
		"-test.run=TestA|TestB/.*": "'-test.run=TestA|TestB/.*'",
		"$HOME":                    "'$HOME'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
