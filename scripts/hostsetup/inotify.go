package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// inotifyLimit is a kernel inotify limit the suite needs at least Min of.
type inotifyLimit struct {
	// Name is the sysctl name, fs.inotify.<...>.
	Name string
	// Path is its file under /proc/sys (a host path).
	Path string
	// Min is the value the tool raises it to when it is lower.
	Min int
}

// inotifyLimits are the limits ensureInotify raises. Every kind node runs
// a kubelet, a kube-proxy and containerd, each with inotify instances and
// watches of its own, and they all count against the limits of the one
// host user (root) the node containers run as. With Debian's defaults
// (max_user_instances 128) the fourth kind cluster on a host saw kube-proxy
// crash with "fsnotify watcher init: too many open files". The values are
// the ones kind's known-issues page recommends ("Pod errors due to too
// many open files").
var inotifyLimits = []inotifyLimit{
	{Name: "fs.inotify.max_user_instances", Path: "/proc/sys/fs/inotify/max_user_instances", Min: 8192},
	{Name: "fs.inotify.max_user_watches", Path: "/proc/sys/fs/inotify/max_user_watches", Min: 524288},
}

// ensureInotify raises each inotify limit that is lower than the suite
// needs, by writing its file under /proc/sys, and records its previous
// value for --restore. A limit at or above the minimum is never lowered.
// The change lasts until the next reboot: the tool writes no
// /etc/sysctl.d file, so a rebooted host needs `make host-setup` again.
func (s *setup) ensureInotify(context.Context) error {
	const step = "inotify limits"
	type low struct {
		l   inotifyLimit
		cur int
	}
	var raise []low
	for _, l := range inotifyLimits {
		cur, err := s.readSysctl(l)
		if err != nil {
			return err
		}
		if cur >= l.Min {
			s.report(step, "%s is %d already (at least %d needed), left as it is", l.Name, cur, l.Min)
			continue
		}
		raise = append(raise, low{l, cur})
	}
	if len(raise) == 0 {
		return nil
	}
	if s.opts.check {
		var lows []string
		for _, r := range raise {
			lows = append(lows, fmt.Sprintf("%s is %d, below the %d several kind clusters need", r.l.Name, r.cur, r.l.Min))
		}
		return fmt.Errorf("%s (--check changes nothing; run without it to raise the limits)", strings.Join(lows, "; "))
	}
	if !s.apply {
		for _, r := range raise {
			s.report(step, "%s is %d, below the %d several kind clusters need", r.l.Name, r.cur, r.l.Min)
			s.would(step, "raise %s from %d to %d (write %s; until the next reboot)", r.l.Name, r.cur, r.l.Min, r.l.Path)
		}
		return nil
	}
	if s.h.Geteuid() != 0 {
		return fmt.Errorf("%s is %d, below the %d several kind clusters need, and raising it needs root", raise[0].l.Name, raise[0].cur, raise[0].l.Min)
	}
	for _, r := range raise {
		if err := s.raiseSysctl(r.l, r.cur); err != nil {
			return err
		}
		s.report(step, "raised %s from %d to %d (wrote %s; until the next reboot: `make host-setup` again after one, `make host-restore` writes %d back)",
			r.l.Name, r.cur, r.l.Min, r.l.Path, r.cur)
	}
	return nil
}

// raiseSysctl writes l.Min to the file of l, whose value is cur, and reads
// it back. The change is recorded before the write, with cur as the value
// --restore writes back; a limit recorded on an earlier run (since reset
// by a reboot) has its record updated instead of a second one added.
func (s *setup) raiseSysctl(l inotifyLimit, cur int) error {
	old, want := strconv.Itoa(cur), strconv.Itoa(l.Min)
	if c := s.st.findPath(kindSysctl, l.Path); c != nil {
		c.Old, c.New = old, want
		if err := s.saveState(); err != nil {
			return err
		}
	} else if err := s.record(change{Kind: kindSysctl, Path: l.Path, Name: l.Name, Old: old, New: want}); err != nil {
		return err
	}
	if err := writeSysctl(s.h.Path(l.Path), want); err != nil {
		return fmt.Errorf("raise %s from %d to %d: %w", l.Name, cur, l.Min, err)
	}
	got, err := s.readSysctl(l)
	if err != nil {
		return err
	}
	if got < l.Min {
		return fmt.Errorf("wrote %d to %s, but it reads %d", l.Min, l.Path, got)
	}
	return nil
}

// readSysctl returns the value of limit l.
func (s *setup) readSysctl(l inotifyLimit) (int, error) {
	data, err := os.ReadFile(s.h.Path(l.Path))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", l.Name, err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("%s holds %q, not a number", l.Path, strings.TrimSpace(string(data)))
	}
	return v, nil
}

// writeSysctl writes value to the /proc/sys file at path (a path from
// host.Path), as `sysctl -w` does. Files under /proc/sys cannot be
// replaced by rename, so it is written in place; it is never created.
func writeSysctl(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		if errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("%w (a container's /proc/sys is read-only: raise it on the host)", err)
		}
		return err
	}
	if _, err := f.WriteString(value + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// restoreSysctl writes back the value limit c had before host-setup raised
// it, provided it still holds what host-setup wrote. A different value
// means a reboot reset it or someone changed it since, and it is left as
// it is: writing the old value would undo their change, not ours.
func (s *setup) restoreSysctl(c change) (string, error) {
	l := inotifyLimit{Name: c.Name, Path: c.Path}
	cur, err := s.readSysctl(l)
	if err != nil {
		return "", err
	}
	if strconv.Itoa(cur) != c.New {
		return fmt.Sprintf("%s is %d, not the %s host-setup wrote (reset by a reboot, or changed since): left as it is", c.Name, cur, c.New), nil
	}
	if err := writeSysctl(s.h.Path(c.Path), c.Old); err != nil {
		return "", fmt.Errorf("write %s back to %s: %w", c.Old, c.Path, err)
	}
	return fmt.Sprintf("wrote %s back to %s (%s, raised to %s by host-setup)", c.Old, c.Path, c.Name, c.New), nil
}
