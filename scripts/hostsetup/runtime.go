package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ensurePrivileged probes privileged containers and, when they fail because
// CAP_SYS_RESOURCE is missing from the host's bounding set, installs the
// runtime wrapper as Docker's default runtime and probes again.
func ensurePrivileged(ctx context.Context, opts options) error {
	const step = "privileged containers"
	outcome, out, err := runProbe(ctx)
	switch outcome {
	case probeWorks:
		if rt, _ := defaultRuntime(ctx); rt == runtimeName {
			report(step, "work (through runtime wrapper %s, already in place), host left as it was", runtimeName)
		} else {
			report(step, "work, host left as it was")
		}
		return nil
	case probeFailed:
		return fmt.Errorf("probe container failed, and this tool has no fix for it (nothing was changed): %w", probeError(out, err))
	}
	reason := fmt.Sprintf("failed with %q", capsDeniedMessage)
	if outcome == probeWrapperBroken {
		reason = fmt.Sprintf("failed: runtime wrapper %s is missing or broken", wrapperPath)
	}
	if opts.check {
		return fmt.Errorf("%s (--check changes nothing; run without it to install runtime wrapper %s): %w", reason, runtimeName, probeError(out, err))
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s, and installing runtime wrapper %s needs root: %w", reason, runtimeName, probeError(out, err))
	}
	if err := installWrapper(ctx); err != nil {
		return fmt.Errorf("%s; install runtime wrapper: %w", reason, err)
	}
	changed, err := configureDaemon(daemonJSONPath)
	if err != nil {
		return fmt.Errorf("%s; installed %s, but: %w", reason, wrapperPath, err)
	}
	current, _ := defaultRuntime(ctx)
	action := "dockerd already had it as default runtime"
	if changed || current != runtimeName {
		pid, err := reloadDockerd(dockerPIDFile)
		if err != nil {
			return fmt.Errorf("%s; configured %s, but: %w", reason, daemonJSONPath, err)
		}
		if err := waitForDefaultRuntime(ctx, runtimeName); err != nil {
			return fmt.Errorf("%s; sent SIGHUP to dockerd (pid %d), but: %w", reason, pid, err)
		}
		action = "reloaded dockerd (SIGHUP)"
	}
	report(step, "%s; installed runtime wrapper %s, %s", reason, runtimeName, action)

	outcome, out, err = runProbe(ctx)
	if outcome != probeWorks {
		return fmt.Errorf("still failing with runtime wrapper %s as default runtime: %w", runtimeName, probeError(out, err))
	}
	report(step, "work")
	return nil
}

// probeError describes a failed probe run with its output.
func probeError(out string, err error) error {
	if err != nil {
		return err // hostexec errors carry the output's tail
	}
	return fmt.Errorf("probe printed %q instead of \"ok\"", out)
}

// defaultRuntime returns the engine's default OCI runtime.
func defaultRuntime(ctx context.Context) (string, error) {
	return docker(ctx, dockerCallTimeout, "info", "--format", "{{.DefaultRuntime}}")
}

// waitForDefaultRuntime polls until the engine reports want as its default
// runtime.
func waitForDefaultRuntime(ctx context.Context, want string) error {
	return waitFor(ctx, "dockerd to take "+want+" as default runtime", reloadTimeout, pollInterval, func(ctx context.Context) (bool, string, error) {
		rt, err := defaultRuntime(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		return rt == want, fmt.Sprintf("default runtime %q (see the dockerd log for reload errors)", rt), nil
	})
}

// installWrapper builds the runtime wrapper from the module and installs it
// at wrapperPath, replacing any previous binary by rename (a running copy
// keeps its file).
func installWrapper(ctx context.Context) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(wrapperPath), 0o755); err != nil {
		return err
	}
	tmp := wrapperPath + ".new"
	defer os.Remove(tmp) // no-op after the rename
	if err := goBuild(ctx, root, wrapperPkg, tmp, "-X main.realRunc="+realRuncPath()); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, wrapperPath); err != nil {
		return fmt.Errorf("install %s: %w", wrapperPath, err)
	}
	return nil
}

// realRuncPath returns the runc the wrapper hands over to: the one on PATH
// (Debian's docker.io has it in /usr/sbin, Docker's packages in /usr/bin).
func realRuncPath() string {
	if p, err := exec.LookPath("runc"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return defaultRealRunc
}

// configureDaemon registers the wrapper as default runtime in the daemon.json
// at path, keeping every other setting. It reports whether the file changed.
func configureDaemon(path string) (bool, error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	merged, changed, err := mergeDaemonConfig(old, runtimeName, wrapperPath)
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if !changed {
		return false, nil
	}
	if err := writeFileAtomic(path, merged, 0o644); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}

// mergeDaemonConfig returns the daemon.json content old with runtime name
// registered at binPath and made the default runtime. Every other key, and
// every other runtime, is kept. When old already says so, it is returned
// unchanged with changed false. Empty or missing content counts as {}.
func mergeDaemonConfig(old []byte, name, binPath string) (out []byte, changed bool, err error) {
	config := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(old)) > 0 {
		if err := json.Unmarshal(old, &config); err != nil {
			return nil, false, fmt.Errorf("decode: %w", err)
		}
		if config == nil { // the file held "null"
			config = map[string]json.RawMessage{}
		}
	}
	runtimes := map[string]json.RawMessage{}
	if raw, ok := config["runtimes"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		if err := json.Unmarshal(raw, &runtimes); err != nil {
			return nil, false, fmt.Errorf("decode runtimes: %w", err)
		}
	}
	entry := map[string]json.RawMessage{}
	if raw, ok := runtimes[name]; ok && string(bytes.TrimSpace(raw)) != "null" {
		if err := json.Unmarshal(raw, &entry); err != nil {
			return nil, false, fmt.Errorf("decode runtimes.%s: %w", name, err)
		}
	}
	var curPath, curDefault string
	_ = json.Unmarshal(entry["path"], &curPath)
	_ = json.Unmarshal(config["default-runtime"], &curDefault)
	if curPath == binPath && curDefault == name {
		return old, false, nil
	}
	if entry["path"], err = json.Marshal(binPath); err != nil {
		return nil, false, err
	}
	if runtimes[name], err = json.Marshal(entry); err != nil {
		return nil, false, err
	}
	if config["runtimes"], err = json.Marshal(runtimes); err != nil {
		return nil, false, err
	}
	if config["default-runtime"], err = json.Marshal(name); err != nil {
		return nil, false, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(config); err != nil {
		return nil, false, fmt.Errorf("encode: %w", err)
	}
	return buf.Bytes(), true, nil
}

// writeFileAtomic replaces path with data through a synced temporary file
// in the same directory. An existing file's mode is kept; a new file gets
// mode perm.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if st, err := os.Stat(path); err == nil {
		perm = st.Mode().Perm()
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// parsePIDFile reads a pid file's content: one positive decimal number,
// optionally surrounded by white space.
func parsePIDFile(data []byte) (int, error) {
	s := strings.TrimSpace(string(data))
	pid, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("pid file holds %q, not a pid", s)
	}
	if pid <= 0 {
		return 0, fmt.Errorf("pid file holds %d, not a pid", pid)
	}
	return pid, nil
}

// reloadDockerd sends SIGHUP to the dockerd whose pid is in pidFile, which
// makes it reload daemon.json without a restart. It returns the pid.
func reloadDockerd(pidFile string) (int, error) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("find dockerd: %w", err)
	}
	pid, err := parsePIDFile(data)
	if err != nil {
		return 0, fmt.Errorf("find dockerd: %s: %w", pidFile, err)
	}
	if !isDockerd(pid) {
		return 0, fmt.Errorf("find dockerd: %s names pid %d, which is not a running dockerd", pidFile, pid)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return 0, fmt.Errorf("SIGHUP dockerd (pid %d): %w", pid, err)
	}
	return pid, nil
}
