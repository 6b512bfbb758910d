package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
)

func TestDefaultProbeImage(t *testing.T) {
	if DefaultProbeImage != probe.Image {
		t.Errorf("DefaultProbeImage %s, probe.Image %s: keep them the same", DefaultProbeImage, probe.Image)
	}
}

func TestArgs(t *testing.T) {
	env := map[string]string{
		"SONOBUOY_RESULTS_DIR": "/r",
		"E2E_FOCUS":            "TestProbe",
		"PROBE_IMAGE":          "example.com/probe:1",
		"E2E_EXTRA_ARGS":       "--require trustBundles  --strict",
	}
	s := FromEnv(func(k string) string { return env[k] }, []string{"--allow-disruptive"})
	got := strings.Join(s.Args(), " ")
	want := "-test.v=test2json -test.count=1 -test.timeout=60m -test.run=TestProbe --in-cluster --probe-image=example.com/probe:1 --artifacts-dir=/r/artifacts --require trustBundles --strict --allow-disruptive"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	if s.OutFile() != "/r/out.json" {
		t.Errorf("out file %s", s.OutFile())
	}
	d := FromEnv(func(string) string { return "" }, nil)
	if d.ResultsDir != "/tmp/sonobuoy/results" || d.ProbeImage != DefaultProbeImage || slices.Contains(d.Args(), "-test.run=") {
		t.Errorf("defaults: %+v", d)
	}
}

func TestCounter(t *testing.T) {
	c := &testCounter{}
	stream := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestProbe"}
{"Action":"run","Package":"p","Test":"TestProbe/feature"}
not json
{"Action":"run","Package":"p","Test":"TestTokens"}`
	// Written in pieces that cut lines, as a pipe delivers them.
	for i := 0; i < len(stream); i += 7 {
		_, _ = c.Write([]byte(stream[i:min(i+7, len(stream))]))
	}
	c.flush()
	if c.tests != 2 {
		t.Errorf("counted %d top-level tests, want 2", c.tests)
	}
}

// TestRun runs a fake suite (a shell script) through a fake test2json
// (cat): the events reach out.json and the done file names it.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	suite := filepath.Join(dir, "suite")
	if err := os.WriteFile(suite, []byte("#!/bin/sh\necho '{\"Action\":\"run\",\"Test\":\"TestX\"}'\necho oops >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(dir, "conv")
	if err := os.WriteFile(cat, []byte("#!/bin/sh\ncat\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := Settings{ResultsDir: filepath.Join(dir, "results"), Suite: suite, Test2JSON: cat, Timeout: "1m", ProbeImage: "p", TempDir: t.TempDir()}
	code, err := run(s)
	if code != 0 || err != nil {
		t.Fatalf("run: %d, %v (a failing suite that ran tests is a result, not an error)", code, err)
	}
	done, err := os.ReadFile(filepath.Join(s.ResultsDir, "done"))
	if err != nil || string(done) != s.OutFile() {
		t.Fatalf("done file: %q, %v", done, err)
	}
	out, _ := os.ReadFile(s.OutFile())
	if !strings.Contains(string(out), `"TestX"`) {
		t.Errorf("out.json: %q", out)
	}
	stderr, _ := os.ReadFile(filepath.Join(s.ArtifactsDir(), "stderr.log"))
	if strings.TrimSpace(string(stderr)) != "oops" {
		t.Errorf("stderr.log: %q", stderr)
	}

	// A suite that leaves its --in-cluster kubeconfig behind is named.
	left := filepath.Join(s.TempDir, "kic-in-cluster-123")
	if err := os.Mkdir(left, 0o700); err != nil {
		t.Fatal(err)
	}
	s.ResultsDir = filepath.Join(dir, "results-left")
	if code, err := run(s); code != 0 || err != nil {
		t.Fatalf("run: %d, %v", code, err)
	}
	stderr, _ = os.ReadFile(filepath.Join(s.ArtifactsDir(), "stderr.log"))
	if !strings.Contains(string(stderr), LeftBehindPrefix+left) {
		t.Errorf("stderr.log does not name %s: %q", left, stderr)
	}

	// A suite that runs no test could not start: non-zero, and still done.
	if err := os.WriteFile(suite, []byte("#!/bin/sh\necho 'conformance: bad flag' >&2\nexit 2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.ResultsDir = filepath.Join(dir, "results2")
	code, err = run(s)
	if code == 0 || err == nil || !strings.Contains(err.Error(), "ran no test") {
		t.Errorf("run of a suite that did not start: %d, %v", code, err)
	}
	if _, err := os.Stat(filepath.Join(s.ResultsDir, "done")); err != nil {
		t.Errorf("no done file after a failed start: %v", err)
	}
}
