// Command suitetest runs the compiled conformance suite for gotestsum
// (--raw-command) so that an interrupt reaches the suite however it is
// delivered, and its teardown (namespaces, clusters) always runs.
//
//	suitetest [-dir tests] [-pkg IMPORTPATH] -- ./tests.test [go test flags] [-args suite flags]
//
// Why it exists: the Go tool chain expects Ctrl-C to reach every process of
// the terminal's process group. `go test` and `go tool test2json` do not pass
// an interrupt on to the test binary, gotestsum passes SIGINT to its own child
// only, and GNU make passes nothing to its recipes. So a cancelled CI job that
// signals only gotestsum would leave the suite running, and a second,
// group-wide signal would reach the suite twice (which means "exit at once").
//
// suitetest starts the suite binary in a process group of its own, pipes its
// output through `go tool test2json` (what go test -json does), and turns the
// first SIGINT, SIGTERM or SIGHUP it receives, from gotestsum or from the
// terminal, into exactly one SIGINT for the suite. Later signals are not
// passed on: a second SIGINT makes the suite exit without its teardown, and
// one interrupt often arrives twice (the terminal's group signal and
// gotestsum's forwarded copy; a second copy was seen even when only
// gotestsum was signalled). To stop at once, kill the suite's pid, which
// suitetest prints. It exits with the suite's exit code.
//
// go test flags written the go test way (-run, -skip, -count, -timeout,
// -parallel, -v, -list) are given to the binary as -test.<name>.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
)

// testFlags are the go test flags the binary knows as -test.<name>.
var testFlags = map[string]bool{
	"run": true, "skip": true, "count": true, "timeout": true, "parallel": true,
	"v": true, "list": true, "failfast": true, "short": true, "cpu": true,
}

func main() {
	dir := flag.String("dir", "tests", "directory the suite runs in (go test runs a package's tests in its directory)")
	pkg := flag.String("pkg", "github.com/kube-identity-conformance/kube-identity-conformance/tests", "import path reported in the JSON events")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "suitetest: usage: suitetest [-dir D] [-pkg P] -- BINARY [flags]")
		os.Exit(2)
	}
	os.Exit(run(*dir, *pkg, args[0], translate(args[1:])))
}

// translate rewrites go test flags before -args into the binary's
// -test.<name> form and drops the -args separator.
func translate(args []string) []string {
	var out []string
	for i, a := range args {
		if a == "-args" || a == "--args" {
			return append(out, args[i+1:]...)
		}
		name := strings.TrimLeft(a, "-")
		base, _, _ := strings.Cut(name, "=")
		if strings.HasPrefix(a, "-") && testFlags[base] {
			out = append(out, "-test."+name)
			continue
		}
		out = append(out, a)
	}
	return out
}

func run(dir, pkg, binary string, args []string) int {
	bin, err := absolute(binary)
	if err != nil {
		fmt.Fprintf(os.Stderr, "suitetest: %v\n", err)
		return 2
	}
	suite := exec.Command(bin, append([]string{"-test.v=test2json"}, args...)...)
	suite.Dir = dir
	suite.Stderr = os.Stderr
	// A group of its own: only this program signals the suite.
	suite.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	conv := exec.Command("go", "tool", "test2json", "-t", "-p", pkg)
	conv.Stdout, conv.Stderr = os.Stdout, os.Stderr
	pipe, err := suite.StdoutPipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "suitetest: %v\n", err)
		return 2
	}
	conv.Stdin = pipe
	// test2json reads until the suite closes its output; it ignores
	// interrupts itself.
	conv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	if err := suite.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "suitetest: start %s: %v\n", bin, err)
		return 2
	}
	if err := conv.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "suitetest: start go tool test2json: %v\n", err)
		_ = suite.Process.Kill()
		return 2
	}
	done := make(chan error, 1)
	go func() { done <- suite.Wait() }()
	interrupted := false
	for {
		select {
		case sig := <-sigs:
			if interrupted {
				fmt.Fprintf(os.Stderr, "suitetest: %v: the suite is already cleaning up; kill pid %d to stop it at once (leaves clusters behind)\n", sig, suite.Process.Pid)
				continue
			}
			interrupted = true
			fmt.Fprintf(os.Stderr, "suitetest: %v: passing an interrupt to the suite (pid %d)\n", sig, suite.Process.Pid)
			_ = suite.Process.Signal(os.Interrupt)
		case err := <-done:
			convErr := conv.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
				if code < 0 {
					code = 1 // killed by a signal
				}
			} else if err != nil {
				fmt.Fprintf(os.Stderr, "suitetest: %v\n", err)
				code = 1
			}
			if convErr != nil && code == 0 {
				fmt.Fprintf(os.Stderr, "suitetest: go tool test2json: %v\n", convErr)
				code = 1
			}
			return code
		}
	}
}

func absolute(p string) (string, error) {
	if strings.HasPrefix(p, "/") {
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return wd + "/" + p, nil
}
