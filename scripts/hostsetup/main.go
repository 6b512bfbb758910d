// Command hostsetup prepares the host for the suite: a Docker engine that
// answers and can run privileged containers, as kind needs.
//
// Run it from the module root with `go run ./scripts/hostsetup`. It is
// idempotent and prints one line per step saying what it found or did:
//
//   - docker engine: use the engine if `docker` reaches one; otherwise install
//     docker.io with apt-get (when dockerd is missing) and start dockerd
//     detached, logging to /var/log/kic-dockerd.log;
//   - docker client: the client in use and its version;
//   - probe image: a one-binary image, kic.local/hostsetup-probe:v1, written
//     with framework/images and loaded when Docker does not have it;
//   - privileged containers: run the probe image with --privileged. If that
//     fails with "unable to apply caps" (the host's capability bounding set
//     lacks CAP_SYS_RESOURCE), install the runtime wrapper from
//     scripts/runc-nosysresource as Docker's default runtime, reload dockerd
//     with SIGHUP and probe again.
//
// A working engine is never restarted or reconfigured. With --check nothing
// is changed: the tool reports and exits non-zero when privileged containers
// do not work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Host paths and names the tool uses.
const (
	// probeRef is the probe image.
	probeRef = "kic.local/hostsetup-probe:v1"
	// runtimeName is the name the wrapper is registered under in Docker.
	runtimeName = "kic-nosysresource"
	// wrapperPath is where the wrapper binary is installed.
	wrapperPath = "/usr/local/bin/kic-runc-nosysresource"
	// wrapperPkg and probePkg are the packages built, relative to the module root.
	wrapperPkg = "./scripts/runc-nosysresource"
	probePkg   = "./scripts/hostsetup/probeprog"
	// daemonJSONPath is dockerd's configuration file.
	daemonJSONPath = "/etc/docker/daemon.json"
	// dockerPIDFile is where dockerd writes its pid.
	dockerPIDFile = "/var/run/docker.pid"
	// defaultDockerdLog receives the output of a dockerd started here.
	defaultDockerdLog = "/var/log/kic-dockerd.log"
	// defaultRealRunc is used for the wrapper when no runc is on PATH.
	defaultRealRunc = "/usr/sbin/runc"
)

// Deadlines of the waits and of the slow commands.
const (
	dockerCallTimeout   = 30 * time.Second
	dockerdStartTimeout = 90 * time.Second
	reloadTimeout       = 30 * time.Second
	aptTimeout          = 15 * time.Minute
	buildTimeout        = 10 * time.Minute
	probeTimeout        = 3 * time.Minute
	pollInterval        = 500 * time.Millisecond
)

// options are the command-line settings.
type options struct {
	// check reports only and changes nothing.
	check bool
	// dockerdLog is the log file of a dockerd started here.
	dockerdLog string
}

func main() {
	var opts options
	flag.BoolVar(&opts.check, "check", false, "report only: change nothing, and exit non-zero if privileged containers do not work")
	flag.StringVar(&opts.dockerdLog, "dockerd-log", defaultDockerdLog, "log file of a dockerd started by this tool")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "host-setup: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		var se *stepError
		if errors.As(err, &se) {
			fmt.Fprintf(os.Stderr, "host-setup: %s: FAILED: %v\n", se.step, se.err)
		} else {
			fmt.Fprintf(os.Stderr, "host-setup: FAILED: %v\n", err)
		}
		os.Exit(1)
	}
}

// stepError is the failure of one named step.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// report prints the line of one step.
func report(step, format string, args ...any) {
	fmt.Printf("host-setup: %s: %s\n", step, fmt.Sprintf(format, args...))
}

// run carries out the steps in order, stopping at the first failure.
func run(ctx context.Context, opts options) error {
	steps := []struct {
		name string
		do   func(context.Context, options) error
	}{
		{"docker engine", ensureEngine},
		{"docker client", checkClient},
		{"probe image", ensureProbeImage},
		{"privileged containers", ensurePrivileged},
	}
	for _, s := range steps {
		if err := s.do(ctx, opts); err != nil {
			return &stepError{step: s.name, err: err}
		}
	}
	return nil
}
