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
	"slices"
	"strings"
	"time"
)

// mountInfoPath is where the kernel describes the mounts of the process.
const mountInfoPath = "/proc/self/mountinfo"

// NewHandler returns the probe's HTTP handler. Every request must carry
// cfg.Secret in SecretHeader (403 otherwise), and every path must lie in
// cfg.Allow (403 otherwise):
//
//	GET /healthz                  200 "ok"
//	GET /files?path=/a&path=/b    200 JSON Report, one FileReport per path
//	GET /files?path=/a&content=true   the same, with the files' bytes
//	POST /watch?path=/a&interval=250ms[&content=true]   start reading /a every interval; 200 JSON Watch
//	GET /watch?path=/a            200 JSON Watch: every read since, by generation
//	POST /write-test?path=/dir    200 JSON WriteTest: can a file be created there (removed at once)
//	GET /oidc?token=/a            200 JSON Relying: discovery and keys, as a relying party in the pod reads them
//	POST /tls/serve?bundle=/b&trust=/t&port=N   start a mutual-TLS listener on N (409 if N is served); 200 JSON TLSServe
//	GET /tls/serve?port=N         200 JSON TLSServe: every handshake since, and the leaf presented now
//	POST /tls/dial?bundle=/b&trust=/t&addr=H:P[&serverName=S][&verify=chain][&timeout=5s]   200 JSON TLSDial
//
// /tls/serve and /tls/dial take key=/k&chain=/c for bundle=/b. The files
// are the pod's projected credentials (a PKCS#8 "PRIVATE KEY" block, then
// CERTIFICATE blocks leaf first) and the CA certificates the peer is
// verified against; they are read, through the allow-list, at every
// handshake. Their bytes are never returned: a TLS failure is reported in
// the JSON (200), bad input is a 4xx.
//
// Without content=true a report describes a file by its metadata, size and
// SHA-256 only: its bytes leave the pod only when a test asks for them. /files
// answers 400 only when no path is given; a problem with one allowed path is
// reported in that path's FileReport.Error.
func NewHandler(cfg Config) (http.Handler, error) {
	return newHandler(cfg, mountInfoPath)
}

// newHandler is NewHandler reading mount information from mountInfo, so that
// tests can supply their own.
func newHandler(cfg Config, mountInfo string) (http.Handler, error) {
	return newHandlerWith(cfg, mountInfo, serviceAccountDir)
}

// newHandlerWith is newHandler reading the cluster's CA from saDir.
func newHandlerWith(cfg Config, mountInfo, saDir string) (http.Handler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	allow := allowList(cfg.Allow)
	h := &handler{mountInfo: mountInfo, allow: allow, saDir: saDir}
	ws := &watches{paths: map[string]*watcher{}, ctx: context.Background(), allow: allow}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /files", h.files)
	mux.HandleFunc("POST /watch", ws.start)
	mux.HandleFunc("GET /watch", ws.get)
	mux.HandleFunc("POST /write-test", h.writeTest)
	mux.HandleFunc("GET /oidc", h.oidc)
	tlss := &tlsServers{ports: map[int]*tlsServer{}, allow: allow}
	mux.HandleFunc("POST /tls/serve", tlss.serve)
	mux.HandleFunc("GET /tls/serve", tlss.get)
	mux.HandleFunc("POST /tls/dial", tlss.dial)
	return requireSecret(cfg.Secret, mux), nil
}

type handler struct {
	mountInfo string
	allow     allowList
	// saDir holds the automounted API credentials (ca.crt).
	saDir string
}

// wantContent reads the content=true parameter.
func wantContent(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("content"); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, fmt.Errorf("content=%q: want true or false", v)
	}
}

// target is one requested path inside its allow-list entry.
type target struct {
	path, entry, rel string
}

// targets places every path in the allow-list, or refuses the request.
func (a allowList) targets(paths []string) ([]target, error) {
	ts := make([]target, 0, len(paths))
	for _, p := range paths {
		entry, rel, err := a.scope(p)
		if err != nil {
			return nil, err
		}
		ts = append(ts, target{path: p, entry: entry, rel: rel})
	}
	return ts, nil
}

// refuse answers a refused or malformed request.
func refuse(w http.ResponseWriter, err error) {
	var rf *refusal
	if errors.As(err, &rf) {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	http.Error(w, err.Error(), http.StatusBadRequest)
}

func (h *handler) files(w http.ResponseWriter, r *http.Request) {
	paths := r.URL.Query()["path"]
	if len(paths) == 0 {
		http.Error(w, "no path parameter: use /files?path=/a&path=/b", http.StatusBadRequest)
		return
	}
	content, err := wantContent(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	targets, err := h.allow.targets(paths)
	if err != nil {
		refuse(w, err)
		return
	}

	mounts, mountErr := readMountInfo(h.mountInfo)
	report := Report{
		Pod:       podName(),
		Namespace: os.Getenv("POD_NAMESPACE"),
		Time:      time.Now().UTC(),
		Files:     make([]FileReport, 0, len(paths)),
	}
	for _, tg := range targets {
		fr := inspectTarget(tg, content)
		if fr.Exists || fr.IsSymlink {
			if mountErr != nil {
				fr.addError(mountErr)
			} else if m := mountFor(mounts, mountLookupPath(fr)); m != nil {
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

// mountLookupPath is the path whose mount a report names: the file the
// probe really opened when it opened one, else the path asked for (a
// dangling or refused symlink is described where it is, not where it points).
func mountLookupPath(fr FileReport) string {
	if fr.Resolved != "" {
		return fr.Resolved
	}
	return fr.Path
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

// inspectTarget opens the target's allow-list entry and inspects the target
// through it.
func inspectTarget(tg target, content bool) FileReport {
	v, err := openView(tg.entry)
	if err != nil {
		fr := FileReport{Path: tg.path}
		if !errors.Is(err, fs.ErrNotExist) {
			fr.addError(err)
		}
		return fr
	}
	defer v.Close()
	return inspect(v, tg.path, tg.rel, content)
}

// inspect looks at one path, rel inside v: Lstat for the path itself, then
// one open of its final target, whose descriptor gives the metadata (fstat),
// the content and the file it really is (/proc/self/fd), so that one report
// never mixes two generations of a file the kubelet swaps underneath. A
// target that cannot be opened (permission denied) is still described
// through Stat. Symlinks are followed only inside v: one that points out of
// the allow-list entry is described as a link, and its target is refused.
// Without content the bytes are hashed, not kept.
func inspect(v view, path, rel string, content bool) FileReport {
	fr := FileReport{Path: path}

	li, err := v.Lstat(rel)
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
		if target, err := v.Readlink(rel); err != nil {
			fr.addError(err)
		} else {
			fr.SymlinkTarget = target
		}
	}

	f, openErr := v.Open(rel)
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
		if fi, err = v.Stat(rel); err != nil {
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
		if err := fr.readContent(f, content); err != nil {
			fr.addError(err)
		}
	case fi.IsDir():
		if err := fr.readEntries(v, rel, f); err != nil {
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

// readContent hashes the whole of an open file and, with keep, keeps its
// first ContentLimit bytes.
func (fr *FileReport) readContent(f io.Reader, keep bool) error {
	h := sha256.New()
	if !keep {
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		fr.SHA256 = hex.EncodeToString(h.Sum(nil))
		return nil
	}
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

// readEntries lists the open directory dir (rel inside v), sorted by name,
// without following the entries' symlinks.
func (fr *FileReport) readEntries(v view, rel string, dir *os.File) error {
	entries, err := dir.ReadDir(-1)
	if err != nil {
		return err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	var errs []error
	fr.Entries = make([]DirEntry, 0, len(entries))
	for _, e := range entries {
		full := filepath.Join(rel, e.Name())
		li, err := v.Lstat(full)
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
			if de.SymlinkTarget, err = v.Readlink(full); err != nil {
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
