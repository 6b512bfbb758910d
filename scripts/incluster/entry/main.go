// Command entry is the suite image's entrypoint (scripts/suiteimage): it runs
// the compiled suite against the cluster its pod runs in, as a Sonobuoy
// plugin's worker container or the in-cluster Job (scripts/incluster) does.
//
// Sonobuoy's worker contract: the plugin writes its results into
// $SONOBUOY_RESULTS_DIR (default /tmp/sonobuoy/results), then writes the
// path of the results file into <dir>/done; the worker sidecar waits for that
// file and sends the file it names to the aggregator. The results file here
// is out.json, the suite's go test -json (test2json) events, which the
// plugin's result-format gojson reads. The same events go to standard output,
// so that the pod's log (kubectl logs, scripts/incluster check) holds them.
//
// The suite runs as
//
//	/kic/tests.test -test.v=test2json -test.count=1 -test.timeout=$E2E_TIMEOUT \
//	  [-test.run=$E2E_FOCUS] [-test.skip=$E2E_SKIP] --in-cluster \
//	  --probe-image=$PROBE_IMAGE --artifacts-dir=<dir>/artifacts $E2E_EXTRA_ARGS [args]
//
// with its output through /kic/test2json. Arguments given to the entry are
// passed on after the environment's. The entry exits 0 when the suite ran,
// whether its tests passed or not (Sonobuoy and the check read the results),
// and 1 when it ran no test at all (it could not start: the reason is on
// standard error and in <dir>/artifacts/stderr.log). The first SIGTERM or
// SIGINT is passed to the suite once, as SIGINT: its teardown removes the
// run's namespaces.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// LeftBehindPrefix starts the entry's line naming files the suite left in
// the temporary directory; scripts/incluster's check fails on it.
const LeftBehindPrefix = "entry: left behind by the suite: "

// InClusterPattern matches the suite's --in-cluster kubeconfig directory
// (tests/main_test.go, inClusterKubeconfig), which the suite removes at the
// end of its run.
const InClusterPattern = "kic-in-cluster-*"

// Package is the import path the JSON events carry.
const Package = "github.com/kube-identity-conformance/kube-identity-conformance/tests"

// DefaultProbeImage is probe.Image, repeated so that the entry stays a small
// program of the standard library alone.
const DefaultProbeImage = "kic.local/probe:dev"

// Settings are the entry's inputs, from its environment.
type Settings struct {
	ResultsDir, Suite, Test2JSON string
	Timeout, Focus, Skip         string
	ProbeImage                   string
	Extra                        []string
	// TempDir is the suite's temporary directory ($TMPDIR), checked for
	// what the suite left behind.
	TempDir string
}

// FromEnv reads the settings; getenv is os.Getenv outside tests.
func FromEnv(getenv func(string) string, args []string) Settings {
	or := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	return Settings{
		ResultsDir: or("SONOBUOY_RESULTS_DIR", "/tmp/sonobuoy/results"),
		Suite:      or("KIC_SUITE_BINARY", "/kic/tests.test"),
		Test2JSON:  or("KIC_TEST2JSON", "/kic/test2json"),
		Timeout:    or("E2E_TIMEOUT", "60m"),
		Focus:      getenv("E2E_FOCUS"),
		Skip:       getenv("E2E_SKIP"),
		ProbeImage: or("PROBE_IMAGE", DefaultProbeImage),
		Extra:      append(strings.Fields(getenv("E2E_EXTRA_ARGS")), args...),
		TempDir:    or("TMPDIR", "/tmp"),
	}
}

// Args are the suite binary's arguments.
func (s Settings) Args() []string {
	a := []string{"-test.v=test2json", "-test.count=1", "-test.timeout=" + s.Timeout}
	if s.Focus != "" {
		a = append(a, "-test.run="+s.Focus)
	}
	if s.Skip != "" {
		a = append(a, "-test.skip="+s.Skip)
	}
	// No "--" before the suite's flags: the flag package would stop there
	// (go test -args passes them on the same way).
	a = append(a, "--in-cluster", "--probe-image="+s.ProbeImage, "--artifacts-dir="+s.ArtifactsDir())
	return append(a, s.Extra...)
}

// ArtifactsDir is the suite's --artifacts-dir.
func (s Settings) ArtifactsDir() string { return filepath.Join(s.ResultsDir, "artifacts") }

// OutFile is the results file named in the done file.
func (s Settings) OutFile() string { return filepath.Join(s.ResultsDir, "out.json") }

func main() {
	s := FromEnv(os.Getenv, os.Args[1:])
	code, err := run(s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "entry: %v\n", err)
	}
	os.Exit(code)
}

func run(s Settings) (int, error) {
	if err := os.MkdirAll(s.ArtifactsDir(), 0o755); err != nil {
		return 1, err
	}
	out, err := os.Create(s.OutFile())
	if err != nil {
		return 1, err
	}
	defer out.Close()
	stderrLog, err := os.Create(filepath.Join(s.ArtifactsDir(), "stderr.log"))
	if err != nil {
		return 1, err
	}
	defer stderrLog.Close()
	// Whatever happens below, Sonobuoy's worker must learn that the plugin
	// is done, or the aggregator waits for it until its timeout.
	defer func() {
		if err := writeDone(s.ResultsDir, s.OutFile()); err != nil {
			fmt.Fprintf(os.Stderr, "entry: %v\n", err)
		}
	}()

	fmt.Fprintf(os.Stderr, "entry: %s %s\n", s.Suite, strings.Join(s.Args(), " "))
	suite := exec.Command(s.Suite, s.Args()...)
	suite.Dir = s.ArtifactsDir()
	suite.Stderr = io.MultiWriter(os.Stderr, stderrLog)
	pipe, err := suite.StdoutPipe()
	if err != nil {
		return 1, err
	}
	counter := &testCounter{}
	conv := exec.Command(s.Test2JSON, "-t", "-p", Package)
	conv.Stdin = pipe
	conv.Stdout = io.MultiWriter(out, os.Stdout, counter)
	conv.Stderr = os.Stderr

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	if err := suite.Start(); err != nil {
		return 1, fmt.Errorf("start the suite: %w", err)
	}
	if err := conv.Start(); err != nil {
		_ = suite.Process.Kill()
		_ = suite.Wait()
		return 1, fmt.Errorf("start test2json: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- suite.Wait() }()
	interrupted := false
	var suiteErr error
wait:
	for {
		select {
		case sig := <-sigs:
			if interrupted {
				fmt.Fprintf(os.Stderr, "entry: %v: the suite is already cleaning up\n", sig)
				continue
			}
			interrupted = true
			fmt.Fprintf(os.Stderr, "entry: %v: passing an interrupt to the suite (pid %d); its teardown removes the run's namespaces\n", sig, suite.Process.Pid)
			_ = suite.Process.Signal(os.Interrupt)
		case suiteErr = <-done:
			break wait
		}
	}
	convErr := conv.Wait()
	counter.flush()
	if convErr != nil {
		return 1, fmt.Errorf("test2json: %w", convErr)
	}
	if counter.tests == 0 {
		return 1, fmt.Errorf("the suite ran no test (%v): see its standard error above, also in %s", exitText(suiteErr), stderrLog.Name())
	}
	fmt.Fprintf(os.Stderr, "entry: the suite ended (%s); %d tests reported; results in %s\n", exitText(suiteErr), counter.tests, s.OutFile())
	left, err := filepath.Glob(filepath.Join(s.TempDir, InClusterPattern))
	if err != nil {
		return 1, fmt.Errorf("look for what the suite left behind: %w", err)
	}
	if len(left) > 0 {
		fmt.Fprintf(io.MultiWriter(os.Stderr, stderrLog), "%s%s\n", LeftBehindPrefix, strings.Join(left, " "))
	}
	return 0, nil
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// writeDone writes Sonobuoy's done file: the path of the results file,
// written under another name first so that the worker never reads half of it.
func writeDone(dir, results string) error {
	tmp := filepath.Join(dir, ".done.tmp")
	if err := os.WriteFile(tmp, []byte(results), 0o644); err != nil {
		return fmt.Errorf("done file: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "done")); err != nil {
		return fmt.Errorf("done file: %w", err)
	}
	return nil
}

// testCounter counts the test2json events of top-level tests that started
// (the suite's TestXxx functions): none means it could not start.
type testCounter struct {
	buf   bytes.Buffer
	tests int
}

func (c *testCounter) Write(p []byte) (int, error) {
	c.buf.Write(p)
	for {
		line, err := c.buf.ReadBytes('\n')
		if err != nil {
			// An incomplete line: keep it for the next write.
			c.buf.Reset()
			c.buf.Write(line)
			return len(p), nil
		}
		c.line(line)
	}
}

func (c *testCounter) flush() {
	sc := bufio.NewScanner(&c.buf)
	for sc.Scan() {
		c.line(sc.Bytes())
	}
}

func (c *testCounter) line(b []byte) {
	var e struct{ Action, Test string }
	if json.Unmarshal(b, &e) == nil && e.Action == "run" && strings.HasPrefix(e.Test, "Test") && !strings.Contains(e.Test, "/") {
		c.tests++
	}
}
