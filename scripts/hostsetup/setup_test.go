package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// otherKeysJSON is a daemon.json someone wrote by hand, formatted so that
// any rewrite would show.
var otherKeysJSON = []byte("{\"log-level\":   \"warn\",\n\t\"runtimes\": {\"crun\": {\"path\": \"/usr/bin/crun\"}},\n  \"insecure-registries\": [\"a<b\"] }\n")

var nvidiaJSON = []byte(`{"default-runtime": "nvidia", "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}}` + "\n")

var oursJSON = []byte(`{"default-runtime": "kic-nosysresource", "runtimes": {"kic-nosysresource": {"path": "/usr/local/bin/kic-runc-nosysresource"}}}` + "\n")

// runFake runs the tool on f and returns what it printed.
func runFake(t *testing.T, f *fakeHost, opts options) (string, error) {
	t.Helper()
	if opts.dockerdLog == "" {
		opts.dockerdLog = defaultDockerdLog
	}
	var out bytes.Buffer
	err := run(context.Background(), f, &out, opts)
	t.Logf("output:\n%s", out.String())
	return out.String(), err
}

// recorded returns the kinds of the changes in f's state file.
func recorded(t *testing.T, f *fakeHost) []string {
	t.Helper()
	st, err := loadState(f)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range st.Changes {
		kinds = append(kinds, c.Kind)
	}
	return kinds
}

// assertUnchanged fails unless f's Docker configuration is as it started:
// daemon.json byte-identical to before (nil: absent), no backup, no
// wrapper, no state file, and no command that changes anything.
func assertUnchanged(t *testing.T, f *fakeHost, before []byte) {
	t.Helper()
	if got := f.read(daemonJSONPath); !bytes.Equal(got, before) {
		t.Errorf("daemon.json changed:\n%s\nwant:\n%s", got, before)
	}
	for _, p := range []string{daemonBackupPath, wrapperPath, statePath} {
		if f.exists(p) {
			t.Errorf("%s was written", p)
		}
	}
	for _, prefix := range []string{"apt-get install", "apt-get update", "apt-get remove", "setsid", "systemctl", "signal", "go build -trimpath -ldflags -s -w -X"} {
		if f.ran(prefix) {
			t.Errorf("ran %q; want no change to the host: %q", prefix, f.commands())
		}
	}
}

// assertWrapperConfigured checks a daemon.json with the wrapper as default
// runtime that kept every key of original.
func assertWrapperConfigured(t *testing.T, f *fakeHost, original []byte) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(f.read(daemonJSONPath), &got); err != nil {
		t.Fatalf("daemon.json: %v", err)
	}
	want := map[string]any{}
	if original != nil {
		if err := json.Unmarshal(original, &want); err != nil {
			t.Fatal(err)
		}
	}
	runtimes, _ := want["runtimes"].(map[string]any)
	if runtimes == nil {
		runtimes = map[string]any{}
	}
	runtimes[runtimeName] = map[string]any{"path": wrapperPath}
	want["runtimes"] = runtimes
	want["default-runtime"] = runtimeName
	if !reflect.DeepEqual(got, want) {
		t.Errorf("daemon.json\n got %v\nwant %v", got, want)
	}
	if !f.exists(wrapperPath) {
		t.Errorf("wrapper %s not installed", wrapperPath)
	}
	if original == nil {
		if f.exists(daemonBackupPath) {
			t.Errorf("backup %s written for a daemon.json that did not exist", daemonBackupPath)
		}
	} else if backup := f.read(daemonBackupPath); !bytes.Equal(backup, original) {
		t.Errorf("backup %s = %q, want the original %q", daemonBackupPath, backup, original)
	}
}

func TestSetup(t *testing.T) {
	capsDenied := fakeConfig{dockerInstalled: true, engineUp: true, daemonJSON: otherKeysJSON}
	withEnv := func(cfg fakeConfig, env map[string]string) fakeConfig {
		cfg.env = env
		return cfg
	}
	tests := []struct {
		name    string
		cfg     fakeConfig
		opts    options
		wantErr string // "" none; errNeedsConfirmation's text for a plan
		// out: substrings of the output; notOut: must not appear.
		out, notOut []string
		// cmds: command prefixes that must have run; noCmds: that must not.
		cmds, noCmds []string
		// kinds: the changes recorded in the state file.
		kinds []string
		check func(t *testing.T, f *fakeHost)
	}{
		{
			name:    "no confirmation, no engine: the plan is printed and nothing is changed",
			cfg:     fakeConfig{daemonJSON: otherKeysJSON},
			wantErr: errNeedsConfirmation.Error(),
			out: []string{
				"host-setup: docker engine: would install docker.io with apt-get",
				"host-setup: docker engine: would start dockerd detached (no systemd)",
				"host-setup: privileged containers: probed once the engine runs",
				"nothing was changed; to make the 2 change(s) above, run `make host-setup YES=1` (or `go run ./scripts/hostsetup --yes`; CI=true confirms too)",
			},
			check: func(t *testing.T, f *fakeHost) { assertUnchanged(t, f, otherKeysJSON) },
		},
		{
			name:    "no confirmation, caps denied: the plan is printed and nothing is changed",
			cfg:     capsDenied,
			wantErr: errNeedsConfirmation.Error(),
			out: []string{
				`host-setup: privileged containers: failed with "unable to apply caps"`,
				"host-setup: privileged containers: would write /usr/local/bin/kic-runc-nosysresource",
				"host-setup: privileged containers: would back up /etc/docker/daemon.json to /etc/docker/daemon.json.kic-backup and set default-runtime kic-nosysresource in it",
				"host-setup: privileged containers: would reload dockerd",
				"run `make host-setup YES=1`",
			},
			// Loading the probe image is how it finds out; it is allowed.
			cmds:  []string{"load image " + probeRef, "docker run --rm --privileged"},
			check: func(t *testing.T, f *fakeHost) { assertUnchanged(t, f, otherKeysJSON) },
		},
		{
			name:    "CI=false is no confirmation",
			cfg:     withEnv(capsDenied, map[string]string{"CI": "false"}),
			wantErr: errNeedsConfirmation.Error(),
			check:   func(t *testing.T, f *fakeHost) { assertUnchanged(t, f, otherKeysJSON) },
		},
		{
			name:    "no confirmation as non-root: the confirmation says as root",
			cfg:     fakeConfig{dockerInstalled: true, nonRoot: true},
			wantErr: errNeedsConfirmation.Error(),
			out:     []string{"would start /usr/sbin/dockerd detached", "run as root `make host-setup YES=1`"},
			check:   func(t *testing.T, f *fakeHost) { assertUnchanged(t, f, nil) },
		},
		{
			name:  "CI=true: wrapper installed, daemon.json backed up with its other keys kept, dockerd reloaded",
			cfg:   withEnv(capsDenied, map[string]string{"CI": "true"}),
			out:   []string{"backed up /etc/docker/daemon.json to /etc/docker/daemon.json.kic-backup", "reloaded dockerd (pid 4242, SIGHUP)", "host-setup: privileged containers: work\n"},
			cmds:  []string{"go build -trimpath -ldflags -s -w -X main.realRunc=/usr/sbin/runc", "signal HUP 4242"},
			kinds: []string{kindWrapper, kindDaemonJSON},
			check: func(t *testing.T, f *fakeHost) { assertWrapperConfigured(t, f, otherKeysJSON) },
		},
		{
			name:  "CI=TRUE confirms",
			cfg:   withEnv(capsDenied, map[string]string{"CI": "TRUE"}),
			kinds: []string{kindWrapper, kindDaemonJSON},
			check: func(t *testing.T, f *fakeHost) { assertWrapperConfigured(t, f, otherKeysJSON) },
		},
		{
			name:  "CI=1 confirms",
			cfg:   withEnv(capsDenied, map[string]string{"CI": "1"}),
			kinds: []string{kindWrapper, kindDaemonJSON},
			check: func(t *testing.T, f *fakeHost) { assertWrapperConfigured(t, f, otherKeysJSON) },
		},
		{
			name:   "--yes without systemd: docker.io installed, dockerd started detached, daemon.json created",
			cfg:    fakeConfig{},
			opts:   options{yes: true},
			out:    []string{"installed docker.io with apt-get; 3 package(s) added: containerd docker.io runc", "started /usr/sbin/dockerd detached (pid 4242", "created /etc/docker/daemon.json"},
			cmds:   []string{"apt-get install -y --no-install-recommends docker.io", "setsid -f /usr/sbin/dockerd", "load image " + probeRef},
			noCmds: []string{"systemctl"},
			kinds:  []string{kindPackages, kindDockerStarted, kindWrapper, kindDaemonJSON},
			check: func(t *testing.T, f *fakeHost) {
				assertWrapperConfigured(t, f, nil)
				st, err := loadState(f)
				if err != nil {
					t.Fatal(err)
				}
				if got := st.Changes[0].Packages; !reflect.DeepEqual(got, []string{"containerd", "docker.io", "runc"}) {
					t.Errorf("recorded packages %q", got)
				}
				if c := st.Changes[1]; c.How != howPID || c.PID != fakeDockerdPID {
					t.Errorf("recorded start %+v, want how %q pid %d", c, howPID, fakeDockerdPID)
				}
				if !f.exists(defaultDockerdLog) {
					t.Errorf("no dockerd log %s", defaultDockerdLog)
				}
			},
		},
		{
			name:    "systemd, no confirmation: the plan names systemctl",
			cfg:     fakeConfig{systemd: true, dockerInstalled: true},
			wantErr: errNeedsConfirmation.Error(),
			out:     []string{"host-setup: docker engine: would start docker.service with systemctl"},
			notOut:  []string{"detached"},
			check:   func(t *testing.T, f *fakeHost) { assertUnchanged(t, f, nil) },
		},
		{
			name:   "systemd, --yes: Docker started with systemctl, not beside it",
			cfg:    fakeConfig{systemd: true, dockerInstalled: true, capsOK: true},
			opts:   options{yes: true},
			out:    []string{"host-setup: docker engine: started docker.service with systemctl (server 26.1.5)", "host-setup: privileged containers: work, host left as it was"},
			cmds:   []string{"systemctl start docker"},
			noCmds: []string{"setsid", "apt-get"},
			kinds:  []string{kindDockerStarted},
			check: func(t *testing.T, f *fakeHost) {
				st, _ := loadState(f)
				if c := st.Changes[0]; c.How != howSystemctl {
					t.Errorf("recorded start %+v, want how %q", c, howSystemctl)
				}
			},
		},
		{
			name:   "nothing to change: no confirmation asked",
			cfg:    fakeConfig{dockerInstalled: true, engineUp: true, capsOK: true, probeLoaded: true, daemonJSON: otherKeysJSON},
			out:    []string{"host-setup: privileged containers: work, host left as it was", "host-setup: inotify limits: fs.inotify.max_user_instances is 8192 already"},
			notOut: []string{"would", "confirm"},
			check: func(t *testing.T, f *fakeHost) {
				assertUnchanged(t, f, otherKeysJSON)
				for _, c := range f.commands() {
					if !strings.HasPrefix(c, "docker ") {
						t.Errorf("ran %q on a host that needs nothing", c)
					}
				}
			},
		},
		{
			name:   "wrapper set up by an earlier version without a record is ours: nothing to change",
			cfg:    fakeConfig{dockerInstalled: true, engineUp: true, probeLoaded: true, daemonJSON: oursJSON, wrapperInstalled: true},
			out:    []string{"work (through runtime wrapper kic-nosysresource, already in place, set up before host-setup kept a record: `make host-restore` leaves it)"},
			notOut: []string{"would"},
			check: func(t *testing.T, f *fakeHost) {
				if got := f.read(daemonJSONPath); !bytes.Equal(got, oursJSON) {
					t.Errorf("daemon.json changed: %s", got)
				}
				if f.exists(statePath) {
					t.Error("state file written")
				}
			},
		},
		{
			name:    "foreign default-runtime in daemon.json: refused even with --yes, file byte-identical",
			cfg:     fakeConfig{dockerInstalled: true, engineUp: true, probeLoaded: true, daemonJSON: nvidiaJSON},
			opts:    options{yes: true},
			wantErr: `Docker's default-runtime is "nvidia" (set in /etc/docker/daemon.json), which host-setup does not replace; nothing was changed`,
			out:     []string{},
			check: func(t *testing.T, f *fakeHost) {
				assertUnchanged(t, f, nvidiaJSON)
			},
		},
		{
			name:    "foreign default-runtime: refused without confirmation too, with the reason and the ways out",
			cfg:     fakeConfig{dockerInstalled: true, engineUp: true, probeLoaded: true, daemonJSON: nvidiaJSON},
			wantErr: "pkg/cluster/internal/providers/docker/provision.go",
			check: func(t *testing.T, f *fakeHost) {
				assertUnchanged(t, f, nvidiaJSON)
			},
		},
		{
			name:    "foreign default-runtime on dockerd's command line: refused",
			cfg:     fakeConfig{dockerInstalled: true, engineUp: true, probeLoaded: true, flagRuntime: "nvidia"},
			opts:    options{yes: true},
			wantErr: `Docker's default-runtime is "nvidia" (the engine's, not set in /etc/docker/daemon.json`,
			check:   func(t *testing.T, f *fakeHost) { assertUnchanged(t, f, nil) },
		},
		{
			name:    "--check changes nothing, even with CI=true",
			cfg:     withEnv(capsDenied, map[string]string{"CI": "true"}),
			opts:    options{check: true},
			wantErr: "--check changes nothing",
			check:   func(t *testing.T, f *fakeHost) { assertUnchanged(t, f, otherKeysJSON) },
		},
		{
			name:   "wrapper binary of an unrecorded earlier set-up missing: reinstalled, daemon.json untouched, nothing recorded",
			cfg:    fakeConfig{dockerInstalled: true, engineUp: true, probeLoaded: true, daemonJSON: oursJSON},
			opts:   options{yes: true},
			out:    []string{"runtime wrapper /usr/local/bin/kic-runc-nosysresource is missing or broken", "already names it as default runtime (set up before host-setup kept a record", "privileged containers: work\n"},
			noCmds: []string{"signal"},
			check: func(t *testing.T, f *fakeHost) {
				if got := f.read(daemonJSONPath); !bytes.Equal(got, oursJSON) {
					t.Errorf("daemon.json changed: %s", got)
				}
			},
		},
		{
			name:    "--yes as non-root: refused",
			cfg:     fakeConfig{dockerInstalled: true, engineUp: true, probeLoaded: true, daemonJSON: otherKeysJSON, nonRoot: true},
			opts:    options{yes: true},
			wantErr: "needs root",
			check:   func(t *testing.T, f *fakeHost) { assertUnchanged(t, f, otherKeysJSON) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHost(t, tt.cfg)
			out, err := runFake(t, f, tt.opts)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("run: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("run: error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantErr == errNeedsConfirmation.Error() && !errors.Is(err, errNeedsConfirmation) {
				t.Errorf("error %v is not errNeedsConfirmation (exit status %d)", err, exitConfirm)
			}
			for _, want := range tt.out {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			for _, bad := range tt.notOut {
				if strings.Contains(out, bad) {
					t.Errorf("output has %q", bad)
				}
			}
			for _, prefix := range tt.cmds {
				if !f.ran(prefix) {
					t.Errorf("did not run %q; ran %q", prefix, f.commands())
				}
			}
			for _, prefix := range tt.noCmds {
				if f.ran(prefix) {
					t.Errorf("ran %q; ran %q", prefix, f.commands())
				}
			}
			if got := recorded(t, f); !reflect.DeepEqual(got, tt.kinds) {
				t.Errorf("recorded changes %q, want %q", got, tt.kinds)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

// commandsSince returns the commands f ran after the first n.
func commandsSince(f *fakeHost, n int) []string { return f.commands()[n:] }

func TestRestore(t *testing.T) {
	tests := []struct {
		name string
		cfg  fakeConfig
		// undo: the plan's lines, newest change first; cmds: the commands
		// and signals of the confirmed restore, in order, docker calls left
		// out.
		undo, cmds []string
	}{
		{
			name: "without systemd: every change undone, the original daemon.json back byte for byte",
			cfg:  fakeConfig{daemonJSON: otherKeysJSON},
			undo: []string{
				"would restore /etc/docker/daemon.json from /etc/docker/daemon.json.kic-backup and reload dockerd",
				"would remove /usr/local/bin/kic-runc-nosysresource",
				"would stop dockerd (pid 4242, started by host-setup",
				"would remove containerd docker.io runc with apt-get",
			},
			cmds: []string{"signal HUP 4242", "signal TERM 4242", "apt-get remove -y containerd docker.io runc"},
		},
		{
			name: "with systemd: docker.service stopped with systemctl",
			cfg:  fakeConfig{systemd: true},
			undo: []string{
				"would remove /etc/docker/daemon.json (created by host-setup) and reload dockerd",
				"would remove /usr/local/bin/kic-runc-nosysresource",
				"would stop docker.service with systemctl",
				"would remove containerd docker.io runc with apt-get",
			},
			cmds: []string{"signal HUP 4242", "systemctl stop docker", "apt-get remove -y containerd docker.io runc"},
		},
		{
			name: "engine already there: only the wrapper and daemon.json undone",
			cfg:  fakeConfig{dockerInstalled: true, engineUp: true, probeLoaded: true, daemonJSON: otherKeysJSON},
			undo: []string{
				"would restore /etc/docker/daemon.json from /etc/docker/daemon.json.kic-backup and reload dockerd",
				"would remove /usr/local/bin/kic-runc-nosysresource",
			},
			cmds: []string{"signal HUP 4242"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHost(t, tt.cfg)
			if _, err := runFake(t, f, options{yes: true}); err != nil {
				t.Fatalf("set-up: %v", err)
			}
			set := recorded(t, f)
			configured := f.read(daemonJSONPath)

			// Without confirmation: the plan, newest change first, and nothing undone.
			n := len(f.commands())
			out, err := runFake(t, f, options{restore: true})
			if !errors.Is(err, errNeedsConfirmation) {
				t.Fatalf("restore without confirmation: %v, want errNeedsConfirmation", err)
			}
			last := -1
			for _, want := range tt.undo {
				i := strings.Index(out, want)
				if i < 0 {
					t.Errorf("plan lacks %q", want)
				} else if i < last {
					t.Errorf("plan has %q out of order", want)
				}
				last = i
			}
			if !strings.Contains(out, "run `make host-restore YES=1` (or `go run ./scripts/hostsetup --restore --yes`") {
				t.Error("plan does not say how to confirm")
			}
			if got := commandsSince(f, n); len(got) != 0 {
				t.Errorf("restore without confirmation ran %q", got)
			}
			if got := recorded(t, f); !reflect.DeepEqual(got, set) {
				t.Errorf("state changed to %q", got)
			}
			if got := f.read(daemonJSONPath); !bytes.Equal(got, configured) {
				t.Errorf("daemon.json changed without confirmation")
			}

			// Confirmed: each change undone, newest first.
			n = len(f.commands())
			out, err = runFake(t, f, options{restore: true, yes: true})
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			var ran []string
			for _, c := range commandsSince(f, n) {
				if !strings.HasPrefix(c, "docker ") {
					ran = append(ran, c)
				}
			}
			if !reflect.DeepEqual(ran, tt.cmds) {
				t.Errorf("restore ran %q, want %q", ran, tt.cmds)
			}
			if got := strings.Count(out, "host-setup: restore: "); got != len(tt.undo)+1 {
				t.Errorf("restore printed %d lines, want one per undo and a last one", got)
			}
			if got := f.read(daemonJSONPath); !bytes.Equal(got, tt.cfg.daemonJSON) {
				t.Errorf("daemon.json after restore:\n%q\nwant the original:\n%q", got, tt.cfg.daemonJSON)
			}
			for _, p := range []string{daemonBackupPath, wrapperPath, statePath, filepath.Dir(statePath)} {
				if f.exists(p) {
					t.Errorf("%s left after restore", p)
				}
			}
			if f.engineUp != tt.cfg.engineUp {
				t.Errorf("engine up = %v after restore, want %v as before set-up", f.engineUp, tt.cfg.engineUp)
			}
			if f.engineUp && f.runtime != "" {
				t.Errorf("engine's default runtime %q after restore, want runc", f.runtime)
			}

			// A second restore finds nothing to undo.
			out, err = runFake(t, f, options{restore: true, yes: true})
			if err != nil || !strings.Contains(out, "nothing to undo") {
				t.Errorf("second restore: %v, output %q", err, out)
			}
		})
	}
}

func TestRestoreNoState(t *testing.T) {
	for _, opts := range []options{{restore: true}, {restore: true, yes: true}} {
		f := newFakeHost(t, fakeConfig{dockerInstalled: true, engineUp: true, daemonJSON: otherKeysJSON})
		out, err := runFake(t, f, opts)
		if err != nil {
			t.Fatalf("restore %+v: %v", opts, err)
		}
		if !strings.Contains(out, "host-setup: restore: nothing to undo: no change recorded in "+statePath) {
			t.Errorf("restore %+v: output %q", opts, out)
		}
		if strings.Contains(out, "note:") {
			t.Errorf("note printed for a daemon.json without the wrapper")
		}
		if got := f.commands(); len(got) != 0 {
			t.Errorf("restore with no state ran %q", got)
		}
		assertUnchanged(t, f, otherKeysJSON)
	}

	// A wrapper from before the record: said, and left alone.
	f := newFakeHost(t, fakeConfig{dockerInstalled: true, engineUp: true, daemonJSON: oursJSON, wrapperInstalled: true})
	out, err := runFake(t, f, options{restore: true, yes: true})
	if err != nil || !strings.Contains(out, "note: /etc/docker/daemon.json names kic-nosysresource as default-runtime, set up before host-setup kept a record") {
		t.Errorf("restore: %v, output %q", err, out)
	}
	if !f.exists(wrapperPath) || !bytes.Equal(f.read(daemonJSONPath), oursJSON) {
		t.Error("restore without a record changed the earlier set-up")
	}
}

func TestRestoreKeepsLaterEdits(t *testing.T) {
	f := newFakeHost(t, fakeConfig{dockerInstalled: true, engineUp: true, probeLoaded: true, daemonJSON: otherKeysJSON})
	if _, err := runFake(t, f, options{yes: true}); err != nil {
		t.Fatalf("set-up: %v", err)
	}
	edited := append(f.read(daemonJSONPath), ' ')
	f.writeFile(daemonJSONPath, edited)
	_, err := runFake(t, f, options{restore: true, yes: true})
	if err == nil || !strings.Contains(err.Error(), "changed since host-setup wrote it, so it is left as it is") {
		t.Fatalf("restore: %v, want a refusal", err)
	}
	if got := f.read(daemonJSONPath); !bytes.Equal(got, edited) {
		t.Error("the edited daemon.json was overwritten")
	}
	if !f.exists(wrapperPath) || !bytes.Equal(f.read(daemonBackupPath), otherKeysJSON) {
		t.Error("wrapper or backup removed although daemon.json was not restored")
	}
	if got, want := recorded(t, f), []string{kindWrapper, kindDaemonJSON}; !reflect.DeepEqual(got, want) {
		t.Errorf("recorded %q after a refused restore, want %q kept", got, want)
	}

	// Put back by hand: the next restore goes on.
	f.writeFile(daemonJSONPath, otherKeysJSON)
	if _, err := runFake(t, f, options{restore: true, yes: true}); err != nil {
		t.Fatalf("restore after the manual fix: %v", err)
	}
	if f.exists(wrapperPath) || f.exists(statePath) || f.exists(daemonBackupPath) {
		t.Error("restore left changes behind")
	}
}

func TestSetupKeepsOrphanBackup(t *testing.T) {
	f := newFakeHost(t, fakeConfig{dockerInstalled: true, engineUp: true, probeLoaded: true, daemonJSON: otherKeysJSON})
	f.writeFile(daemonBackupPath, []byte("an older original\n"))
	_, err := runFake(t, f, options{yes: true})
	if err == nil || !strings.Contains(err.Error(), "has no record of it") {
		t.Fatalf("run: %v, want a refusal to overwrite the backup", err)
	}
	if got := f.read(daemonBackupPath); string(got) != "an older original\n" {
		t.Errorf("backup overwritten: %q", got)
	}
	if got := f.read(daemonJSONPath); !bytes.Equal(got, otherKeysJSON) {
		t.Errorf("daemon.json written: %q", got)
	}
}

func TestConfirmed(t *testing.T) {
	for _, tt := range []struct {
		ci   string
		yes  bool
		want bool
	}{
		{"", false, false}, {"", true, true}, {"true", false, true}, {"TRUE", false, true}, {"True", false, true},
		{"1", false, true}, {" true\n", false, true}, {"false", false, false}, {"0", false, false}, {"yes", false, false},
	} {
		f := &fakeHost{env: map[string]string{"CI": tt.ci}}
		if got := confirmed(f, options{yes: tt.yes}); got != tt.want {
			t.Errorf("confirmed(CI=%q, --yes=%v) = %v, want %v", tt.ci, tt.yes, got, tt.want)
		}
	}
}

func TestParseInstalledPackages(t *testing.T) {
	got := parseInstalledPackages("ii  docker.io\nrc  gone\nhi  held\nii  libc6:amd64\nun  never\n\n")
	want := map[string]bool{"docker.io": true, "held": true, "libc6:amd64": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseInstalledPackages = %v, want %v", got, want)
	}
}

func TestLoadStateRejectsGarbage(t *testing.T) {
	f := newFakeHost(t, fakeConfig{})
	f.writeFile(statePath, []byte(`{"changes": [{"kind": "something-else"}]}`))
	if _, err := loadState(f); err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Errorf("loadState: %v, want an unknown kind error", err)
	}
	f.writeFile(statePath, []byte(`{broken`))
	if _, err := loadState(f); err == nil {
		t.Error("loadState of broken JSON: want an error")
	}
	if err := os.Remove(f.Path(statePath)); err != nil {
		t.Fatal(err)
	}
	if st, err := loadState(f); err != nil || len(st.Changes) != 0 {
		t.Errorf("loadState without a file: %+v, %v", st, err)
	}
}
