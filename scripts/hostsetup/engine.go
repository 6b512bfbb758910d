package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
)

// docker runs the docker client with a deadline and returns its output.
func (s *setup) docker(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.h.Run(ctx, hostexec.Command("docker", args...))
}

// available reports whether name is on the host's PATH.
func (s *setup) available(name string) bool {
	_, err := s.h.LookPath(name)
	return err == nil
}

// serverVersion returns the version of the engine the docker client
// reaches, or an error saying why none answers.
func (s *setup) serverVersion(ctx context.Context) (string, error) {
	if !s.available("docker") {
		return "", errors.New("no docker client on PATH")
	}
	out, err := s.docker(ctx, dockerCallTimeout, "version", "--format", "{{.Server.Version}}")
	if err != nil {
		return "", err
	}
	if out == "" {
		return "", errors.New("docker version printed no server version")
	}
	return out, nil
}

// systemdRuns reports whether systemd is the init system, as sd_booted(3)
// tells: /run/systemd/system exists. Docker is then started through
// systemctl, never beside it.
func (s *setup) systemdRuns() bool {
	st, err := os.Stat(s.h.Path(systemdDir))
	return err == nil && st.IsDir()
}

// ensureEngine makes sure a Docker engine answers: it uses a running one,
// waits for one that is starting, or installs and starts Docker.
func (s *setup) ensureEngine(ctx context.Context) error {
	const step = "docker engine"
	version, err := s.serverVersion(ctx)
	if err == nil {
		s.report(step, "already running (server %s)", version)
		return nil
	}
	if s.opts.check {
		return fmt.Errorf("no engine answers (--check changes nothing): %w", err)
	}
	if pids := s.dockerdPIDs(); len(pids) > 0 {
		// A dockerd that does not answer yet: it may be starting. Starting
		// a second one would only fail on the pid file.
		version, err := s.waitForEngine(ctx, dockerdStartTimeout, "")
		if err != nil {
			return fmt.Errorf("dockerd (pid %v) is running but does not answer: %w", pids, err)
		}
		s.report(step, "dockerd (pid %v) was starting, now answers (server %s)", pids, version)
		return nil
	}
	dockerd := s.dockerdPath()
	systemd := s.systemdRuns()
	if dockerd == "" && !s.available("apt-get") {
		return fmt.Errorf("no Docker engine answers and none can be installed here: apt-get is missing; install Docker and re-run (%v)", err)
	}
	if !s.apply {
		s.report(step, "no engine answers (%s)", oneLine(err))
		if dockerd == "" {
			s.would(step, "install %s with apt-get", dockerPackage)
		}
		if systemd {
			s.would(step, "start docker.service with systemctl (systemd runs: %s exists)", systemdDir)
		} else {
			s.would(step, "start %s detached (no systemd), logging to %s", orDefault(dockerd, "dockerd"), s.opts.dockerdLog)
		}
		s.engineLater = true
		return nil
	}
	if s.h.Geteuid() != 0 {
		if dockerd == "" {
			return fmt.Errorf("no Docker engine answers and none can be installed here: not root (%v); install Docker and re-run", err)
		}
		return fmt.Errorf("no Docker engine answers and none can be started here: not root (%v); start Docker and re-run", err)
	}
	if dockerd == "" {
		how, err := s.installDocker(ctx)
		if err != nil {
			return err
		}
		s.report(step, "installed %s with apt-get%s", dockerPackage, how)
		if dockerd = s.dockerdPath(); dockerd == "" {
			return fmt.Errorf("%s is installed but dockerd is not on PATH nor in /usr/sbin or /usr/bin", dockerPackage)
		}
	}
	if systemd {
		version, err := s.startDockerService(ctx)
		if err != nil {
			return err
		}
		s.report(step, "started docker.service with systemctl (server %s)", version)
		return nil
	}
	if pids := s.dockerdPIDs(); len(pids) > 0 {
		// The package's init script started it.
		version, err := s.waitForEngine(ctx, dockerdStartTimeout, "")
		if err != nil {
			return fmt.Errorf("the %s package started dockerd (pid %v), but it does not answer: %w", dockerPackage, pids, err)
		}
		pid, err := s.recordDetachedDockerd(ctx)
		if err != nil {
			return err
		}
		s.report(step, "the %s package started dockerd (pid %d, server %s)", dockerPackage, pid, version)
		return nil
	}
	version, pid, err := s.startDockerd(ctx, dockerd, s.opts.dockerdLog)
	if err != nil {
		return err
	}
	s.report(step, "started %s detached (pid %d, log %s, server %s)", dockerd, pid, s.opts.dockerdLog, version)
	return nil
}

// oneLine renders err on one line, for a step's report: hostexec errors
// put the command's output on the lines after the first.
func oneLine(err error) string {
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " / ")
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// dockerdPath finds dockerd on PATH or in the usual system directories,
// which a non-login root shell may lack on PATH. It returns "" when there
// is none.
func (s *setup) dockerdPath() string {
	if p, err := s.h.LookPath("dockerd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/dockerd", "/usr/bin/dockerd"} {
		if st, err := os.Stat(s.h.Path(p)); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// installDocker installs Debian's docker.io with apt-get, running
// `apt-get update` only when the plain install fails, and records every
// package the install added (docker.io and the dependencies it pulled in)
// for --restore. It returns a note on how the install went for the report.
func (s *setup) installDocker(ctx context.Context) (string, error) {
	before, err := s.installedPackages(ctx)
	if err != nil {
		return "", fmt.Errorf("list the installed packages before installing %s: %w", dockerPackage, err)
	}
	how, installErr := s.aptInstall(ctx)
	// Record what is new even after a failed install: apt-get may have
	// unpacked part of it.
	after, err := s.installedPackages(ctx)
	if err != nil {
		recErr := s.record(change{Kind: kindPackages, Packages: []string{dockerPackage}})
		return "", errors.Join(installErr, fmt.Errorf("list the installed packages after installing %s (recorded %s alone for --restore): %w", dockerPackage, dockerPackage, err), recErr)
	}
	var added []string
	for p := range after {
		if !before[p] {
			added = append(added, p)
		}
	}
	sort.Strings(added)
	if len(added) > 0 {
		if err := s.record(change{Kind: kindPackages, Packages: added}); err != nil {
			return "", errors.Join(installErr, err)
		}
	}
	if installErr != nil {
		return "", installErr
	}
	return fmt.Sprintf("%s; %d package(s) added: %s", how, len(added), strings.Join(added, " ")), nil
}

// aptInstall runs the install of docker.io itself.
func (s *setup) aptInstall(ctx context.Context) (string, error) {
	install := func() error {
		ctx, cancel := context.WithTimeout(ctx, aptTimeout)
		defer cancel()
		cmd := hostexec.Command("apt-get", "install", "-y", "--no-install-recommends", dockerPackage)
		cmd.Env = []string{"DEBIAN_FRONTEND=noninteractive"}
		_, err := s.h.Run(ctx, cmd)
		return err
	}
	firstErr := install()
	if firstErr == nil {
		return "", nil
	}
	ctxUpdate, cancel := context.WithTimeout(ctx, aptTimeout)
	defer cancel()
	update := hostexec.Command("apt-get", "update")
	update.Env = []string{"DEBIAN_FRONTEND=noninteractive"}
	if _, err := s.h.Run(ctxUpdate, update); err != nil {
		return "", fmt.Errorf("install %s failed (%v), and so did apt-get update: %w", dockerPackage, firstErr, err)
	}
	if err := install(); err != nil {
		return "", fmt.Errorf("install %s (after apt-get update): %w", dockerPackage, err)
	}
	return " (after apt-get update)", nil
}

// installedPackages returns the packages dpkg has installed, by the names
// apt-get accepts (with the architecture for multi-arch ones).
func (s *setup) installedPackages(ctx context.Context) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, dpkgTimeout)
	defer cancel()
	out, err := s.h.Run(ctx, hostexec.Command("dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${binary:Package}\n"))
	if err != nil {
		return nil, err
	}
	return parseInstalledPackages(out), nil
}

// parseInstalledPackages reads dpkg-query's "<status> <package>" lines and
// keeps the packages whose current state is installed (second status
// letter "i": "ii", "hi").
func parseInstalledPackages(out string) map[string]bool {
	pkgs := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && len(f[0]) >= 2 && f[0][1] == 'i' {
			pkgs[f[1]] = true
		}
	}
	return pkgs
}

// startDockerService starts Docker through systemd and waits until it
// answers. The start is recorded first: a unit that fails to come up is
// still one --restore stops.
func (s *setup) startDockerService(ctx context.Context) (string, error) {
	if err := s.record(change{Kind: kindDockerStarted, How: howSystemctl}); err != nil {
		return "", err
	}
	sctx, cancel := context.WithTimeout(ctx, systemctlTimeout)
	defer cancel()
	if _, err := s.h.Run(sctx, hostexec.Command("systemctl", "start", "docker")); err != nil {
		return "", fmt.Errorf("start docker.service (see `journalctl -u docker`): %w", err)
	}
	version, err := s.waitForEngine(ctx, dockerdStartTimeout, "")
	if err != nil {
		return "", fmt.Errorf("started docker.service, but (see `journalctl -u docker`): %w", err)
	}
	return version, nil
}

// startDockerd starts dockerd detached, in its own session and with its
// output appended to logPath (a host path), then waits until it answers
// and records its pid.
func (s *setup) startDockerd(ctx context.Context, dockerd, logPath string) (string, int, error) {
	if err := os.MkdirAll(s.h.Path(filepath.Dir(logPath)), 0o755); err != nil {
		return "", 0, fmt.Errorf("dockerd log: %w", err)
	}
	logFile, err := os.OpenFile(s.h.Path(logPath), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return "", 0, fmt.Errorf("dockerd log: %w", err)
	}
	defer logFile.Close()
	if _, err := fmt.Fprintf(logFile, "---- %s: host-setup starts %s\n", time.Now().UTC().Format(time.RFC3339), dockerd); err != nil {
		return "", 0, fmt.Errorf("dockerd log: %w", err)
	}
	// setsid -f forks, so the command returns at once while dockerd lives
	// on in a new session, away from this process and its terminal.
	cmd := hostexec.Command("setsid", "-f", dockerd)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if _, err := s.h.Run(ctx, cmd); err != nil {
		return "", 0, fmt.Errorf("start dockerd: %w", err)
	}
	version, err := s.waitForEngine(ctx, dockerdStartTimeout, logPath)
	if err != nil {
		// It may live on without answering; record it so that --restore
		// stops it.
		_, recErr := s.recordDetachedDockerd(ctx)
		return "", 0, errors.Join(fmt.Errorf("started dockerd, but: %w", err), recErr)
	}
	pid, err := s.recordDetachedDockerd(ctx)
	return version, pid, err
}

// recordDetachedDockerd records a dockerd started outside systemd by its
// pid, from the pid file. An unreadable pid file is recorded as pid 0,
// which --restore resolves through the pid file again.
func (s *setup) recordDetachedDockerd(ctx context.Context) (int, error) {
	pid, pidErr := s.dockerdPID()
	if err := s.record(change{Kind: kindDockerStarted, How: howPID, PID: pid}); err != nil {
		return 0, errors.Join(pidErr, err)
	}
	if pidErr != nil {
		return 0, fmt.Errorf("dockerd answers, but: %w", pidErr)
	}
	return pid, nil
}

// waitForEngine polls until the engine answers or timeout passes. When
// logPath (a host path) is set, a dockerd that exits or never answers is
// reported with the end of that log.
func (s *setup) waitForEngine(ctx context.Context, timeout time.Duration, logPath string) (string, error) {
	var version string
	start := time.Now()
	err := waitFor(ctx, "the Docker engine to answer", timeout, pollInterval, func(ctx context.Context) (bool, string, error) {
		v, err := s.serverVersion(ctx)
		if err == nil {
			version = v
			return true, "", nil
		}
		// Give dockerd a moment to write its pid file before deciding
		// that it died.
		if time.Since(start) > 5*time.Second && len(s.dockerdPIDs()) == 0 {
			return false, "", errors.New("dockerd is not running any more")
		}
		return false, err.Error(), nil
	})
	if err != nil && logPath != "" {
		err = fmt.Errorf("%w\nlast lines of %s:%s", err, logPath, fileTail(s.h.Path(logPath), 15))
	}
	return version, err
}

// waitFor calls check every interval until it reports done, fails, or
// timeout passes. On timeout the error names what was awaited and what
// check last saw.
func waitFor(ctx context.Context, what string, timeout, interval time.Duration, check func(context.Context) (done bool, seen string, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := "nothing yet"
	for {
		done, seen, err := check(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			return nil
		}
		if seen != "" {
			last = seen
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %v waiting for %s; last saw: %s", timeout, what, last)
		case <-tick.C:
		}
	}
}

// dockerdPIDs returns the pids of running dockerd processes.
func (s *setup) dockerdPIDs() []int {
	entries, err := os.ReadDir(s.h.Path("/proc"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s.isDockerd(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// isDockerd reports whether pid is a live dockerd process.
func (s *setup) isDockerd(pid int) bool {
	comm, err := os.ReadFile(s.h.Path(fmt.Sprintf("/proc/%d/comm", pid)))
	if err != nil {
		return false
	}
	if strings.TrimSpace(string(comm)) != "dockerd" {
		return false
	}
	// A zombie still has its comm; it is not running.
	stat, err := os.ReadFile(s.h.Path(fmt.Sprintf("/proc/%d/stat", pid)))
	return err == nil && procState(string(stat)) != "Z"
}

// procState returns the state field of a /proc/<pid>/stat line, which
// follows the parenthesised command name.
func procState(stat string) string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(stat[i+1:])
	if len(fields) == 0 {
		return ""
	}
	return fields[0]
}

// fileTail returns the last n lines of a file, indented, for messages.
func fileTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return " (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n  " + strings.Join(lines, "\n  ")
}

// checkClient reports the docker client in use.
func (s *setup) checkClient(ctx context.Context) error {
	const step = "docker client"
	path, err := s.h.LookPath("docker")
	if err != nil {
		if s.engineLater {
			s.report(step, "checked once the engine runs (none on PATH yet)")
			return nil
		}
		return fmt.Errorf("no docker client on PATH: %w", err)
	}
	version, err := s.docker(ctx, dockerCallTimeout, "version", "--format", "{{.Client.Version}}")
	if err != nil && !s.engineLater {
		return fmt.Errorf("docker client %s: %w", path, err)
	}
	if err != nil {
		// docker version fails without an engine, after printing the
		// client's part; the version is reported once the engine runs.
		s.report(step, "%s (version checked once the engine runs)", path)
		return nil
	}
	s.report(step, "%s (client %s)", path, version)
	return nil
}
