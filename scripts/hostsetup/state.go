package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
)

// The kinds of change recorded in the state file.
const (
	// kindPackages: Packages were installed with apt-get.
	kindPackages = "packages-installed"
	// kindDockerStarted: Docker was started, How tells how.
	kindDockerStarted = "docker-started"
	// kindWrapper: the wrapper binary was installed at Path, where there was
	// none.
	kindWrapper = "wrapper-installed"
	// kindDaemonJSON: daemon.json (Path) was written; Existed tells whether
	// there was one before, copied to Backup; Wrote is the SHA-256 of the
	// content written last.
	kindDaemonJSON = "daemon-json-configured"
	// kindSysctl: the kernel limit Name was raised by writing its file Path
	// under /proc/sys from Old to New; --restore writes Old back while it
	// still holds New. It lasts until the next reboot.
	kindSysctl = "sysctl-raised"
)

// How Docker was started.
const (
	// howSystemctl: `systemctl start docker`.
	howSystemctl = "systemctl"
	// howPID: a dockerd outside systemd, PID (0: the one in the pid file).
	howPID = "pid"
)

// change is one change the tool made to the host.
type change struct {
	Kind     string   `json:"kind"`
	At       string   `json:"at,omitempty"`
	Packages []string `json:"packages,omitempty"`
	How      string   `json:"how,omitempty"`
	PID      int      `json:"pid,omitempty"`
	Path     string   `json:"path,omitempty"`
	Existed  bool     `json:"existed,omitempty"`
	Backup   string   `json:"backup,omitempty"`
	Wrote    string   `json:"wrote_sha256,omitempty"`
	Name     string   `json:"name,omitempty"`
	Old      string   `json:"old_value,omitempty"`
	New      string   `json:"new_value,omitempty"`
}

// state is the content of the state file: the changes, oldest first.
type state struct {
	Changes []change `json:"changes"`
}

// find returns the first recorded change of kind, or nil.
func (st *state) find(kind string) *change {
	for i := range st.Changes {
		if st.Changes[i].Kind == kind {
			return &st.Changes[i]
		}
	}
	return nil
}

// findPath returns the first recorded change of kind at path, or nil.
func (st *state) findPath(kind, path string) *change {
	for i := range st.Changes {
		if st.Changes[i].Kind == kind && st.Changes[i].Path == path {
			return &st.Changes[i]
		}
	}
	return nil
}

// loadState reads the state file; a missing one is an empty record.
func loadState(h host) (*state, error) {
	data, err := os.ReadFile(h.Path(statePath))
	if errors.Is(err, os.ErrNotExist) {
		return &state{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", statePath, err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w (it records what --restore undoes: repair it, or remove it to forget those changes)", statePath, err)
	}
	for i, c := range st.Changes {
		switch c.Kind {
		case kindPackages, kindDockerStarted, kindWrapper, kindDaemonJSON:
		case kindSysctl:
			if c.Path == "" || c.Old == "" || c.New == "" {
				return nil, fmt.Errorf("%s: change %d (%s) lacks its path, old_value or new_value", statePath, i, c.Kind)
			}
		default:
			return nil, fmt.Errorf("%s: change %d has unknown kind %q", statePath, i, c.Kind)
		}
	}
	return &st, nil
}

// record adds c to the state and saves it at once, so that the file lists
// every change even when a later step fails.
func (s *setup) record(c change) error {
	c.At = time.Now().UTC().Format(time.RFC3339)
	s.st.Changes = append(s.st.Changes, c)
	return s.saveState()
}

// saveState writes the state file, or removes it (and its directory, when
// nothing else is in it) once no change is left.
func (s *setup) saveState() error {
	path := s.h.Path(statePath)
	if len(s.st.Changes) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", statePath, err)
		}
		if err := os.Remove(filepath.Dir(path)); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("remove %s: %w", filepath.Dir(statePath), err)
		}
		return nil
	}
	data, err := json.MarshalIndent(s.st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", statePath, err)
	}
	if err := writeFileAtomic(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("record the change in %s: %w", statePath, err)
	}
	return nil
}

// restore undoes the recorded changes, newest first. Without confirmation
// it lists them. It stops at the first undo that fails; that change and the
// older ones stay recorded.
func (s *setup) restore(ctx context.Context) error {
	const step = "restore"
	if len(s.st.Changes) == 0 {
		s.report(step, "nothing to undo: no change recorded in %s", statePath)
		if data, err := os.ReadFile(s.h.Path(daemonJSONPath)); err == nil {
			if rt, err := daemonDefaultRuntime(data); err == nil && rt == runtimeName {
				s.report(step, "note: %s names %s as default-runtime, set up before host-setup kept a record; to undo it by hand, remove default-runtime and runtimes.%s from it, reload dockerd (SIGHUP), then remove %s",
					daemonJSONPath, runtimeName, runtimeName, wrapperPath)
			}
		}
		return nil
	}
	if !s.apply {
		for i := len(s.st.Changes) - 1; i >= 0; i-- {
			s.would(step, "%s", describeUndo(s.st.Changes[i]))
		}
		return s.askConfirmation(confirmRestore, confirmRestoreGo)
	}
	if s.h.Geteuid() != 0 {
		return errors.New("undoing the recorded changes needs root")
	}
	for len(s.st.Changes) > 0 {
		last := len(s.st.Changes) - 1
		c := s.st.Changes[last]
		done, err := s.undo(ctx, c)
		if err != nil {
			return fmt.Errorf("%s: %w (nothing more was undone: this change and %d older one(s) stay recorded in %s)", describeUndo(c), err, last, statePath)
		}
		s.report(step, "%s", done)
		s.st.Changes = s.st.Changes[:last]
		if err := s.saveState(); err != nil {
			return err
		}
	}
	s.report(step, "every recorded change is undone; removed %s", statePath)
	return nil
}

// describeUndo says what undoing c does.
func describeUndo(c change) string {
	switch c.Kind {
	case kindPackages:
		return fmt.Sprintf("remove %s with apt-get (installed by host-setup)", strings.Join(c.Packages, " "))
	case kindDockerStarted:
		if c.How == howSystemctl {
			return "stop docker.service with systemctl (started by host-setup; its containers stop with it)"
		}
		if c.PID == 0 {
			return fmt.Sprintf("stop the dockerd in %s (started by host-setup; its containers stop with it)", dockerPIDFile)
		}
		return fmt.Sprintf("stop dockerd (pid %d, started by host-setup; its containers stop with it)", c.PID)
	case kindWrapper:
		return "remove " + c.Path
	case kindDaemonJSON:
		if c.Existed {
			return fmt.Sprintf("restore %s from %s and reload dockerd", c.Path, c.Backup)
		}
		return fmt.Sprintf("remove %s (created by host-setup) and reload dockerd", c.Path)
	case kindSysctl:
		return fmt.Sprintf("write %s back to %s (%s, raised to %s by host-setup; left as it is if it no longer holds %s)", c.Old, c.Path, c.Name, c.New, c.New)
	}
	return "undo unknown change " + c.Kind
}

// undo undoes one change and says what it did.
func (s *setup) undo(ctx context.Context, c change) (string, error) {
	switch c.Kind {
	case kindPackages:
		ctx, cancel := context.WithTimeout(ctx, aptTimeout)
		defer cancel()
		cmd := hostexec.Command("apt-get", append([]string{"remove", "-y"}, c.Packages...)...)
		cmd.Env = []string{"DEBIAN_FRONTEND=noninteractive"}
		if _, err := s.h.Run(ctx, cmd); err != nil {
			return "", err
		}
		return fmt.Sprintf("removed %s with apt-get", strings.Join(c.Packages, " ")), nil
	case kindDockerStarted:
		if c.How == howSystemctl {
			ctx, cancel := context.WithTimeout(ctx, systemctlTimeout)
			defer cancel()
			if _, err := s.h.Run(ctx, hostexec.Command("systemctl", "stop", "docker")); err != nil {
				return "", err
			}
			return "stopped docker.service with systemctl", nil
		}
		return s.stopDockerd(ctx, c.PID)
	case kindWrapper:
		return s.removeWrapper(c.Path)
	case kindDaemonJSON:
		return s.restoreDaemonJSON(ctx, c)
	case kindSysctl:
		return s.restoreSysctl(c)
	}
	return "", fmt.Errorf("unknown change %q", c.Kind)
}

// stopDockerd stops the dockerd with pid (0: the one in the pid file) with
// SIGTERM and waits until it is gone.
func (s *setup) stopDockerd(ctx context.Context, pid int) (string, error) {
	if pid == 0 {
		p, err := s.dockerdPID()
		if err != nil {
			if pids := s.dockerdPIDs(); len(pids) > 0 {
				return "", fmt.Errorf("cannot tell which dockerd (pids %v) host-setup started: %w", pids, err)
			}
			return "no dockerd runs any more: nothing to stop", nil
		}
		pid = p
	}
	if !s.isDockerd(pid) {
		return fmt.Sprintf("dockerd (pid %d) does not run any more: nothing to stop", pid), nil
	}
	if err := s.h.Signal(pid, syscall.SIGTERM); err != nil {
		return "", fmt.Errorf("SIGTERM dockerd (pid %d): %w", pid, err)
	}
	err := waitFor(ctx, fmt.Sprintf("dockerd (pid %d) to exit", pid), dockerdStopTimeout, pollInterval, func(context.Context) (bool, string, error) {
		return !s.isDockerd(pid), "still running", nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("stopped dockerd (pid %d, SIGTERM)", pid), nil
}

// removeWrapper removes the wrapper binary at path (a host path), unless
// daemon.json still names it: Docker would then fail every container.
func (s *setup) removeWrapper(path string) (string, error) {
	data, err := os.ReadFile(s.h.Path(daemonJSONPath))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", daemonJSONPath, err)
	}
	names, err := namesWrapper(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", daemonJSONPath, err)
	}
	if names {
		return "", fmt.Errorf("%s still names runtime %s, and dockerd would fail containers without its binary: remove default-runtime and runtimes.%s from it (set before host-setup kept a record, or since), reload dockerd, and re-run", daemonJSONPath, runtimeName, runtimeName)
	}
	if err := os.Remove(s.h.Path(path)); errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("%s is gone already", path), nil
	} else if err != nil {
		return "", fmt.Errorf("remove %s: %w", path, err)
	}
	return "removed " + path, nil
}

// restoreDaemonJSON puts back the daemon.json of before change c (or
// removes the one c created), provided it still holds what the tool wrote,
// and reloads a running dockerd.
func (s *setup) restoreDaemonJSON(ctx context.Context, c change) (string, error) {
	path := s.h.Path(c.Path)
	current, err := os.ReadFile(path)
	exists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", c.Path, err)
	}
	var original []byte
	var originalMode os.FileMode
	if c.Existed {
		if original, err = os.ReadFile(s.h.Path(c.Backup)); err != nil {
			return "", fmt.Errorf("read the backup: %w", err)
		}
		st, err := os.Stat(s.h.Path(c.Backup))
		if err != nil {
			return "", fmt.Errorf("read the backup: %w", err)
		}
		originalMode = st.Mode().Perm()
	}
	ours := exists && digest(current) == c.Wrote
	restored := (c.Existed && exists && bytes.Equal(current, original)) || (!c.Existed && !exists)
	var did string
	switch {
	case ours && c.Existed:
		if err := writeFileAtomic(path, original, originalMode); err != nil {
			return "", fmt.Errorf("write %s: %w", c.Path, err)
		}
		// writeFileAtomic keeps the mode of the file it replaces.
		if err := os.Chmod(path, originalMode); err != nil {
			return "", fmt.Errorf("chmod %s: %w", c.Path, err)
		}
		did = fmt.Sprintf("restored %s from %s", c.Path, c.Backup)
	case ours:
		if err := os.Remove(path); err != nil {
			return "", fmt.Errorf("remove %s: %w", c.Path, err)
		}
		did = fmt.Sprintf("removed %s (created by host-setup)", c.Path)
	case restored:
		did = fmt.Sprintf("%s is as it was before host-setup already", c.Path)
	case c.Existed:
		return "", fmt.Errorf("%s changed since host-setup wrote it, so it is left as it is: merge it with the original in %s by hand (or copy that over it), then re-run", c.Path, c.Backup)
	default:
		return "", fmt.Errorf("%s changed since host-setup created it, so it is left as it is: there was none before; remove it or drop default-runtime %s from it by hand, then re-run", c.Path, runtimeName)
	}
	if len(s.dockerdPIDs()) == 0 {
		did += "; no dockerd runs to reload"
	} else {
		want, err := daemonDefaultRuntime(original)
		if err != nil {
			return "", fmt.Errorf("%s, but the original: %w", did, err)
		}
		want = orDefault(want, "runc")
		pid, err := s.reloadDockerd()
		if err != nil {
			return "", fmt.Errorf("%s, but: %w", did, err)
		}
		if err := s.waitForDefaultRuntime(ctx, want); err != nil {
			return "", fmt.Errorf("%s and sent SIGHUP to dockerd (pid %d), but: %w", did, pid, err)
		}
		did += fmt.Sprintf("; reloaded dockerd (pid %d, SIGHUP), default runtime %s", pid, want)
	}
	// The backup goes last: until the reload worked, a re-run needs it.
	if c.Existed {
		if err := os.Remove(s.h.Path(c.Backup)); err != nil {
			return "", fmt.Errorf("%s, but remove the backup: %w", did, err)
		}
		did += "; removed " + c.Backup
	}
	return did, nil
}
