package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// mountInfoPath is where the kernel describes the mounts of the process.
const mountInfoPath = "/proc/self/mountinfo"

// NewHandler returns the probe's HTTP handler:
//
//	GET /healthz                  200 "ok"
//	GET /files?path=/a&path=/b    200 JSON Report, one FileReport per path
//	POST /watch?path=/a&interval=250ms   start reading /a every interval; 200 JSON Watch
//	GET /watch?path=/a            200 JSON Watch: every read since, by generation
//
// /files answers 400 only when no path is given; a problem with one path is
// reported in that path's FileReport.Error.
func NewHandler() http.Handler {
	return newHandler(mountInfoPath)
}

// newHandler is NewHandler reading mount information from mountInfo, so that
// tests can supply their own.
func newHandler(mountInfo string) http.Handler {
	h := &handler{mountInfo: mountInfo}
	ws := &watches{paths: map[string]*watcher{}, ctx: context.Background()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /files", h.files)
	mux.HandleFunc("POST /watch", ws.start)
	mux.HandleFunc("GET /watch", ws.get)
	return mux
}

type handler struct {
	mountInfo string
}

func (h *handler) files(w http.ResponseWriter, r *http.Request) {
	paths := r.URL.Query()["path"]
	if len(paths) == 0 {
		http.Error(w, "no path parameter: use /files?path=/a&path=/b", http.StatusBadRequest)
		return
	}

	mounts, mountErr := readMountInfo(h.mountInfo)
	report := Report{
		Pod:       podName(),
		Namespace: os.Getenv("POD_NAMESPACE"),
		Time:      time.Now().UTC(),
		Files:     make([]FileReport, 0, len(paths)),
	}
	for _, p := range paths {
		fr := inspect(p)
		if fr.Exists || fr.IsSymlink {
			if mountErr != nil {
				fr.addError(mountErr)
			} else if m := mountFor(mounts, resolve(p)); m != nil {
				fr.MountPoint = m.mountPoint
				fr.ReadOnlyMount = m.readOnly()
			}
		}
		report.Files = append(report.Files, fr)
	}

	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(report); err != nil {
		// The status line is already sent; all that is left is to say so.
		fmt.Fprintf(os.Stderr, "probe: writing report: %v\n", err)
	}
}

func podName() string {
	if name := os.Getenv("POD_NAME"); name != "" {
		return name
	}
	name, err := os.Hostname()
	if err != nil {
		return ""
	}
	return name
}

// inspect looks at one path: Lstat for the path itself, then one open of
// its final target, whose descriptor gives the metadata (fstat), the content
// and the file it really is (/proc/self/fd), so that one report never mixes
// two generations of a file the kubelet swaps underneath. A target that
// cannot be opened (permission denied) is still described through Stat.
func inspect(path string) FileReport {
	fr := FileReport{Path: path}
	if !filepath.IsAbs(path) {
		fr.Error = fmt.Sprintf("path %q is not absolute", path)
		return fr
	}

	li, err := os.Lstat(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			fr.addError(err)
		}
		return fr
	}
	if li.Mode()&fs.ModeSymlink != 0 {
		fr.IsSymlink = true
		fr.LinkMode = formatMode(li.Mode())
		fr.LinkUID, fr.LinkGID = owner(li)
		if target, err := os.Readlink(path); err != nil {
			fr.addError(err)
		} else {
			fr.SymlinkTarget = target
		}
	}

	f, openErr := os.Open(path)
	var fi fs.FileInfo
	if openErr == nil {
		defer f.Close()
		fi, err = f.Stat()
		if err != nil {
			fr.addError(err)
			return fr
		}
		if resolved, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil {
			fr.Resolved = resolved
			fr.Generation = generationOf(resolved)
		}
	} else {
		if errors.Is(openErr, fs.ErrNotExist) {
			return fr // dangling symlink
		}
		fr.addError(openErr)
		if fi, err = os.Stat(path); err != nil {
			return fr
		}
	}
	fr.Exists = true
	fr.IsDir = fi.IsDir()
	fr.Mode = formatMode(fi.Mode())
	fr.UID, fr.GID = owner(fi)
	fr.Size = fi.Size()
	fr.Inode = inode(fi)
	fr.MTime = fi.ModTime().UTC()
	if openErr != nil {
		return fr
	}

	switch {
	case fi.Mode().IsRegular():
		if err := fr.readContent(f); err != nil {
			fr.addError(err)
		}
	case fi.IsDir():
		if err := fr.readEntries(path); err != nil {
			fr.addError(err)
		}
	}
	return fr
}

// generationOf returns the atomic-writer directory ("..<timestamp>") in a
// resolved path, or "".
func generationOf(resolved string) string {
	for _, el := range strings.Split(resolved, "/") {
		if strings.HasPrefix(el, "..") && el != ".." && el != "..data" {
			return el
		}
	}
	return ""
}

// readContent keeps the first ContentLimit bytes of an open file and
// hashes the whole file.
func (fr *FileReport) readContent(f io.Reader) error {
	h := sha256.New()
	content, err := io.ReadAll(io.LimitReader(io.TeeReader(f, h), ContentLimit))
	if err != nil {
		return err
	}
	rest, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	fr.Content = content
	fr.Truncated = rest > 0
	fr.SHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

// readEntries lists a directory without following the entries' symlinks.
func (fr *FileReport) readEntries(path string) error {
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	var errs []error
	fr.Entries = make([]DirEntry, 0, len(entries))
	for _, e := range entries {
		full := filepath.Join(path, e.Name())
		li, err := os.Lstat(full)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		de := DirEntry{
			Name:  e.Name(),
			Mode:  formatMode(li.Mode()),
			IsDir: li.IsDir(),
		}
		de.UID, de.GID = owner(li)
		if li.Mode()&fs.ModeSymlink != 0 {
			de.IsSymlink = true
			if de.SymlinkTarget, err = os.Readlink(full); err != nil {
				errs = append(errs, err)
			}
		}
		fr.Entries = append(fr.Entries, de)
	}
	return errors.Join(errs...)
}

func (fr *FileReport) addError(err error) {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	if fr.Error == "" {
		fr.Error = msg
		return
	}
	fr.Error += "; " + msg
}

// formatMode renders the permission bits and the setuid, setgid and sticky
// bits as octal with a leading zero: "0644", "01777", "02755".
func formatMode(m fs.FileMode) string {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return fmt.Sprintf("0%03o", bits)
}

// resolve returns path with symlinks resolved when it can be, else the
// cleaned path.
func resolve(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return filepath.Clean(path)
}
