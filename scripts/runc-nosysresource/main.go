// Command kic-runc-nosysresource is an OCI runtime wrapper for hosts whose
// capability bounding set lacks CAP_SYS_RESOURCE.
//
// On such hosts `docker run --privileged` fails with "unable to apply caps:
// operation not permitted": Docker asks runc for every capability, and the
// kernel refuses to grant one that is outside the bounding set. Registered as
// Docker's default runtime, this wrapper removes CAP_SYS_RESOURCE from every
// capability list of the container before handing over to the real runc:
//
//   - for `create` and `run`, from process.capabilities in <bundle>/config.json
//     (the bundle is given by --bundle/-b, and defaults to the working
//     directory);
//   - for `exec`, from capabilities in the process file given by --process/-p.
//
// Everything else in those files is kept, and the real runc is then executed
// with the unchanged argv and environment. The real runc is /usr/sbin/runc,
// or the path baked in at build time with
// -ldflags "-X main.realRunc=/path/to/runc", or $KIC_REAL_RUNC when set.
//
// The wrapper uses only the standard library and is meant to be built
// statically (CGO_ENABLED=0).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// realRunc is the runtime the wrapper hands over to. It can be set at build
// time with -ldflags "-X main.realRunc=/path/to/runc".
var realRunc = "/usr/sbin/runc"

// realRuncEnv, when set in the environment, overrides realRunc.
const realRuncEnv = "KIC_REAL_RUNC"

// dropCapability is the capability removed from every list.
const dropCapability = "CAP_SYS_RESOURCE"

func main() {
	inv := parseArgs(os.Args[1:])
	if err := prepare(inv); err != nil {
		fail(inv, err)
	}
	runc, err := runtimePath()
	if err != nil {
		fail(inv, err)
	}
	// syscall.Exec only returns on failure.
	err = syscall.Exec(runc, os.Args, os.Environ())
	fail(inv, fmt.Errorf("exec %s: %w", runc, err))
}

// prepare rewrites the file that carries the capabilities of the process
// runc is about to start, if the invocation starts one.
func prepare(inv invocation) error {
	switch inv.Subcommand {
	case "create", "run":
		bundle := inv.Bundle
		if bundle == "" {
			// runc's default bundle is the working directory.
			bundle = "."
		}
		return rewriteFile(filepath.Join(bundle, "config.json"), configCapabilities)
	case "exec":
		if inv.Process == "" {
			// Without --process, runc builds the process from the
			// container's own spec, whose capabilities were already
			// rewritten at create time.
			return nil
		}
		return rewriteFile(inv.Process, processCapabilities)
	}
	return nil
}

// runtimePath returns the real runc to execute, refusing to execute the
// wrapper itself (which would loop forever).
func runtimePath() (string, error) {
	runc := realRunc
	if env := os.Getenv(realRuncEnv); env != "" {
		runc = env
	}
	if self, err := os.Executable(); err == nil {
		selfInfo, err1 := os.Stat(self)
		runcInfo, err2 := os.Stat(runc)
		if err1 == nil && err2 == nil && os.SameFile(selfInfo, runcInfo) {
			return "", fmt.Errorf("real runc %s is this wrapper; set %s to the real runc", runc, realRuncEnv)
		}
	}
	return runc, nil
}

// fail reports err on stderr and, when runc was given a log file, in that
// log too (containerd reads the last error from it), then exits.
func fail(inv invocation, err error) {
	msg := "kic-runc-nosysresource: " + err.Error()
	fmt.Fprintln(os.Stderr, msg)
	if inv.Log != "" {
		if f, ferr := os.OpenFile(inv.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); ferr == nil {
			f.Write(logLine(inv.LogFormat, msg, time.Now()))
			f.Close()
		}
	}
	os.Exit(1)
}
