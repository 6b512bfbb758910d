package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ensurePrivileged probes privileged containers and, when they fail because
// CAP_SYS_RESOURCE is missing from the host's bounding set, installs the
// runtime wrapper as Docker's default runtime and probes again. A default
// runtime someone else set is never replaced (see foreignRuntimeError).
func (s *setup) ensurePrivileged(ctx context.Context) error {
	const step = "privileged containers"
	if s.engineLater {
		s.report(step, "probed once the engine runs; if they fail with %q, host-setup then also writes %s, sets default-runtime %s in %s (backed up first; a default-runtime set by someone else is never replaced) and reloads dockerd",
			capsDeniedMessage, wrapperPath, runtimeName, daemonJSONPath)
		return nil
	}
	outcome, out, probeErr := s.runProbe(ctx)
	switch outcome {
	case probeWorks:
		rt, rtErr := s.defaultRuntime(ctx)
		switch {
		case rtErr != nil:
			s.report(step, "work, host left as it was (default runtime unknown: %v)", rtErr)
		case rt == runtimeName && s.st.find(kindDaemonJSON) == nil:
			s.report(step, "work (through runtime wrapper %s, already in place, set up before host-setup kept a record: `make host-restore` leaves it), host left as it was", runtimeName)
		case rt == runtimeName:
			s.report(step, "work (through runtime wrapper %s, already in place), host left as it was", runtimeName)
		default:
			s.report(step, "work, host left as it was")
		}
		return nil
	case probeFailed:
		return fmt.Errorf("probe container failed, and this tool has no fix for it (nothing was changed): %w", probeError(out, probeErr))
	}
	reason := fmt.Sprintf("failed with %q", capsDeniedMessage)
	if outcome == probeWrapperBroken {
		reason = fmt.Sprintf("failed: runtime wrapper %s is missing or broken", wrapperPath)
	}

	// The wrapper can only work as the default runtime; one that someone
	// else chose stays.
	old, err := os.ReadFile(s.h.Path(daemonJSONPath))
	existed := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s; read %s: %w", reason, daemonJSONPath, err)
	}
	fileRuntime, err := daemonDefaultRuntime(old)
	if err != nil {
		return fmt.Errorf("%s; %s: %w", reason, daemonJSONPath, err)
	}
	if foreignRuntime(fileRuntime) {
		return foreignRuntimeError(reason, fileRuntime, "set in "+daemonJSONPath)
	}
	engineRuntime, err := s.defaultRuntime(ctx)
	if err != nil {
		return fmt.Errorf("%s; ask the engine for its default runtime: %w", reason, err)
	}
	if foreignRuntime(engineRuntime) {
		return foreignRuntimeError(reason, engineRuntime, "the engine's, not set in "+daemonJSONPath+": dockerd's --default-runtime flag, which a daemon.json entry would conflict with")
	}
	if s.opts.check {
		return fmt.Errorf("%s (--check changes nothing; run without it to install runtime wrapper %s): %w", reason, runtimeName, probeError(out, probeErr))
	}
	merged, changed, err := mergeDaemonConfig(old, runtimeName, wrapperPath)
	if err != nil {
		return fmt.Errorf("%s; %s: %w", reason, daemonJSONPath, err)
	}
	reload := changed || engineRuntime != runtimeName

	if !s.apply {
		s.report(step, "%s", reason)
		s.would(step, "write %s (runtime wrapper %s, built from %s)", wrapperPath, runtimeName, wrapperPkg)
		switch {
		case !changed:
		case !existed:
			s.would(step, "create %s with default-runtime %s (runtimes.%s.path %s)", daemonJSONPath, runtimeName, runtimeName, wrapperPath)
		case s.st.find(kindDaemonJSON) != nil:
			s.would(step, "set default-runtime %s in %s (runtimes.%s.path %s; other keys kept; backup %s taken earlier)", runtimeName, daemonJSONPath, runtimeName, wrapperPath, daemonBackupPath)
		default:
			s.would(step, "back up %s to %s and set default-runtime %s in it (runtimes.%s.path %s; other keys kept)", daemonJSONPath, daemonBackupPath, runtimeName, runtimeName, wrapperPath)
		}
		if reload {
			s.would(step, "reload dockerd (SIGHUP) to take the new default runtime")
		}
		return nil
	}
	if s.h.Geteuid() != 0 {
		return fmt.Errorf("%s, and installing runtime wrapper %s needs root: %w", reason, runtimeName, probeError(out, probeErr))
	}
	// A daemon.json that names the wrapper without a record is an earlier
	// version's set-up: its wrapper belongs to it and stays on --restore.
	legacy := fileRuntime == runtimeName && s.st.find(kindDaemonJSON) == nil
	if err := s.installWrapper(ctx, !legacy); err != nil {
		return fmt.Errorf("%s; install runtime wrapper: %w", reason, err)
	}
	var did []string
	did = append(did, "installed runtime wrapper "+wrapperPath)
	if changed {
		note, err := s.configureDaemon(old, existed, merged)
		if err != nil {
			return fmt.Errorf("%s; installed %s, but: %w", reason, wrapperPath, err)
		}
		did = append(did, note)
	} else {
		did = append(did, daemonJSONPath+" already names it as default runtime")
		if legacy {
			did[len(did)-1] += " (set up before host-setup kept a record: `make host-restore` leaves both)"
		}
	}
	if reload {
		pid, err := s.reloadDockerd()
		if err != nil {
			return fmt.Errorf("%s; configured %s, but: %w", reason, daemonJSONPath, err)
		}
		if err := s.waitForDefaultRuntime(ctx, runtimeName); err != nil {
			return fmt.Errorf("%s; sent SIGHUP to dockerd (pid %d), but: %w", reason, pid, err)
		}
		did = append(did, fmt.Sprintf("reloaded dockerd (pid %d, SIGHUP)", pid))
	}
	s.report(step, "%s; %s", reason, strings.Join(did, "; "))

	outcome, out, probeErr = s.runProbe(ctx)
	if outcome != probeWorks {
		return fmt.Errorf("still failing with runtime wrapper %s as default runtime: %w", runtimeName, probeError(out, probeErr))
	}
	s.report(step, "work")
	return nil
}

// foreignRuntime reports whether rt is a default runtime someone else
// chose: neither unset, nor Docker's built-in runc, nor the wrapper.
func foreignRuntime(rt string) bool {
	switch rt {
	case "", "runc", "io.containerd.runc.v2", runtimeName:
		return false
	}
	return true
}

// foreignRuntimeError refuses to replace default runtime rt (set where
// says where).
//
// The wrapper is needed as the default runtime because a named runtime
// would not reach kind's node containers: kind's docker provider starts
// them with a fixed `docker run` argument list and no --runtime, and its
// cluster configuration has no field for one (sigs.k8s.io/kind v0.33.0,
// pkg/cluster/internal/providers/docker/provision.go, commonArgs and
// runArgsForNode). Registering the wrapper beside rt would leave the
// nodes on rt, which fails as the probe did.
func foreignRuntimeError(reason, rt, where string) error {
	return fmt.Errorf("%s, and Docker's default-runtime is %q (%s), which host-setup does not replace; nothing was changed. "+
		"The fix, runtime wrapper %s, has to be the default runtime: kind starts its node containers with a fixed `docker run` "+
		"argument list (sigs.k8s.io/kind pkg/cluster/internal/providers/docker/provision.go) that names no runtime, so a named one "+
		"would never be used. Either run the suite on a host whose capability bounding set includes CAP_SYS_RESOURCE, "+
		"or make the default runtime drop CAP_SYS_RESOURCE yourself (scripts/runc-nosysresource wraps a runc that way; "+
		"the real runc it calls is set with -ldflags -X main.realRunc=PATH)", reason, rt, where, runtimeName)
}

// probeError describes a failed probe run with its output.
func probeError(out string, err error) error {
	if err != nil {
		return err // hostexec errors carry the output's tail
	}
	return fmt.Errorf("probe printed %q instead of \"ok\"", out)
}

// defaultRuntime returns the engine's default OCI runtime.
func (s *setup) defaultRuntime(ctx context.Context) (string, error) {
	return s.docker(ctx, dockerCallTimeout, "info", "--format", "{{.DefaultRuntime}}")
}

// waitForDefaultRuntime polls until the engine reports want as its default
// runtime.
func (s *setup) waitForDefaultRuntime(ctx context.Context, want string) error {
	return waitFor(ctx, "dockerd to take "+want+" as default runtime", reloadTimeout, pollInterval, func(ctx context.Context) (bool, string, error) {
		rt, err := s.defaultRuntime(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		return rt == want, fmt.Sprintf("default runtime %q (see the dockerd log for reload errors)", rt), nil
	})
}

// installWrapper builds the runtime wrapper from the module and installs it
// at wrapperPath, replacing any previous binary by rename (a running copy
// keeps its file). With record, a wrapper that was not there before is
// recorded; one that was is this tool's own from an earlier run, and stays
// on --restore.
func (s *setup) installWrapper(ctx context.Context, record bool) error {
	root, err := s.moduleRoot(ctx)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(s.h.Path(wrapperPath))
	if statErr != nil && !errors.Is(statErr, os.ErrNotExist) {
		return fmt.Errorf("stat %s: %w", wrapperPath, statErr)
	}
	if record && statErr != nil && s.st.find(kindWrapper) == nil {
		// Recorded before it is written: a failure half-way leaves
		// nothing --restore does not know about.
		if err := s.record(change{Kind: kindWrapper, Path: wrapperPath}); err != nil {
			return err
		}
	}
	dest := s.h.Path(wrapperPath)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp := dest + ".new"
	defer os.Remove(tmp) // no-op after the rename
	if err := s.goBuild(ctx, root, wrapperPkg, tmp, "-X main.realRunc="+s.realRuncPath()); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("install %s: %w", wrapperPath, err)
	}
	return nil
}

// realRuncPath returns the runc the wrapper hands over to: the one on PATH
// (Debian's docker.io has it in /usr/sbin, Docker's packages in /usr/bin).
func (s *setup) realRuncPath() string {
	if p, err := s.h.LookPath("runc"); err == nil && filepath.IsAbs(p) {
		return p
	}
	return defaultRealRunc
}

// configureDaemon writes merged, the wrapper's configuration, to
// daemon.json, whose content was old (existed false: there was none). The
// first time, the original is copied to daemonBackupPath before the write;
// the change, with a digest of what was written, is recorded after it. It
// returns what it did, for the report.
func (s *setup) configureDaemon(old []byte, existed bool, merged []byte) (string, error) {
	path := s.h.Path(daemonJSONPath)
	if c := s.st.find(kindDaemonJSON); c != nil {
		// Backed up on an earlier run: that backup is the original.
		if err := writeFileAtomic(path, merged, 0o644); err != nil {
			return "", fmt.Errorf("write %s: %w", daemonJSONPath, err)
		}
		c.Wrote = digest(merged)
		if err := s.saveState(); err != nil {
			return "", err
		}
		return fmt.Sprintf("set default-runtime %s in %s (original kept in %s earlier)", runtimeName, daemonJSONPath, orDefault(c.Backup, "no file")), nil
	}
	c := change{Kind: kindDaemonJSON, Path: daemonJSONPath, Existed: existed}
	backup := s.h.Path(daemonBackupPath)
	if existed {
		if _, err := os.Stat(backup); err == nil {
			return "", fmt.Errorf("backup %s exists, but %s has no record of it: it may be the only copy of an original %s, so it is not overwritten; move it away and re-run", daemonBackupPath, statePath, daemonJSONPath)
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("stat %s: %w", daemonBackupPath, err)
		}
		st, err := os.Stat(path)
		if err != nil {
			return "", fmt.Errorf("stat %s: %w", daemonJSONPath, err)
		}
		if err := writeFileAtomic(backup, old, st.Mode().Perm()); err != nil {
			return "", fmt.Errorf("back up %s to %s: %w", daemonJSONPath, daemonBackupPath, err)
		}
		c.Backup = daemonBackupPath
	}
	if err := writeFileAtomic(path, merged, 0o644); err != nil {
		err = fmt.Errorf("write %s: %w", daemonJSONPath, err)
		if existed {
			if rmErr := os.Remove(backup); rmErr != nil {
				err = errors.Join(err, fmt.Errorf("remove the backup %s again: %w", daemonBackupPath, rmErr))
			}
		}
		return "", err
	}
	c.Wrote = digest(merged)
	if err := s.record(c); err != nil {
		return "", fmt.Errorf("wrote %s (original in %s), but: %w", daemonJSONPath, orDefault(c.Backup, "no file"), err)
	}
	if existed {
		return fmt.Sprintf("backed up %s to %s and set default-runtime %s in it", daemonJSONPath, daemonBackupPath, runtimeName), nil
	}
	return fmt.Sprintf("created %s with default-runtime %s", daemonJSONPath, runtimeName), nil
}

// digest is the hex SHA-256 of data.
func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// daemonDefaultRuntime returns the default-runtime of daemon.json content
// data, "" when it sets none. Empty content counts as {}.
func daemonDefaultRuntime(data []byte) (string, error) {
	config := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(data)) == 0 {
		return "", nil
	}
	if err := json.Unmarshal(data, &config); err != nil {
		return "", fmt.Errorf("decode: %w", err)
	}
	raw, ok := config["default-runtime"]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return "", nil
	}
	var rt string
	if err := json.Unmarshal(raw, &rt); err != nil {
		return "", fmt.Errorf("decode default-runtime: %w", err)
	}
	return rt, nil
}

// namesWrapper reports whether daemon.json content data still registers
// or selects the wrapper, so that removing its binary would break Docker.
func namesWrapper(data []byte) (bool, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return false, nil
	}
	rt, err := daemonDefaultRuntime(data)
	if err != nil {
		return false, err
	}
	if rt == runtimeName {
		return true, nil
	}
	var config struct {
		Runtimes map[string]json.RawMessage `json:"runtimes"`
	}
	if err := json.Unmarshal(data, &config); err != nil {
		return false, fmt.Errorf("decode: %w", err)
	}
	_, ok := config.Runtimes[runtimeName]
	return ok, nil
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

// dockerdPID returns the pid of the running dockerd, from its pid file.
func (s *setup) dockerdPID() (int, error) {
	data, err := os.ReadFile(s.h.Path(dockerPIDFile))
	if err != nil {
		return 0, fmt.Errorf("find dockerd: %w", err)
	}
	pid, err := parsePIDFile(data)
	if err != nil {
		return 0, fmt.Errorf("find dockerd: %s: %w", dockerPIDFile, err)
	}
	if !s.isDockerd(pid) {
		return 0, fmt.Errorf("find dockerd: %s names pid %d, which is not a running dockerd", dockerPIDFile, pid)
	}
	return pid, nil
}

// reloadDockerd sends SIGHUP to the running dockerd, which makes it reload
// daemon.json without a restart. It returns the pid.
func (s *setup) reloadDockerd() (int, error) {
	pid, err := s.dockerdPID()
	if err != nil {
		return 0, err
	}
	if err := s.h.Signal(pid, syscall.SIGHUP); err != nil {
		return 0, fmt.Errorf("SIGHUP dockerd (pid %d): %w", pid, err)
	}
	return pid, nil
}
