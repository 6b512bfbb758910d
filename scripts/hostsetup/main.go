// Command hostsetup prepares the host for the suite: a Docker engine that
// answers and can run privileged containers, as kind needs, and inotify
// limits high enough for several kind clusters at once.
//
// Run it from the module root with `go run ./scripts/hostsetup` (or `make
// host-setup`). It prints one line per step saying what it found, did, or
// would do:
//
//   - docker engine: use the engine if `docker` reaches one; otherwise install
//     docker.io with apt-get (when dockerd is missing) and start Docker: with
//     `systemctl start docker` where systemd runs (/run/systemd/system
//     exists), else dockerd detached, logging to /var/log/kic-dockerd.log;
//   - docker client: the client in use and its version;
//   - probe image: a one-binary image, kic.local/hostsetup-probe:v1, written
//     with framework/images and loaded when Docker does not have it;
//   - privileged containers: run the probe image with --privileged. If that
//     fails with "unable to apply caps" (the host's capability bounding set
//     lacks CAP_SYS_RESOURCE), install the runtime wrapper from
//     scripts/runc-nosysresource as Docker's default runtime in
//     /etc/docker/daemon.json (every other key kept), reload dockerd with
//     SIGHUP and probe again;
//   - inotify limits: raise fs.inotify.max_user_instances to 8192 and
//     fs.inotify.max_user_watches to 524288 where they are lower (never
//     lowering one), by writing /proc/sys/fs/inotify/<name>, as kind's
//     known issues recommend: with 128 instances, kube-proxy crashed with
//     "fsnotify watcher init: too many open files" once 4 kind clusters ran
//     on one host. The values last until the next reboot (no /etc/sysctl.d
//     file is written): run the tool again after one.
//
// Changes need confirmation: --yes, or CI=true (or CI=1) in the environment.
// Without it the tool prints one "would ..." line per change and exits with
// status 3 (exitConfirm) and the command that confirms, changing nothing;
// loading the probe image is the exception, since it is how the tool finds
// out whether anything must change, and it only adds an image under
// kic.local/ as the suite's other images do. When nothing needs changing the
// tool succeeds without asking, so a ready host never needs a confirmation.
// With --check nothing is changed at all: the tool reports and exits
// non-zero when privileged containers do not work or an inotify limit is
// too low. A working engine is never restarted or reconfigured.
//
// A default-runtime that someone else set in daemon.json (or on dockerd's
// command line), say nvidia, is never replaced: where the wrapper would be
// needed the tool refuses and says why (see foreignRuntimeError). The wrapper
// has to be the default runtime because kind chooses no runtime for its node
// containers.
//
// Every change is recorded in /var/lib/kube-identity-conformance/host-setup.json
// (packages installed, how Docker was started, the wrapper, daemon.json and
// its backup /etc/docker/daemon.json.kic-backup, each inotify limit raised
// with its previous value), and --restore (`make host-restore`) undoes them
// in reverse order, under the same confirmation rule; a raised limit gets
// its previous value back unless it no longer holds the one written (a
// reboot reset it, or someone changed it since). A wrapper set up by an earlier version of this tool, which kept no
// record, is recognised as the tool's own and left in place.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
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
	// daemonJSONPath is dockerd's configuration file, and daemonBackupPath
	// the copy of it taken before the first change.
	daemonJSONPath   = "/etc/docker/daemon.json"
	daemonBackupPath = daemonJSONPath + ".kic-backup"
	// statePath records every change the tool made, for --restore.
	statePath = "/var/lib/kube-identity-conformance/host-setup.json"
	// dockerPIDFile is where dockerd writes its pid.
	dockerPIDFile = "/var/run/docker.pid"
	// systemdDir exists when systemd is the init system (sd_booted).
	systemdDir = "/run/systemd/system"
	// defaultDockerdLog receives the output of a dockerd started here.
	defaultDockerdLog = "/var/log/kic-dockerd.log"
	// defaultRealRunc is used for the wrapper when no runc is on PATH.
	defaultRealRunc = "/usr/sbin/runc"
	// dockerPackage is the Debian package installed when dockerd is missing.
	dockerPackage = "docker.io"
)

// The commands that confirm the changes a run without confirmation lists.
const (
	confirmSetup      = "make host-setup YES=1"
	confirmSetupGo    = "go run ./scripts/hostsetup --yes"
	confirmRestore    = "make host-restore YES=1"
	confirmRestoreGo  = "go run ./scripts/hostsetup --restore --yes"
	confirmEnvExplain = "CI=true confirms too"
)

// Exit statuses. `go run` reports any non-zero status as 1 (printing
// "exit status 3"), so the Makefile runs the built binary.
const (
	exitFailed = 1
	exitUsage  = 2
	// exitConfirm: changes are needed and were not confirmed; nothing was
	// changed.
	exitConfirm = 3
)

// Deadlines of the waits and of the slow commands.
const (
	dockerCallTimeout   = 30 * time.Second
	dockerdStartTimeout = 90 * time.Second
	dockerdStopTimeout  = 2 * time.Minute
	systemctlTimeout    = 2 * time.Minute
	reloadTimeout       = 30 * time.Second
	aptTimeout          = 15 * time.Minute
	dpkgTimeout         = time.Minute
	buildTimeout        = 10 * time.Minute
	probeTimeout        = 3 * time.Minute
	pollInterval        = 500 * time.Millisecond
)

// options are the command-line settings.
type options struct {
	// check reports only and changes nothing.
	check bool
	// yes confirms the changes, as CI=true does.
	yes bool
	// restore undoes the recorded changes instead of setting up.
	restore bool
	// dockerdLog is the log file of a dockerd started here (a host path).
	dockerdLog string
}

// errNeedsConfirmation ends a run that listed changes without making them.
var errNeedsConfirmation = errors.New("changes need confirmation")

func main() {
	var opts options
	flag.BoolVar(&opts.check, "check", false, "report only: change nothing, and exit non-zero if privileged containers do not work or the inotify limits are too low")
	flag.BoolVar(&opts.yes, "yes", false, "make the changes without asking (CI=true does the same); without it they are listed and the tool exits with status 3")
	flag.BoolVar(&opts.restore, "restore", false, "undo every change recorded in "+statePath+", newest first")
	flag.StringVar(&opts.dockerdLog, "dockerd-log", defaultDockerdLog, "log file of a dockerd started by this tool where systemd does not run")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "host-setup: unexpected arguments %q\n", flag.Args())
		os.Exit(exitUsage)
	}
	if opts.check && opts.restore {
		fmt.Fprintln(os.Stderr, "host-setup: --check and --restore exclude each other (--restore without --yes only lists what it would undo)")
		os.Exit(exitUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, realHost{}, os.Stdout, opts)
	switch {
	case err == nil:
	case errors.Is(err, errNeedsConfirmation):
		os.Exit(exitConfirm)
	default:
		var se *stepError
		if errors.As(err, &se) {
			fmt.Fprintf(os.Stderr, "host-setup: %s: FAILED: %v\n", se.step, se.err)
		} else {
			fmt.Fprintf(os.Stderr, "host-setup: FAILED: %v\n", err)
		}
		os.Exit(exitFailed)
	}
}

// stepError is the failure of one named step.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// setup is one run of the tool.
type setup struct {
	h    host
	out  io.Writer
	opts options
	// apply: changes are confirmed (--yes or CI). Without it a change is
	// printed as "would ..." and counted in planned.
	apply   bool
	planned int
	// engineLater: no engine answers, and the plan starts one; the steps
	// that need it say what they would do once it runs.
	engineLater bool
	// st is the record of the changes made, kept in statePath.
	st *state
}

// confirmed reports whether the changes may be made: --yes, or the CI
// variable set to true or 1 as CI systems do.
func confirmed(h host, opts options) bool {
	if opts.yes {
		return true
	}
	ci := strings.TrimSpace(h.Getenv("CI"))
	return strings.EqualFold(ci, "true") || ci == "1"
}

// report prints the line of one step.
func (s *setup) report(step, format string, args ...any) {
	fmt.Fprintf(s.out, "host-setup: %s: %s\n", step, fmt.Sprintf(format, args...))
}

// would prints a change that needs confirmation and counts it.
func (s *setup) would(step, format string, args ...any) {
	s.planned++
	s.report(step, "would "+format, args...)
}

// askConfirmation ends a run without confirmation that listed changes: it
// says that nothing was changed and how to confirm.
func (s *setup) askConfirmation(makeCmd, goCmd string) error {
	as := ""
	if s.h.Geteuid() != 0 {
		as = " as root"
	}
	s.report("confirm", "nothing was changed; to make the %d change(s) above, run%s `%s` (or `%s`; %s)", s.planned, as, makeCmd, goCmd, confirmEnvExplain)
	return errNeedsConfirmation
}

// run sets up the host (or restores it, with opts.restore), stopping at the
// first failure. A run that needs changes it may not make returns
// errNeedsConfirmation after listing them.
func run(ctx context.Context, h host, out io.Writer, opts options) error {
	s := &setup{h: h, out: out, opts: opts, apply: confirmed(h, opts) && !opts.check}
	st, err := loadState(h)
	if err != nil {
		return &stepError{step: "state", err: err}
	}
	s.st = st
	if opts.restore {
		if err := s.restore(ctx); err != nil {
			if errors.Is(err, errNeedsConfirmation) {
				return err
			}
			return &stepError{step: "restore", err: err}
		}
		return nil
	}
	steps := []struct {
		name string
		do   func(context.Context) error
	}{
		{"docker engine", s.ensureEngine},
		{"docker client", s.checkClient},
		{"probe image", s.ensureProbeImage},
		{"privileged containers", s.ensurePrivileged},
		{"inotify limits", s.ensureInotify},
	}
	for _, step := range steps {
		if err := step.do(ctx); err != nil {
			return &stepError{step: step.name, err: err}
		}
	}
	if s.planned > 0 {
		return s.askConfirmation(confirmSetup, confirmSetupGo)
	}
	return nil
}
