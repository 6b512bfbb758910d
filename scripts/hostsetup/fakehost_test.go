package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/images"
)

// fakeConfig describes the machine a fakeHost starts as.
type fakeConfig struct {
	// systemd: /run/systemd/system exists.
	systemd bool
	// dockerInstalled: docker.io (dockerd, docker, runc) is installed.
	dockerInstalled bool
	// engineUp: dockerd runs and answers.
	engineUp bool
	// capsOK: runc can grant every capability (the bounding set is full);
	// otherwise privileged containers fail unless the wrapper is the
	// default runtime.
	capsOK bool
	// daemonJSON is the content of /etc/docker/daemon.json, nil for none.
	daemonJSON []byte
	// probeLoaded: the probe image is in the engine.
	probeLoaded bool
	// wrapperInstalled: the wrapper binary is at wrapperPath.
	wrapperInstalled bool
	// flagRuntime, when set, is dockerd's --default-runtime: the engine's
	// default runtime whatever daemon.json says.
	flagRuntime string
	// inotifyInstances and inotifyWatches are the values of
	// fs.inotify.max_user_instances and max_user_watches; 0 is the minimum
	// the tool wants (8192, 524288), so a host needs no inotify change
	// unless a test says otherwise.
	inotifyInstances, inotifyWatches int
	// nonRoot: the tool runs with euid 1000.
	nonRoot bool
	// env is the tool's environment.
	env map[string]string
}

// fakeHost is a simulated machine: files live under root, commands and
// signals act on a small model of dockerd, apt and systemd, and every
// command and signal is recorded.
type fakeHost struct {
	t      *testing.T
	root   string
	module string
	euid   int
	env    map[string]string

	mu          sync.Mutex
	cmds        []string
	capsOK      bool
	flagRuntime string
	engineUp    bool
	pid         int
	runtime     string // the engine's default runtime, "" = runc
	probe       bool
	packages    map[string]bool
}

const fakeDockerdPID = 4242

func newFakeHost(t *testing.T, cfg fakeConfig) *fakeHost {
	t.Helper()
	f := &fakeHost{
		t:           t,
		root:        t.TempDir(),
		module:      t.TempDir(),
		euid:        0,
		env:         cfg.env,
		capsOK:      cfg.capsOK,
		flagRuntime: cfg.flagRuntime,
		probe:       cfg.probeLoaded,
		packages:    map[string]bool{"bash": true, "coreutils": true},
	}
	if cfg.nonRoot {
		f.euid = 1000
	}
	if err := os.MkdirAll(filepath.Join(f.module, "scripts", "runc-nosysresource"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/usr/bin/apt-get", "/usr/bin/dpkg-query", "/usr/bin/go", "/usr/bin/setsid"} {
		f.writeExec(p)
	}
	for i, v := range []int{cfg.inotifyInstances, cfg.inotifyWatches} {
		if v == 0 {
			v = inotifyLimits[i].Min
		}
		f.writeFile(inotifyLimits[i].Path, []byte(fmt.Sprintf("%d\n", v)))
	}
	if cfg.systemd {
		f.writeExec("/usr/bin/systemctl")
		if err := os.MkdirAll(f.Path(systemdDir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.dockerInstalled {
		f.installDocker()
	}
	if cfg.daemonJSON != nil {
		f.writeFile(daemonJSONPath, cfg.daemonJSON)
	}
	if cfg.wrapperInstalled {
		f.writeExec(wrapperPath)
	}
	if cfg.engineUp {
		if !cfg.dockerInstalled {
			t.Fatal("fakeConfig: engineUp needs dockerInstalled")
		}
		f.startEngine()
	}
	return f
}

func (f *fakeHost) Path(p string) string { return filepath.Join(f.root, p) }

func (f *fakeHost) writeFile(p string, data []byte) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(f.Path(p)), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(f.Path(p), data, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeHost) writeExec(p string) {
	f.t.Helper()
	f.writeFile(p, []byte("#!/bin/false\n"))
	if err := os.Chmod(f.Path(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
}

// exists reports whether host path p exists under the root.
func (f *fakeHost) exists(p string) bool {
	_, err := os.Stat(f.Path(p))
	return err == nil
}

// read returns the content of host path p, nil when it does not exist.
func (f *fakeHost) read(p string) []byte {
	f.t.Helper()
	data, err := os.ReadFile(f.Path(p))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

func (f *fakeHost) installDocker() {
	for _, p := range []string{"docker.io", "containerd", "runc"} {
		f.packages[p] = true
	}
	f.writeExec("/usr/sbin/dockerd")
	f.writeExec("/usr/bin/docker")
	f.writeExec("/usr/sbin/runc")
}

// sysctl returns the value in the /proc/sys file of inotify limit i.
func (f *fakeHost) sysctl(i int) string {
	f.t.Helper()
	return strings.TrimSpace(string(f.read(inotifyLimits[i].Path)))
}

// daemonRuntime is the default runtime dockerd reads from daemon.json.
func (f *fakeHost) daemonRuntime() string {
	if f.flagRuntime != "" {
		return f.flagRuntime
	}
	data := f.read(daemonJSONPath)
	if len(data) == 0 {
		return ""
	}
	var config struct {
		DefaultRuntime string `json:"default-runtime"`
	}
	if err := json.Unmarshal(data, &config); err != nil {
		f.t.Errorf("dockerd: invalid daemon.json: %v", err)
	}
	return config.DefaultRuntime
}

func (f *fakeHost) startEngine() {
	f.engineUp = true
	f.pid = fakeDockerdPID
	f.runtime = f.daemonRuntime()
	proc := fmt.Sprintf("/proc/%d/", f.pid)
	f.writeFile(proc+"comm", []byte("dockerd\n"))
	f.writeFile(proc+"stat", []byte(fmt.Sprintf("%d (dockerd) S 1 %d %d 0", f.pid, f.pid, f.pid)))
	f.writeFile(dockerPIDFile, []byte(fmt.Sprint(f.pid)))
}

func (f *fakeHost) stopEngine() {
	if err := os.RemoveAll(f.Path(fmt.Sprintf("/proc/%d", f.pid))); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Remove(f.Path(dockerPIDFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		f.t.Fatal(err)
	}
	f.engineUp = false
	f.pid = 0
}

// commands returns the commands and signals so far, one string each.
func (f *fakeHost) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}

// ran reports whether a command or signal starting with prefix was seen.
func (f *fakeHost) ran(prefix string) bool {
	for _, c := range f.commands() {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

const (
	fakeNoEngine  = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
	fakeCapsError = "docker: Error response from daemon: failed to create task for container: failed to create shim task: " +
		"OCI runtime create failed: runc create failed: unable to start container process: error during container init: " +
		"unable to apply caps: operation not permitted: unknown."
)

func (f *fakeHost) Run(_ context.Context, cmd *hostexec.Cmd) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	line := strings.Join(append([]string{cmd.Name}, cmd.Args...), " ")
	f.cmds = append(f.cmds, line)
	fail := func(out string) (string, error) {
		return out, fmt.Errorf("%s: exit status 1\n  %s", line, out)
	}
	args := cmd.Args
	switch cmd.Name {
	case "docker":
		if !f.engineUp {
			return fail(fakeNoEngine)
		}
		switch args[0] {
		case "version":
			return "26.1.5", nil
		case "info":
			return orDefault(f.runtime, "runc"), nil
		case "image":
			if f.probe {
				return "sha256:0123", nil
			}
			return fail("Error: No such image: " + probeRef)
		case "run":
			switch {
			case f.runtime == runtimeName && !f.exists(wrapperPath):
				return fail(fmt.Sprintf(`docker: Error response from daemon: exec: "%s": stat %s: no such file or directory: unknown.`, wrapperPath, wrapperPath))
			case f.runtime == runtimeName || f.capsOK:
				return "ok", nil
			default:
				return fail(fakeCapsError)
			}
		}
	case "apt-get":
		switch args[0] {
		case "update":
			return "", nil
		case "install":
			f.installDocker()
			return "", nil
		case "remove":
			for _, p := range args[2:] {
				delete(f.packages, p)
			}
			return "", nil
		}
	case "dpkg-query":
		var lines []string
		for p := range f.packages {
			lines = append(lines, "ii  "+p)
		}
		sort.Strings(lines)
		lines = append(lines, "rc  removed-long-ago")
		return strings.Join(lines, "\n"), nil
	case "systemctl":
		switch strings.Join(args, " ") {
		case "start docker":
			if !f.packages["docker.io"] {
				return fail("Failed to start docker.service: Unit docker.service not found.")
			}
			f.startEngine()
			return "", nil
		case "stop docker":
			f.stopEngine()
			return "", nil
		}
	case "setsid":
		if len(args) == 2 && args[0] == "-f" && args[1] == "/usr/sbin/dockerd" && f.exists(args[1]) {
			f.startEngine()
			return "", nil
		}
	case "go":
		switch {
		case len(args) == 2 && args[0] == "env" && args[1] == "GOMOD":
			return filepath.Join(f.module, "go.mod"), nil
		case args[0] == "build":
			for i, a := range args {
				if a == "-o" && i+1 < len(args) {
					if err := os.WriteFile(args[i+1], []byte("built "+args[len(args)-1]+"\n"), 0o644); err != nil {
						return "", err
					}
					return "", nil
				}
			}
		}
	}
	f.t.Errorf("fake host: unexpected command %q", line)
	return "", fmt.Errorf("fake host: unexpected command %q", line)
}

func (f *fakeHost) LookPath(name string) (string, error) {
	for _, dir := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(f.Path(p)); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

func (f *fakeHost) LoadImage(_ context.Context, img images.Image) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, "load image "+img.Ref)
	if !f.engineUp {
		return errors.New(fakeNoEngine)
	}
	f.probe = true
	return nil
}

func (f *fakeHost) Signal(pid int, sig syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, fmt.Sprintf("signal %s %d", sigName(sig), pid))
	if !f.engineUp || pid != f.pid {
		return syscall.ESRCH
	}
	switch sig {
	case syscall.SIGHUP:
		f.runtime = f.daemonRuntime()
	case syscall.SIGTERM:
		f.stopEngine()
	default:
		f.t.Errorf("fake host: unexpected signal %v", sig)
	}
	return nil
}

func sigName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGHUP:
		return "HUP"
	case syscall.SIGTERM:
		return "TERM"
	}
	return fmt.Sprint(int(sig))
}

func (f *fakeHost) Geteuid() int { return f.euid }

func (f *fakeHost) Getenv(key string) string { return f.env[key] }
