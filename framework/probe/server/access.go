package server

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// The probe runs inside the cluster under test, often as root, in every
// example pod. It answers only requests that carry the run's secret, and only
// about paths under the pod's own volume mounts, which the suite lists for it.
const (
	// SecretEnv holds the run's secret; the suite sets it from a Secret it
	// creates in each namespace (env valueFrom secretKeyRef), so that the
	// value is not in the pod spec.
	SecretEnv = "PROBE_SECRET"
	// AllowEnv lists the paths the probe may describe, separated by ":": the
	// mount paths of the container's volumes (a directory, or a single file
	// for a subPath mount). The examples' own commands are the probe's
	// arguments (`sleep 3600`), so the list comes through the environment.
	AllowEnv = "PROBE_ALLOW"
	// SecretHeader carries the secret on every request. It is not the
	// Authorization header, which the API server's pod proxy consumes.
	SecretHeader = "X-Kic-Probe-Secret"
	// MinSecretLength is the shortest secret the probe accepts.
	MinSecretLength = 16
)

// forbiddenRoots are never allowed, whatever the list says: the kernel's
// views of processes, devices and the system, where an allow-list entry can
// only be a mistake.
var forbiddenRoots = []string{"/proc", "/sys", "/dev"}

// Config is what the probe serves under.
type Config struct {
	// Secret is the value every request's SecretHeader must carry.
	Secret string
	// Allow lists the absolute paths (directories or single files) the probe
	// may describe; a request for anything else is refused.
	Allow []string
}

// ConfigFromEnv reads Config from SecretEnv and AllowEnv through getenv.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{Secret: getenv(SecretEnv)}
	for _, p := range strings.Split(getenv(AllowEnv), ":") {
		if p != "" {
			cfg.Allow = append(cfg.Allow, p)
		}
	}
	return cfg, cfg.validate()
}

// validate refuses a configuration the probe must not serve under.
func (c Config) validate() error {
	if len(c.Secret) < MinSecretLength {
		return fmt.Errorf("$%s must hold the run's secret (at least %d bytes); the probe serves nothing without one", SecretEnv, MinSecretLength)
	}
	if len(c.Allow) == 0 {
		return fmt.Errorf("$%s lists no paths: the probe would have nothing to serve", AllowEnv)
	}
	for _, p := range c.Allow {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p {
			return fmt.Errorf("$%s entry %q: want an absolute, clean path", AllowEnv, p)
		}
		if p == "/" {
			return fmt.Errorf("$%s entry %q: the whole file system is never allowed", AllowEnv, p)
		}
		for _, f := range forbiddenRoots {
			if within(p, f) {
				return fmt.Errorf("$%s entry %q: %s is never served", AllowEnv, p, f)
			}
		}
	}
	return nil
}

// within reports whether p is root or lies under it.
func within(p, root string) bool {
	return p == root || strings.HasPrefix(p, root+"/")
}

// requireSecret answers 403 to any request without the secret. Not 401:
// through the API server's pod proxy client-go reads a 401 as the API
// server refusing the suite's own credentials, and drops the message.
func requireSecret(secret string, next http.Handler) http.Handler {
	want := []byte(secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(SecretHeader)), want) != 1 {
			http.Error(w, "missing or wrong "+SecretHeader+" header: the probe answers only the run that started it", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refusal is a request for a path the probe does not serve; it is answered
// with 403.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

// allowList is Config.Allow.
type allowList []string

// scope finds the allow-list entry that holds p: p must be absolute and
// clean (no "..", no "//", no trailing "/"), and equal to an entry or lie
// under it. It returns the entry and p relative to it ("." for the entry
// itself).
func (a allowList) scope(p string) (entry, rel string, err error) {
	if !filepath.IsAbs(p) {
		return "", "", &refusal{fmt.Sprintf("path %q is not absolute", p)}
	}
	if c := filepath.Clean(p); c != p {
		return "", "", &refusal{fmt.Sprintf("path %q is not clean: ask for %q", p, c)}
	}
	for _, e := range a {
		if within(p, e) && len(e) > len(entry) {
			entry = e
		}
	}
	if entry == "" {
		return "", "", &refusal{fmt.Sprintf("path %q is outside the pod's volume mounts this probe may serve (%s)", p, strings.Join(a, ", "))}
	}
	rel, err = filepath.Rel(entry, p)
	if err != nil {
		return "", "", fmt.Errorf("path %q relative to %q: %w", p, entry, err)
	}
	return entry, rel, nil
}

// view is one allow-list entry opened for reading. Every access goes through
// it, relative to the entry, and none can leave it: for a directory it is an
// os.Root, which refuses any path or symlink that escapes the directory
// (including absolute symlinks); a single-file entry serves only itself and
// is never followed if it is a symlink.
type view interface {
	Lstat(rel string) (fs.FileInfo, error)
	Stat(rel string) (fs.FileInfo, error)
	Readlink(rel string) (string, error)
	Open(rel string) (*os.File, error)
	Close() error
}

// openView opens the allow-list entry. A missing entry (a volume the pod
// does not have) is fs.ErrNotExist.
func openView(entry string) (view, error) {
	fi, err := os.Lstat(entry)
	if err != nil {
		return nil, err
	}
	switch {
	case fi.IsDir():
		return os.OpenRoot(entry)
	case fi.Mode().IsRegular():
		return &fileView{path: entry, info: fi}, nil
	default:
		return nil, &refusal{fmt.Sprintf("allow-list entry %s is a %s, not a directory or a regular file: it is not served", entry, fi.Mode().Type())}
	}
}

// fileView serves one regular file (a subPath mount of a file).
type fileView struct {
	path string
	info fs.FileInfo
}

var errOnlyItself = errors.New("a single-file allow-list entry serves only itself")

func (v *fileView) check(rel string) error {
	if rel != "." {
		return errOnlyItself
	}
	return nil
}

func (v *fileView) Lstat(rel string) (fs.FileInfo, error) {
	if err := v.check(rel); err != nil {
		return nil, err
	}
	return os.Lstat(v.path)
}

func (v *fileView) Stat(rel string) (fs.FileInfo, error) { return v.Lstat(rel) }

func (v *fileView) Readlink(rel string) (string, error) {
	return "", fmt.Errorf("%s is not a symlink", v.path)
}

// Open opens the file and makes sure it is the regular file Lstat saw when
// the entry was opened, not a symlink swapped in since.
func (v *fileView) Open(rel string) (*os.File, error) {
	if err := v.check(rel); err != nil {
		return nil, err
	}
	f, err := os.Open(v.path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	li, err := os.Lstat(v.path)
	if err != nil {
		f.Close()
		return nil, err
	}
	if li.Mode()&fs.ModeSymlink != 0 || !os.SameFile(fi, v.info) {
		f.Close()
		return nil, fmt.Errorf("%s changed into something else while being read: refused", v.path)
	}
	return f, nil
}

func (v *fileView) Close() error { return nil }
