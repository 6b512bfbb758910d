package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	testName = "kic-nosysresource"
	testPath = "/usr/local/bin/kic-runc-nosysresource"
)

func TestMergeDaemonConfig(t *testing.T) {
	ours := map[string]any{"path": testPath}
	tests := []struct {
		name string
		old  string
		want map[string]any
	}{
		{
			name: "missing file",
			old:  "",
			want: map[string]any{"runtimes": map[string]any{testName: ours}, "default-runtime": testName},
		},
		{
			name: "empty object",
			old:  "{}\n",
			want: map[string]any{"runtimes": map[string]any{testName: ours}, "default-runtime": testName},
		},
		{
			name: "null",
			old:  "null",
			want: map[string]any{"runtimes": map[string]any{testName: ours}, "default-runtime": testName},
		},
		{
			name: "other keys and runtimes are kept, default runtime replaced",
			old: `{"log-level": "warn", "storage-driver": "overlay2", "insecure-registries": ["a<b"],
			       "default-runtime": "runc", "runtimes": {"crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--x"]}},
			       "future": {"nested": [1, true, null]}}`,
			want: map[string]any{
				"log-level": "warn", "storage-driver": "overlay2", "insecure-registries": []any{"a<b"},
				"default-runtime": testName,
				"runtimes": map[string]any{
					"crun":   map[string]any{"path": "/usr/bin/crun", "runtimeArgs": []any{"--x"}},
					testName: ours,
				},
				"future": map[string]any{"nested": []any{1.0, true, nil}},
			},
		},
		{
			name: "stale path of our runtime is updated, its other fields kept",
			old:  `{"runtimes": {"kic-nosysresource": {"path": "/old", "runtimeArgs": ["--debug"]}}, "default-runtime": "kic-nosysresource"}`,
			want: map[string]any{
				"runtimes":        map[string]any{testName: map[string]any{"path": testPath, "runtimeArgs": []any{"--debug"}}},
				"default-runtime": testName,
			},
		},
		{
			name: "registered but not the default",
			old:  `{"runtimes": {"kic-nosysresource": {"path": "/usr/local/bin/kic-runc-nosysresource"}}}`,
			want: map[string]any{"runtimes": map[string]any{testName: ours}, "default-runtime": testName},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := mergeDaemonConfig([]byte(tt.old), testName, testPath)
			if err != nil {
				t.Fatal(err)
			}
			if !changed {
				t.Fatal("changed = false, want true")
			}
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
			if strings.Contains(string(out), `\u003c`) {
				t.Errorf("output escapes HTML characters: %s", out)
			}
			// Merging the result again changes nothing.
			again, changed, err := mergeDaemonConfig(out, testName, testPath)
			if err != nil || changed || string(again) != string(out) {
				t.Errorf("second merge: changed=%v err=%v, want the same bytes back", changed, err)
			}
		})
	}
}

func TestMergeDaemonConfigAlreadyDone(t *testing.T) {
	old := `{ "default-runtime":"kic-nosysresource",  "runtimes":{"kic-nosysresource":{"path":"/usr/local/bin/kic-runc-nosysresource"}}, "debug": true }`
	out, changed, err := mergeDaemonConfig([]byte(old), testName, testPath)
	if err != nil {
		t.Fatal(err)
	}
	if changed || string(out) != old {
		t.Errorf("changed=%v out=%s, want the input back unchanged", changed, out)
	}
}

func TestMergeDaemonConfigErrors(t *testing.T) {
	for _, old := range []string{
		`not json`,
		`["a list"]`,
		`{"runtimes": "a string"}`,
		`{"runtimes": {"kic-nosysresource": "a string"}}`,
	} {
		if _, _, err := mergeDaemonConfig([]byte(old), testName, testPath); err == nil {
			t.Errorf("mergeDaemonConfig(%s): want an error", old)
		}
	}
}

func TestConfigureDaemonKeepsMode(t *testing.T) {
	f := newFakeHost(t, fakeConfig{})
	s := &setup{h: f, st: &state{}}
	path := f.Path(daemonJSONPath)

	// A new file gets 0644 and no backup.
	merged, _, err := mergeDaemonConfig(nil, runtimeName, wrapperPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.configureDaemon(nil, false, merged); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("new daemon.json: %v, %v; want mode 0644", st, err)
	}
	if f.exists(daemonBackupPath) {
		t.Error("backup written for a file that did not exist")
	}

	// An existing file keeps its mode and other keys; the backup has its mode.
	f = newFakeHost(t, fakeConfig{})
	s = &setup{h: f, st: &state{}}
	path = f.Path(daemonJSONPath)
	old := []byte(`{"debug":true}`)
	f.writeFile(daemonJSONPath, old)
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	merged, _, err = mergeDaemonConfig(old, runtimeName, wrapperPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.configureDaemon(old, true, merged); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{daemonJSONPath, daemonBackupPath} {
		if st, err := os.Stat(f.Path(p)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600 kept", p, st, err)
		}
	}
	var got map[string]any
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &got); err != nil || got["debug"] != true || got["default-runtime"] != testName {
		t.Errorf("daemon.json %s (err %v)", data, err)
	}
	if backup := f.read(daemonBackupPath); string(backup) != string(old) {
		t.Errorf("backup %q, want %q", backup, old)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if c := s.st.find(kindDaemonJSON); c == nil || !c.Existed || c.Backup != daemonBackupPath || c.Wrote != digest(merged) {
		t.Errorf("recorded %+v", c)
	}
}

func TestDaemonDefaultRuntime(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "",
		"{}":                            "",
		`{"default-runtime": null}`:     "",
		`{"default-runtime": "nvidia"}`: "nvidia",
	} {
		if got, err := daemonDefaultRuntime([]byte(in)); err != nil || got != want {
			t.Errorf("daemonDefaultRuntime(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`{broken`, `{"default-runtime": 3}`} {
		if _, err := daemonDefaultRuntime([]byte(in)); err == nil {
			t.Errorf("daemonDefaultRuntime(%s): want an error", in)
		}
	}
	for rt, want := range map[string]bool{"": false, "runc": false, runtimeName: false, "nvidia": true, "crun": true} {
		if got := foreignRuntime(rt); got != want {
			t.Errorf("foreignRuntime(%q) = %v, want %v", rt, got, want)
		}
	}
}

func TestClassifyProbe(t *testing.T) {
	capsOut := "docker: Error response from daemon: failed to create shim: OCI runtime create failed: runc create failed: " +
		"unable to start container process: error during container init: unable to apply caps: operation not permitted: unknown."
	tests := []struct {
		name string
		out  string
		err  error
		want probeOutcome
	}{
		{"works", "ok", nil, probeWorks},
		{"works with other lines", "WARNING: something\nok\n", nil, probeWorks},
		{"exit 0 without ok", "hello", nil, probeFailed},
		{"caps denied", capsOut, errors.New("exit status 125"), probeCapsDenied},
		{"caps denied in the error only", "", errors.New("docker run: exit status 125\n  " + capsOut), probeCapsDenied},
		{"wrapper missing", `docker: Error response from daemon: failed to create shim: OCI runtime create failed: ` +
			`exec: "/usr/local/bin/kic-runc-nosysresource": stat /usr/local/bin/kic-runc-nosysresource: no such file or directory: unknown.`,
			errors.New("exit status 127"), probeWrapperBroken},
		{"image missing", "Unable to find image 'kic.local/hostsetup-probe:v1' locally", errors.New("exit status 125"), probeFailed},
		{"other error mentioning ok", "ok\nthen it broke", errors.New("exit status 1"), probeFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyProbe(tt.out, tt.err); got != tt.want {
				t.Errorf("classifyProbe = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParsePIDFile(t *testing.T) {
	for in, want := range map[string]int{"1234": 1234, "1234\n": 1234, "  42 \n": 42} {
		if got, err := parsePIDFile([]byte(in)); err != nil || got != want {
			t.Errorf("parsePIDFile(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "\n", "abc", "12 34", "0", "-5", "99999999999999999999"} {
		if got, err := parsePIDFile([]byte(in)); err == nil {
			t.Errorf("parsePIDFile(%q) = %d, want an error", in, got)
		}
	}
}

func TestProcState(t *testing.T) {
	for stat, want := range map[string]string{
		"123 (dockerd) S 1 123 123 0":      "S",
		"7 (weird ) name) Z 1 7 7":         "Z",
		"no parenthesis":                   "",
		"9 (x)":                            "",
		"1 (systemd) R 0 1 1 0 -1 4194560": "R",
	} {
		if got := procState(stat); got != want {
			t.Errorf("procState(%q) = %q, want %q", stat, got, want)
		}
	}
}

func TestIsDockerdOnSelf(t *testing.T) {
	s := &setup{h: realHost{}}
	if s.isDockerd(os.Getpid()) {
		t.Error("the test process was taken for dockerd")
	}
	if s.isDockerd(0) {
		t.Error("pid 0 was taken for dockerd")
	}
}

func TestWaitFor(t *testing.T) {
	ctx := context.Background()
	calls := 0
	err := waitFor(ctx, "a thing", time.Second, time.Millisecond, func(context.Context) (bool, string, error) {
		calls++
		return calls == 3, "not yet", nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("waitFor: err=%v after %d calls, want success after 3", err, calls)
	}

	err = waitFor(ctx, "a thing", 20*time.Millisecond, time.Millisecond, func(context.Context) (bool, string, error) {
		return false, "state 42", nil
	})
	if err == nil || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), "a thing") || !strings.Contains(err.Error(), "last saw: state 42") {
		t.Errorf("timeout error %v does not say what was awaited and last seen", err)
	}

	boom := errors.New("boom")
	err = waitFor(ctx, "a thing", time.Second, time.Millisecond, func(context.Context) (bool, string, error) {
		return false, "", boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("waitFor error %v, want it to wrap the check's error", err)
	}
}

func TestFileTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("1\n2\n3\n4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := fileTail(path, 2), "\n  3\n  4"; got != want {
		t.Errorf("fileTail = %q, want %q", got, want)
	}
	if got := fileTail(filepath.Join(t.TempDir(), "missing"), 2); !strings.Contains(got, "no such file") {
		t.Errorf("fileTail of a missing file = %q", got)
	}
}
