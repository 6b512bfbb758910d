package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// invocation is what the wrapper needs to know about one runc command line.
type invocation struct {
	// Subcommand is the runc command ("create", "run", "exec", ...), or ""
	// when there is none (e.g. `runc --version`).
	Subcommand string
	// Bundle is the value of --bundle/-b for create and run ("" = not given,
	// which means the working directory).
	Bundle string
	// Process is the value of --process/-p for exec ("" = not given).
	Process string
	// Log and LogFormat are runc's global --log and --log-format.
	Log, LogFormat string
}

// globalValueFlags are runc's global flags that take a value; the other
// global flags (--debug, --systemd-cgroup, --help, --version) are booleans.
var globalValueFlags = map[string]bool{
	"log": true, "log-format": true, "root": true, "criu": true, "rootless": true,
}

// subcommands are runc's commands. An unknown global flag followed by a word
// that is not one of them is taken to be a flag with a value.
var subcommands = map[string]bool{
	"checkpoint": true, "create": true, "delete": true, "events": true,
	"exec": true, "features": true, "help": true, "h": true, "init": true,
	"kill": true, "list": true, "pause": true, "ps": true, "restore": true,
	"resume": true, "run": true, "spec": true, "start": true, "state": true,
	"update": true,
}

// commandValueFlags are, per subcommand, the flags that take a value. Flags
// not listed are booleans.
var commandValueFlags = map[string]map[string]bool{
	"create": {"bundle": true, "b": true, "console-socket": true, "pid-file": true, "preserve-fds": true, "pidfd-socket": true},
	"run":    {"bundle": true, "b": true, "console-socket": true, "pid-file": true, "preserve-fds": true, "pidfd-socket": true},
	"exec": {
		"console-socket": true, "pidfd-socket": true, "cwd": true, "env": true, "e": true,
		"user": true, "u": true, "additional-gids": true, "g": true, "process": true, "p": true,
		"pid-file": true, "process-label": true, "apparmor": true, "cap": true, "c": true,
		"preserve-fds": true, "cgroup": true,
	},
}

// flag is one command-line token that names a flag.
type flag struct {
	name     string
	value    string
	hasValue bool // the value was given inline, as --name=value
}

// parseFlag splits a token such as "--bundle=/b" or "-b". It reports false for
// tokens that are not flags: words, "-" and the "--" terminator.
func parseFlag(arg string) (flag, bool) {
	if len(arg) < 2 || arg[0] != '-' || arg == "--" {
		return flag{}, false
	}
	name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	if name == "" {
		return flag{}, false
	}
	if i := strings.IndexByte(name, '='); i >= 0 {
		return flag{name: name[:i], value: name[i+1:], hasValue: true}, true
	}
	return flag{name: name}, true
}

// parseArgs reads a runc command line (without argv[0]) the way runc does:
// global flags, the subcommand, then the subcommand's flags up to the first
// positional argument. Flags may be written -name or --name, with the value
// as the next argument or after '='.
func parseArgs(args []string) invocation {
	var inv invocation
	i := 0
	for ; i < len(args); i++ {
		f, ok := parseFlag(args[i])
		if !ok {
			if args[i] == "--" {
				i++
			}
			break
		}
		value := f.value
		if !f.hasValue {
			known := globalValueFlags[f.name]
			unknownWithValue := !known && !isBoolGlobal(f.name) &&
				i+1 < len(args) && !subcommands[args[i+1]] && !strings.HasPrefix(args[i+1], "-")
			if (known || unknownWithValue) && i+1 < len(args) {
				i++
				value = args[i]
			}
		}
		switch f.name {
		case "log":
			inv.Log = value
		case "log-format":
			inv.LogFormat = value
		}
	}
	if i >= len(args) {
		return inv
	}
	inv.Subcommand = args[i]
	valueFlags := commandValueFlags[inv.Subcommand]
	for i++; i < len(args); i++ {
		f, ok := parseFlag(args[i])
		if !ok {
			break // first positional argument (the container id) or "--"
		}
		value := f.value
		if !f.hasValue && valueFlags[f.name] && i+1 < len(args) {
			i++
			value = args[i]
		}
		switch {
		case (f.name == "bundle" || f.name == "b") && valueFlags[f.name]:
			inv.Bundle = value
		case (f.name == "process" || f.name == "p") && inv.Subcommand == "exec":
			inv.Process = value
		}
	}
	return inv
}

// isBoolGlobal reports whether name is one of runc's boolean global flags.
func isBoolGlobal(name string) bool {
	switch name {
	case "debug", "systemd-cgroup", "help", "h", "version", "v":
		return true
	}
	return false
}

// logLine formats msg as an error entry of runc's log, in runc's "json" or
// (for any other format) "text" form.
func logLine(format, msg string, now time.Time) []byte {
	ts := now.UTC().Format(time.RFC3339Nano)
	if format == "json" {
		b, err := json.Marshal(map[string]string{"level": "error", "msg": msg, "time": ts})
		if err == nil {
			return append(b, '\n')
		}
	}
	return []byte(fmt.Sprintf("time=%q level=error msg=%q\n", ts, msg))
}
