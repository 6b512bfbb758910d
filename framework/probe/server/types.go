// Package server is the standard-library-only half of the probe: the JSON
// types the probe program serves and the HTTP handler that fills them in.
//
// It is separate from package probe (the client) so that the probe binary,
// which runs as the container of every example pod, links nothing but the Go
// standard library. Tests use these types through the aliases in package
// probe.
package server

import (
	"fmt"
	"time"
)

// Port is the TCP port the probe program serves HTTP on, unless $PROBE_PORT
// (PortEnv) says otherwise.
const Port = 8080

// PortEnv names the environment variable that overrides Port.
const PortEnv = "PROBE_PORT"

// ContentLimit is the most file content a FileReport carries. Longer files
// are cut at this size and marked Truncated; Size and SHA256 still describe
// the whole file.
const ContentLimit = 1 << 20

// Report is the answer to GET /files: one FileReport per requested path, in
// request order.
type Report struct {
	// Pod is the name of the pod the probe runs in: $POD_NAME when set, else
	// the hostname (which the kubelet sets to the pod name).
	Pod string `json:"pod"`
	// Namespace is $POD_NAMESPACE, or empty when it is not set.
	Namespace string `json:"namespace,omitempty"`
	// Time is when the probe looked at the files (UTC).
	Time time.Time `json:"time"`
	// Files holds one entry per requested path.
	Files []FileReport `json:"files"`
}

// File returns the entry for path. It fails only when path was not part of
// the report; a path that is missing or unreadable in the pod is still an
// entry, with Exists false or Error set.
func (r *Report) File(path string) (*FileReport, error) {
	for i := range r.Files {
		if r.Files[i].Path == path {
			return &r.Files[i], nil
		}
	}
	return nil, fmt.Errorf("report from pod %s/%s has no entry for %q", r.Namespace, r.Pod, path)
}

// FileReport is what the pod sees at one path.
//
// Fields without a "Link" prefix describe the final target (os.Stat follows
// symlinks); the Link fields and SymlinkTarget describe the path itself
// (os.Lstat, os.Readlink) and are set only when IsSymlink is true.
type FileReport struct {
	// Path is the path as requested.
	Path string `json:"path"`
	// Exists is true when the path resolves to an existing file. A missing
	// path is not an error: Exists is false and Error stays empty. A dangling
	// symlink has IsSymlink true and Exists false.
	Exists bool `json:"exists"`
	// Error holds what went wrong while looking at the path (for example
	// permission denied on read); the fields that could be filled in are.
	Error string `json:"error,omitempty"`

	// IsDir is true when the final target is a directory.
	IsDir bool `json:"isDir"`
	// IsSymlink is true when the path itself is a symbolic link.
	IsSymlink bool `json:"isSymlink"`
	// SymlinkTarget is os.Readlink of the path, for symlinks.
	SymlinkTarget string `json:"symlinkTarget,omitempty"`

	// Mode is the final target's permission bits in octal, with setuid (04000),
	// setgid (02000) and sticky (01000) bits, always with a leading zero:
	// "0644", "0600", "01777", "02755".
	Mode string `json:"mode,omitempty"`
	// LinkMode is the mode of the symlink itself, in the same format.
	LinkMode string `json:"linkMode,omitempty"`
	// UID and GID own the final target.
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
	// LinkUID and LinkGID own the symlink itself.
	LinkUID uint32 `json:"linkUid,omitempty"`
	LinkGID uint32 `json:"linkGid,omitempty"`

	// Size is the final target's size in bytes.
	Size int64 `json:"size"`
	// Content holds the bytes of a regular file, at most ContentLimit of them.
	Content []byte `json:"content,omitempty"`
	// Truncated is true when the file is longer than Content.
	Truncated bool `json:"truncated,omitempty"`
	// SHA256 is the hex SHA-256 of the whole file, for regular files.
	SHA256 string `json:"sha256,omitempty"`

	// MountPoint is the mount point (from /proc/self/mountinfo) that holds the
	// path, after resolving symlinks.
	MountPoint string `json:"mountPoint,omitempty"`
	// ReadOnlyMount is true when that mount's per-mount options include "ro".
	ReadOnlyMount bool `json:"readOnlyMount"`

	// Entries lists a directory's contents, sorted by name.
	Entries []DirEntry `json:"entries,omitempty"`

	// Inode and MTime describe the file that was opened (fstat of the one
	// descriptor the content was read from).
	Inode uint64    `json:"inode,omitempty"`
	MTime time.Time `json:"mtime,omitempty"`
	// Resolved is where the opened descriptor points (/proc/self/fd/N), read
	// while it is open: the file the content really came from.
	Resolved string `json:"resolved,omitempty"`
	// Generation is the kubelet's atomic-writer directory the opened file is
	// in ("..2026_12_01_22_00_00.123456789"), taken from Resolved; empty for
	// a file outside such a directory.
	Generation string `json:"generation,omitempty"`
}

// Watch is what GET /watch reports: every read the probe made of one path
// since POST /watch started watching it, grouped into generations of
// distinct content, in the order they were first seen.
type Watch struct {
	Path     string        `json:"path"`
	Interval time.Duration `json:"interval"`
	Started  time.Time     `json:"started"`
	// Reads counts every read; Errors the reads that failed (open, read);
	// Empty the reads that returned no bytes.
	Reads, Errors, Empty int
	// FirstErrors holds the first few errors.
	FirstErrors []string `json:"firstErrors,omitempty"`
	// Generations are the distinct contents seen, in order; content that
	// comes back after another (A, B, A) is a new entry.
	Generations []Generation `json:"generations"`
}

// Generation is one content of a watched file.
type Generation struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Dir is the atomic-writer directory it was read from (FileReport.Generation).
	Dir   string `json:"dir,omitempty"`
	Inode uint64 `json:"inode"`
	// FirstSeen and LastSeen bound the reads that returned it.
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	Reads     int       `json:"reads"`
	// Content is the bytes (at most ContentLimit).
	Content []byte `json:"content,omitempty"`
}

// DirEntry is one entry of a directory, as os.Lstat sees it (symlinks are not
// followed).
type DirEntry struct {
	// Name is the entry's file name.
	Name string `json:"name"`
	// Mode is the entry's permission bits, formatted as in FileReport.Mode.
	Mode string `json:"mode"`
	// UID and GID own the entry.
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
	// IsDir is true for a directory (not for a symlink to one).
	IsDir bool `json:"isDir"`
	// IsSymlink is true for a symbolic link; SymlinkTarget is where it points.
	IsSymlink     bool   `json:"isSymlink"`
	SymlinkTarget string `json:"symlinkTarget,omitempty"`
}

// TLSServe is the answer to POST and GET /tls/serve?port=N: a mutual-TLS
// listener the probe runs with the pod's credentials, and every handshake
// it has seen.
type TLSServe struct {
	Port int `json:"port"`
	// Addr is the address the listener is bound to.
	Addr    string    `json:"addr"`
	Started time.Time `json:"started"`
	// Bundle, or Key and Chain, name the credential files, read at every
	// handshake; Trust names the file of CA certificates client
	// certificates are verified against, also read at every handshake.
	Bundle string `json:"bundle,omitempty"`
	Key    string `json:"key,omitempty"`
	Chain  string `json:"chain,omitempty"`
	Trust  string `json:"trust"`
	// PresentingSHA256 is the hex SHA-256 of the DER of the leaf the
	// listener presents now (the credential files read at the time of the
	// answer); PresentingError says why they cannot be used, if so.
	PresentingSHA256 string `json:"presentingSHA256,omitempty"`
	PresentingError  string `json:"presentingError,omitempty"`
	// Accepted counts the connections accepted; Handshakes holds the last
	// MaxTLSHandshakes of them, oldest first.
	Accepted   int            `json:"accepted"`
	Handshakes []TLSHandshake `json:"handshakes"`
}

// MaxTLSHandshakes is how many handshakes a TLSServe keeps.
const MaxTLSHandshakes = 64

// TLSHandshake is one connection a /tls/serve listener accepted.
type TLSHandshake struct {
	// N numbers the listener's connections from 1; it is in the line the
	// listener writes ("hello <N>").
	N      int       `json:"n"`
	Time   time.Time `json:"time"`
	Remote string    `json:"remote"`
	// OK is true when the handshake completed with a verified client
	// certificate and the line was written.
	OK bool `json:"ok"`
	// Error says what failed, for example "client certificate not
	// verified: x509: certificate signed by unknown authority".
	Error   string `json:"error,omitempty"`
	Version string `json:"version,omitempty"`
	// ServedSHA256 is the hex SHA-256 of the leaf the listener presented.
	ServedSHA256 string `json:"servedSHA256,omitempty"`
	// Peer is the client's certificate: verified when OK, else the one it
	// sent, if any.
	Peer *TLSPeer `json:"peer,omitempty"`
}

// TLSPeer is the certificate the other side of a handshake presented.
type TLSPeer struct {
	// Subject is the leaf's subject (pkix.Name.String); URIs and DNSNames
	// its SANs (pod certificates carry spiffe:// URIs).
	Subject  string   `json:"subject"`
	URIs     []string `json:"uris,omitempty"`
	DNSNames []string `json:"dnsNames,omitempty"`
	// SHA256 is the hex SHA-256 of the leaf's DER.
	SHA256 string `json:"sha256"`
	// Sent counts the certificates the peer sent (leaf and intermediates);
	// VerifiedChainLength is the length of the first verified chain, leaf
	// to trusted root, 0 when the peer was not verified.
	Sent                int `json:"sent"`
	VerifiedChainLength int `json:"verifiedChainLength"`
}

// TLSDial is the answer to POST /tls/dial: one mutual-TLS connection from
// the pod, with its credentials, to a /tls/serve listener.
type TLSDial struct {
	Addr       string `json:"addr"`
	ServerName string `json:"serverName,omitempty"`
	// VerifyChainOnly is true for verify=chain: the server's chain was
	// verified against the trust file, without a host name check.
	VerifyChainOnly bool `json:"verifyChainOnly"`
	// OK is true when the handshake completed, the server's certificate was
	// verified and the server's line was read. In TLS 1.3 the server
	// verifies the client's certificate after the client's handshake has
	// completed: a refused client certificate shows as an alert when the
	// line is read.
	OK bool `json:"ok"`
	// Error says what failed, for example "server certificate not
	// verified: x509: certificate signed by unknown authority".
	Error string `json:"error,omitempty"`
	// Line is the line the server wrote, without its newline.
	Line    string `json:"line,omitempty"`
	Version string `json:"version,omitempty"`
	// Server is the server's certificate: verified when the handshake
	// completed, else the one it sent, if any.
	Server *TLSPeer `json:"server,omitempty"`
	// ClientSHA256 is the hex SHA-256 of the leaf the probe presented; empty
	// when the server did not ask for a certificate.
	ClientSHA256 string `json:"clientSHA256,omitempty"`
}
