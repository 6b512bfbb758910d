package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
)

// docker runs the docker client with a deadline and returns its output.
func docker(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return hostexec.Command("docker", args...).Output(ctx)
}

// serverVersion returns the version of the engine the docker client
// reaches, or an error saying why none answers.
func serverVersion(ctx context.Context) (string, error) {
	if !hostexec.Available("docker") {
		return "", errors.New("no docker client on PATH")
	}
	out, err := docker(ctx, dockerCallTimeout, "version", "--format", "{{.Server.Version}}")
	if err != nil {
		return "", err
	}
	if out == "" {
		return "", errors.New("docker version printed no server version")
	}
	return out, nil
}

// ensureEngine makes sure a Docker engine answers: it uses a running one,
// waits for one that is starting, or installs and starts dockerd.
func ensureEngine(ctx context.Context, opts options) error {
	const step = "docker engine"
	version, err := serverVersion(ctx)
	if err == nil {
		report(step, "already running (server %s)", version)
		return nil
	}
	if opts.check {
		return fmt.Errorf("no engine answers (--check changes nothing): %w", err)
	}
	if pids := dockerdPIDs(); len(pids) > 0 {
		// A dockerd that does not answer yet: it may be starting. Starting
		// a second one would only fail on the pid file.
		version, err := waitForEngine(ctx, dockerdStartTimeout, "")
		if err != nil {
			return fmt.Errorf("dockerd (pid %v) is running but does not answer: %w", pids, err)
		}
		report(step, "dockerd (pid %v) was starting, now answers (server %s)", pids, version)
		return nil
	}
	dockerd := dockerdPath()
	if os.Geteuid() != 0 {
		if dockerd == "" {
			return fmt.Errorf("no Docker engine answers and none can be installed here: not root (%v); install Docker and re-run", err)
		}
		return fmt.Errorf("no Docker engine answers and none can be started here: not root (%v); start Docker and re-run", err)
	}
	if dockerd == "" {
		how, err := installDocker(ctx)
		if err != nil {
			return err
		}
		report(step, "installed docker.io with apt-get%s", how)
		if dockerd = dockerdPath(); dockerd == "" {
			return errors.New("docker.io is installed but dockerd is not on PATH nor in /usr/sbin or /usr/bin")
		}
	}
	version, err = startDockerd(ctx, dockerd, opts.dockerdLog)
	if err != nil {
		return err
	}
	report(step, "started dockerd (log %s, server %s)", opts.dockerdLog, version)
	return nil
}

// dockerdPath finds dockerd on PATH or in the usual system directories,
// which a non-login root shell may lack on PATH. It returns "" when there
// is none.
func dockerdPath() string {
	if p, err := exec.LookPath("dockerd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/dockerd", "/usr/bin/dockerd"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// installDocker installs Debian's docker.io with apt-get, running
// `apt-get update` only when the plain install fails. It returns a note on
// how the install went for the report.
func installDocker(ctx context.Context) (string, error) {
	if !hostexec.Available("apt-get") {
		return "", errors.New("no Docker engine answers and none can be installed here: apt-get is missing; install Docker and re-run")
	}
	install := func() error {
		ctx, cancel := context.WithTimeout(ctx, aptTimeout)
		defer cancel()
		cmd := hostexec.Command("apt-get", "install", "-y", "--no-install-recommends", "docker.io")
		cmd.Env = []string{"DEBIAN_FRONTEND=noninteractive"}
		return cmd.Run(ctx)
	}
	firstErr := install()
	if firstErr == nil {
		return "", nil
	}
	ctxUpdate, cancel := context.WithTimeout(ctx, aptTimeout)
	defer cancel()
	update := hostexec.Command("apt-get", "update")
	update.Env = []string{"DEBIAN_FRONTEND=noninteractive"}
	if err := update.Run(ctxUpdate); err != nil {
		return "", fmt.Errorf("install docker.io failed (%v), and so did apt-get update: %w", firstErr, err)
	}
	if err := install(); err != nil {
		return "", fmt.Errorf("install docker.io (after apt-get update): %w", err)
	}
	return " (after apt-get update)", nil
}

// startDockerd starts dockerd detached, in its own session and with its
// output appended to logPath, then waits until it answers.
func startDockerd(ctx context.Context, dockerd, logPath string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return "", fmt.Errorf("dockerd log: %w", err)
	}
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return "", fmt.Errorf("dockerd log: %w", err)
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "---- %s: host-setup starts %s\n", time.Now().UTC().Format(time.RFC3339), dockerd)
	// setsid -f forks, so the command returns at once while dockerd lives
	// on in a new session, away from this process and its terminal.
	cmd := hostexec.Command("setsid", "-f", dockerd)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Run(ctx); err != nil {
		return "", fmt.Errorf("start dockerd: %w", err)
	}
	version, err := waitForEngine(ctx, dockerdStartTimeout, logPath)
	if err != nil {
		return "", fmt.Errorf("started dockerd, but: %w", err)
	}
	return version, nil
}

// waitForEngine polls until the engine answers or timeout passes. When
// logPath is set, a dockerd that exits or never answers is reported with
// the end of that log.
func waitForEngine(ctx context.Context, timeout time.Duration, logPath string) (string, error) {
	var version string
	start := time.Now()
	err := waitFor(ctx, "the Docker engine to answer", timeout, pollInterval, func(ctx context.Context) (bool, string, error) {
		v, err := serverVersion(ctx)
		if err == nil {
			version = v
			return true, "", nil
		}
		// Give dockerd a moment to write its pid file before deciding
		// that it died.
		if time.Since(start) > 5*time.Second && len(dockerdPIDs()) == 0 {
			return false, "", errors.New("dockerd is not running any more")
		}
		return false, err.Error(), nil
	})
	if err != nil && logPath != "" {
		err = fmt.Errorf("%w\nlast lines of %s:%s", err, logPath, fileTail(logPath, 15))
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
func dockerdPIDs() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if isDockerd(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// isDockerd reports whether pid is a live dockerd process.
func isDockerd(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return false
	}
	if strings.TrimSpace(string(comm)) != "dockerd" {
		return false
	}
	// A zombie still has its comm; it is not running.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
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
func checkClient(ctx context.Context, _ options) error {
	path, err := exec.LookPath("docker")
	if err != nil {
		return fmt.Errorf("no docker client on PATH: %w", err)
	}
	version, err := docker(ctx, dockerCallTimeout, "version", "--format", "{{.Client.Version}}")
	if err != nil {
		return fmt.Errorf("docker client %s: %w", path, err)
	}
	report("docker client", "%s (client %s)", path, version)
	return nil
}
