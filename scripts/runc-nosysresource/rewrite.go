package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// capsLocation says where a JSON document keeps its capabilities object.
type capsLocation int

const (
	// configCapabilities is an OCI bundle's config.json: .process.capabilities.
	configCapabilities capsLocation = iota
	// processCapabilities is a process.json as given to `runc exec
	// --process`, whose top level is the process: .capabilities.
	processCapabilities
)

// rewriteFile removes dropCapability from the capability lists of the JSON
// document at path, in place. The file is left untouched when there is
// nothing to remove; otherwise it is replaced atomically, keeping its mode
// and owner.
func rewriteFile(path string, loc capsLocation) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	out, changed, err := stripCapability(data, loc, dropCapability)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !changed {
		return nil
	}
	if err := replaceFile(path, out); err != nil {
		return fmt.Errorf("rewrite %s: %w", path, err)
	}
	return nil
}

// stripCapability removes capName from every list of capabilities in a
// config.json (loc = configCapabilities) or process.json (loc =
// processCapabilities) document. Fields the wrapper does not know about are
// kept as they are. It reports whether anything was removed; when nothing
// was, data is returned unchanged.
func stripCapability(data []byte, loc capsLocation, capName string) ([]byte, bool, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, false, fmt.Errorf("decode: %w", err)
	}
	// process is the object holding "capabilities": the document itself
	// for a process.json, its "process" member for a config.json. (It must
	// be a fresh map: decoding into doc would merge into it.)
	process := doc
	if loc == configCapabilities {
		raw, ok := doc["process"]
		if !ok || isNull(raw) {
			return data, false, nil
		}
		process = nil
		if err := json.Unmarshal(raw, &process); err != nil {
			return nil, false, fmt.Errorf("decode process: %w", err)
		}
	}
	raw, ok := process["capabilities"]
	if !ok || isNull(raw) {
		return data, false, nil
	}
	var caps map[string]json.RawMessage
	if err := json.Unmarshal(raw, &caps); err != nil {
		return nil, false, fmt.Errorf("decode capabilities: %w", err)
	}
	changed := false
	for set, list := range caps {
		if isNull(list) {
			continue
		}
		var names []string
		if err := json.Unmarshal(list, &names); err != nil {
			return nil, false, fmt.Errorf("decode capabilities.%s: %w", set, err)
		}
		kept := make([]string, 0, len(names))
		for _, n := range names {
			if n != capName {
				kept = append(kept, n)
			}
		}
		if len(kept) == len(names) {
			continue
		}
		enc, err := encode(kept)
		if err != nil {
			return nil, false, fmt.Errorf("capabilities.%s: %w", set, err)
		}
		caps[set], changed = enc, true
	}
	if !changed {
		return data, false, nil
	}
	var err error
	if process["capabilities"], err = encode(caps); err != nil {
		return nil, false, err
	}
	if loc == configCapabilities {
		if doc["process"], err = encode(process); err != nil {
			return nil, false, err
		}
	}
	out, err := encode(doc)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// encode marshals v compactly without escaping HTML characters, so that
// strings such as "a<b" come back as they were written.
func encode(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// isNull reports whether raw is the JSON literal null.
func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// replaceFile writes data to a new file beside path and renames it over
// path, with path's mode and (when running as root) its owner.
func replaceFile(path string, data []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".kic-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		if err := tmp.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
