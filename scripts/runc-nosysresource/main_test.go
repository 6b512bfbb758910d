package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want invocation
	}{
		{
			name: "containerd create with globals and space-separated bundle",
			args: []string{"--root", "/var/run/docker/runtime-runc/moby", "--log", "/run/x/log.json", "--log-format", "json", "--systemd-cgroup",
				"create", "--bundle", "/run/bundle", "--pid-file", "/run/bundle/init.pid", "--console-socket", "/tmp/s", "abc123"},
			want: invocation{Subcommand: "create", Bundle: "/run/bundle", Log: "/run/x/log.json", LogFormat: "json"},
		},
		{
			name: "equals forms",
			args: []string{"--root=/r", "--log=/l", "--log-format=text", "run", "--bundle=/b", "-d", "id"},
			want: invocation{Subcommand: "run", Bundle: "/b", Log: "/l", LogFormat: "text"},
		},
		{
			name: "short bundle flag",
			args: []string{"create", "-b", "/short", "id"},
			want: invocation{Subcommand: "create", Bundle: "/short"},
		},
		{
			name: "short bundle flag with equals",
			args: []string{"-root", "/r", "create", "-b=/short", "id"},
			want: invocation{Subcommand: "create", Bundle: "/short"},
		},
		{
			name: "bundle defaults to the working directory",
			args: []string{"--debug", "run", "--detach", "id"},
			want: invocation{Subcommand: "run"},
		},
		{
			name: "a value that looks like a subcommand is a value",
			args: []string{"--root", "create", "run", "--bundle", "/b", "id"},
			want: invocation{Subcommand: "run", Bundle: "/b"},
		},
		{
			name: "exec with process file",
			args: []string{"--root", "/r", "--log", "/l", "exec", "--process", "/tmp/runc-process1", "--detach", "--pid-file", "/p", "id"},
			want: invocation{Subcommand: "exec", Process: "/tmp/runc-process1", Log: "/l"},
		},
		{
			name: "exec short process flag with equals",
			args: []string{"exec", "-p=/proc.json", "id"},
			want: invocation{Subcommand: "exec", Process: "/proc.json"},
		},
		{
			name: "exec flags after the container id belong to the command",
			args: []string{"exec", "--tty", "id", "sh", "-p", "/not/a/process.json", "--bundle", "/x"},
			want: invocation{Subcommand: "exec"},
		},
		{
			name: "exec --cap takes a value",
			args: []string{"exec", "--cap", "CAP_NET_ADMIN", "-p", "/p.json", "id"},
			want: invocation{Subcommand: "exec", Process: "/p.json"},
		},
		{
			name: "flags after the container id of create are ignored",
			args: []string{"create", "id", "--bundle", "/late"},
			want: invocation{Subcommand: "create"},
		},
		{
			name: "unknown global flag with a value",
			args: []string{"--future-flag", "v", "create", "--bundle", "/b", "id"},
			want: invocation{Subcommand: "create", Bundle: "/b"},
		},
		{
			name: "unknown boolean global flag before the subcommand",
			args: []string{"--future-bool", "create", "--bundle", "/b", "id"},
			want: invocation{Subcommand: "create", Bundle: "/b"},
		},
		{
			name: "-b of another subcommand is not a bundle",
			args: []string{"delete", "-b", "id"},
			want: invocation{Subcommand: "delete"},
		},
		{
			name: "no subcommand",
			args: []string{"--version"},
			want: invocation{},
		},
		{
			name: "empty",
			want: invocation{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseArgs(tt.args); got != tt.want {
				t.Errorf("parseArgs(%q)\n got %+v\nwant %+v", tt.args, got, tt.want)
			}
		})
	}
}

func TestStripCapabilityConfig(t *testing.T) {
	in := `{
  "ociVersion": "1.0.2-dev",
  "process": {
    "user": {"uid": 0, "gid": 0},
    "args": ["/hello", "a<b&c"],
    "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"],
      "effective": ["CAP_SYS_RESOURCE", "CAP_CHOWN"],
      "inheritable": ["CAP_CHOWN"],
      "permitted": ["CAP_CHOWN", "CAP_SYS_RESOURCE"],
      "ambient": ["CAP_SYS_RESOURCE"]
    },
    "futureProcessField": {"x": [1, 2.5e10]}
  },
  "root": {"path": "rootfs"},
  "linux": {"namespaces": [{"type": "pid"}]},
  "vendorExtension": {"k": "v"}
}`
	out, changed, err := stripCapability([]byte(in), configCapabilities, "CAP_SYS_RESOURCE")
	if err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Fatal("changed = false, want true")
	}
	if strings.Contains(string(out), "CAP_SYS_RESOURCE") {
		t.Errorf("output still holds CAP_SYS_RESOURCE: %s", out)
	}
	if !strings.Contains(string(out), `"a<b&c"`) {
		t.Errorf("output escaped HTML characters: %s", out)
	}
	var got, want map[string]any
	mustUnmarshal(t, out, &got)
	mustUnmarshal(t, []byte(in), &want)
	caps := want["process"].(map[string]any)["capabilities"].(map[string]any)
	caps["bounding"] = []any{"CAP_CHOWN", "CAP_SYS_ADMIN"}
	caps["effective"] = []any{"CAP_CHOWN"}
	caps["permitted"] = []any{"CAP_CHOWN"}
	caps["ambient"] = []any{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("output differs beyond the capabilities:\n got %v\nwant %v", got, want)
	}
}

func TestStripCapabilityProcess(t *testing.T) {
	in := `{"terminal":false,"args":["sh"],"capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_SYS_RESOURCE"]},"cwd":"/"}`
	out, changed, err := stripCapability([]byte(in), processCapabilities, "CAP_SYS_RESOURCE")
	if err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Fatal("changed = false, want true")
	}
	var got map[string]any
	mustUnmarshal(t, out, &got)
	want := map[string]any{
		"terminal": false,
		"args":     []any{"sh"},
		"cwd":      "/",
		"capabilities": map[string]any{
			"bounding":  []any{"CAP_KILL"},
			"effective": []any{"CAP_KILL"},
			"permitted": []any{},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestStripCapabilityNothingToDo(t *testing.T) {
	tests := []struct {
		name string
		loc  capsLocation
		in   string
	}{
		{"config without process", configCapabilities, `{"ociVersion":"1.0.2"}`},
		{"config with null process", configCapabilities, `{"process":null}`},
		{"config without capabilities", configCapabilities, `{"process":{"args":["x"]}}`},
		{"config with null capabilities", configCapabilities, `{"process":{"capabilities":null}}`},
		{"config with other capabilities only", configCapabilities, `{"process":{"capabilities":{"bounding":["CAP_KILL"],"ambient":null}}}`},
		{"process without capabilities", processCapabilities, `{"args":["sh"]}`},
		{"process with other capabilities only", processCapabilities, `{"capabilities":{"effective":["CAP_CHOWN","CAP_SYS_ADMIN"]}}`},
		{"capability in a field that is not a capability list", processCapabilities, `{"args":["CAP_SYS_RESOURCE"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := stripCapability([]byte(tt.in), tt.loc, "CAP_SYS_RESOURCE")
			if err != nil {
				t.Fatal(err)
			}
			if changed || string(out) != tt.in {
				t.Errorf("got changed=%v %s, want the input back unchanged", changed, out)
			}
		})
	}
}

func TestStripCapabilityErrors(t *testing.T) {
	for _, in := range []string{
		`not json`,
		`{"process":"a string"}`,
		`{"process":{"capabilities":["CAP_KILL"]}}`,
		`{"process":{"capabilities":{"bounding":"CAP_KILL"}}}`,
	} {
		if _, _, err := stripCapability([]byte(in), configCapabilities, "CAP_SYS_RESOURCE"); err == nil {
			t.Errorf("stripCapability(%s): want an error", in)
		}
	}
}

func TestRewriteFileKeepsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	in := `{"process":{"capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_KILL"]}},"x":1}`
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rewriteFile(path, configCapabilities); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	out, _ := os.ReadFile(path)
	if want := `{"process":{"capabilities":{"bounding":["CAP_KILL"]}},"x":1}`; string(out) != want {
		t.Errorf("file holds %s, want %s", out, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := rewriteFile(filepath.Join(dir, "missing.json"), configCapabilities); err == nil {
		t.Error("want an error for a missing file")
	}
}

func TestLogLine(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	var entry map[string]string
	mustUnmarshal(t, logLine("json", `boom "x"`, now), &entry)
	if entry["level"] != "error" || entry["msg"] != `boom "x"` || entry["time"] != "2024-01-02T03:04:05Z" {
		t.Errorf("json log entry %v", entry)
	}
	if got, want := string(logLine("text", "boom", now)), "time=\"2024-01-02T03:04:05Z\" level=error msg=\"boom\"\n"; got != want {
		t.Errorf("text log entry %q, want %q", got, want)
	}
}

// wrapperEnv makes the test binary behave as the wrapper (see TestMain).
const wrapperEnv = "KIC_RUNC_WRAPPER_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(wrapperEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestWrapperExecsRealRunc runs the test binary as the wrapper in front of a
// fake runc, and checks that the bundle was rewritten and the argv passed on.
func TestWrapperExecsRealRunc(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle dir")
	if err := os.Mkdir(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(bundle, "config.json")
	if err := os.WriteFile(config, []byte(`{"process":{"capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_KILL"]}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	argsOut := filepath.Join(dir, "args")
	fake := filepath.Join(dir, "runc")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$FAKE_RUNC_OUT\"\necho \"$FAKE_RUNC_MARK\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"--root", "/r", "--log-format", "json", "create", "--bundle", bundle, "id1"}
	cmd := hostexec.Command(os.Args[0], args...)
	cmd.Env = []string{wrapperEnv + "=1", realRuncEnv + "=" + fake, "FAKE_RUNC_OUT=" + argsOut, "FAKE_RUNC_MARK=env-passed"}
	out, err := cmd.Output(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out != "env-passed" {
		t.Errorf("fake runc printed %q, want the environment passed on", out)
	}
	got, err := os.ReadFile(argsOut)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(args, "\n") + "\n"; string(got) != want {
		t.Errorf("real runc got argv\n%s\nwant\n%s", got, want)
	}
	cfg, _ := os.ReadFile(config)
	if want := `{"process":{"capabilities":{"bounding":["CAP_KILL"]}}}`; string(cfg) != want {
		t.Errorf("config.json %s, want %s", cfg, want)
	}

	// A broken bundle stops the wrapper before runc runs, with the error
	// in runc's log so that containerd can report it.
	logFile := filepath.Join(dir, "log.json")
	os.Remove(argsOut)
	cmd = hostexec.Command(os.Args[0], "--log", logFile, "--log-format", "json", "run", "-b", filepath.Join(dir, "nowhere"), "id2")
	cmd.Env = []string{wrapperEnv + "=1", realRuncEnv + "=" + fake, "FAKE_RUNC_OUT=" + argsOut}
	if err := cmd.Run(context.Background()); err == nil {
		t.Fatal("want an error for a missing config.json")
	}
	if _, err := os.Stat(argsOut); err == nil {
		t.Error("real runc ran despite the error")
	}
	logged, _ := os.ReadFile(logFile)
	if !strings.Contains(string(logged), `"level":"error"`) || !strings.Contains(string(logged), "nowhere") {
		t.Errorf("runc log %q does not report the error", logged)
	}
}

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}
