package server

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// mount is one line of /proc/self/mountinfo (proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//	(1)(2)(3)   (4)   (5)      (6)       (7)   (8) (9)    (10)        (11)
//
// Only the fields the probe reports are kept.
type mount struct {
	mountPoint string   // (5), unescaped
	options    []string // (6), the per-mount options
	fsType     string   // (9)
	source     string   // (10), unescaped
}

// readOnly reports whether the per-mount options include "ro".
func (m *mount) readOnly() bool {
	return slices.Contains(m.options, "ro")
}

func readMountInfo(path string) ([]mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	mounts, err := parseMountInfo(f)
	if err != nil {
		return nil, fmt.Errorf("reading mounts from %s: %w", path, err)
	}
	return mounts, nil
}

// parseMountInfo parses the mountinfo format. Optional fields (7) may be
// any in number and end at the "-" separator; path fields escape space, tab,
// newline and backslash as \040, \011, \012 and \134.
func parseMountInfo(r io.Reader) ([]mount, error) {
	var mounts []mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		fields := strings.Fields(line)
		sep := slices.Index(fields, "-")
		if sep < 6 || len(fields) < sep+3 {
			return nil, fmt.Errorf("line %d: malformed mountinfo line %q", n, line)
		}
		mounts = append(mounts, mount{
			mountPoint: unescapeOctal(fields[4]),
			options:    strings.Split(fields[5], ","),
			fsType:     fields[sep+1],
			source:     unescapeOctal(fields[sep+2]),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return mounts, nil
}

// unescapeOctal turns the kernel's \NNN escapes back into bytes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountFor returns the mount whose mount point is the longest path prefix of
// path; of mounts stacked on the same point, the last (topmost) one wins.
func mountFor(mounts []mount, path string) *mount {
	var best *mount
	for i := range mounts {
		m := &mounts[i]
		if !underMountPoint(path, m.mountPoint) {
			continue
		}
		if best == nil || len(m.mountPoint) >= len(best.mountPoint) {
			best = m
		}
	}
	return best
}

// underMountPoint reports whether path is mp or lies below it.
func underMountPoint(path, mp string) bool {
	if mp == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == mp || strings.HasPrefix(path, mp+"/")
}
