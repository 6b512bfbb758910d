// Command incluster checks the in-cluster run: the suite image's Job
// (job.yaml) under its ServiceAccount (rbac.yaml), in the cluster it tests,
// as a Sonobuoy plugin (sonobuoy-plugin.yaml) would run it. With client-go
// only (no kubectl):
//
//	go run ./scripts/incluster check --kubeconfig PATH [--context NAME]
//	    [--suite-image kic.local/suite:dev] [--probe-image kic.local/probe:dev]
//	    [--run PATTERN] [--timeout 60m] [--extra-args ARGS] [--artifacts DIR] [--keep]
//
// It applies rbac.yaml and job.yaml (server-side apply), waits for the Job
// to end, reads its pod's log (the suite's test2json events), writes it to
// <artifacts>/pod.log and checks it: the run started, no test failed, at
// least one feature passed, every skipped test gave its reason, and the
// disruptive features were skipped with existing-cluster mode's reason
// (when --run does not narrow the run). It prints a summary and exits 1 when
// an assertion failed, 2 for bad usage. What it applied is deleted at the
// end (also after a failure or Ctrl-C) unless --keep; the Job first, so
// that the suite's teardown still has its rights. The images must already
// be on the nodes (imagePullPolicy IfNotPresent): the Makefile's
// incluster-check loads them.
//
//	go run ./scripts/incluster manifests   # prints the three manifests
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type usageError struct{ error }

func main() {
	err := run(os.Args[1:])
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "incluster: %v\n", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "incluster: %v\n", err)
		os.Exit(1)
	}
}

const usage = "usage: incluster check --kubeconfig PATH [--context NAME] [--suite-image REF] [--probe-image REF] [--run PATTERN] [--timeout D] [--extra-args ARGS] [--artifacts DIR] [--keep] | incluster manifests"

func run(args []string) error {
	if len(args) == 0 {
		return usageError{errors.New(usage)}
	}
	switch args[0] {
	case "manifests":
		fmt.Printf("%s---\n%s---\n%s", rbacYAML, jobYAML, pluginYAML)
		return nil
	case "check":
		return runCheck(args[1:])
	}
	return usageError{fmt.Errorf("unknown subcommand %q; %s", args[0], usage)}
}

// checkOptions are the check's flags.
type checkOptions struct {
	Kubeconfig, Context, Artifacts string
	Job                            JobOptions
	Timeout                        time.Duration
	Keep                           bool
}

func parseCheck(args []string) (checkOptions, error) {
	var o checkOptions
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to run the suite in (required)")
	fs.StringVar(&o.Context, "context", "", "kubeconfig context (default: its current-context)")
	fs.StringVar(&o.Job.SuiteImage, "suite-image", "", "suite image (default: job.yaml's, kic.local/suite:dev)")
	fs.StringVar(&o.Job.ProbeImage, "probe-image", "", "probe image the suite deploys (default: job.yaml's, kic.local/probe:dev)")
	fs.StringVar(&o.Job.Run, "run", "", "go test -run pattern (E2E_FOCUS); empty: the whole suite")
	fs.StringVar(&o.Job.ExtraArgs, "extra-args", "", "more suite flags (E2E_EXTRA_ARGS), e.g. --require=trustBundles")
	fs.DurationVar(&o.Timeout, "timeout", 60*time.Minute, "the suite's -timeout; the check waits 5 minutes longer for the Job")
	fs.StringVar(&o.Artifacts, "artifacts", "_artifacts/incluster", "where the pod's log goes (pod.log)")
	fs.BoolVar(&o.Keep, "keep", false, "leave the namespace, Job and RBAC objects in place")
	if err := fs.Parse(args); err != nil {
		return o, usageError{err}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("unexpected arguments %q; %s", fs.Args(), usage)}
	}
	if o.Kubeconfig == "" {
		return o, usageError{errors.New("--kubeconfig is required; " + usage)}
	}
	if o.Timeout <= 2*time.Minute {
		return o, usageError{fmt.Errorf("--timeout %s: give the suite more than 2 minutes", o.Timeout)}
	}
	o.Job.Timeout = o.Timeout.String()
	return o, nil
}

func runCheck(args []string) error {
	o, err := parseCheck(args)
	if err != nil {
		return err
	}
	job, err := jobFor(o.Job)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	k, err := connect(o.Kubeconfig, o.Context)
	if err != nil {
		return err
	}
	c := job.Spec.Template.Spec.Containers[0]
	fmt.Printf("incluster: API server %s; Job %s/%s, suite image %s, probe image %s, run %q\n",
		k.rest.Host, Namespace, JobName, c.Image, envValue(c, "PROBE_IMAGE"), o.Job.Run)
	applied, err := k.applyAll(ctx, job)
	defer func() {
		if o.Keep {
			fmt.Printf("incluster: --keep: left in place: %s\n", strings.Join(applied, ", "))
			return
		}
		// A fresh context: also after Ctrl-C or the deadline.
		// The Job's pod may take its grace period (the suite's teardown).
		cctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		if err := k.cleanup(cctx); err != nil {
			fmt.Fprintf(os.Stderr, "incluster: cleaning up: %v\n", err)
		}
	}()
	if err != nil {
		return err
	}
	pod, err := k.waitJob(ctx, o.Timeout+5*time.Minute)
	if err != nil {
		return err
	}
	log, err := k.podLog(ctx, pod)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Artifacts, 0o755); err != nil {
		return err
	}
	logFile := filepath.Join(o.Artifacts, "pod.log")
	if err := os.WriteFile(logFile, log, 0o644); err != nil {
		return err
	}
	fmt.Printf("incluster: the pod's log (test2json events) is in %s\n", logFile)
	a, err := Assess(strings.NewReader(string(log)), o.Job.Run == "")
	if err != nil {
		return err
	}
	a.Summary(os.Stdout)
	if len(a.Problems) > 0 {
		return fmt.Errorf("the in-cluster run failed its check:\n  %s", strings.Join(a.Problems, "\n  "))
	}
	fmt.Println("incluster: check passed")
	return nil
}
