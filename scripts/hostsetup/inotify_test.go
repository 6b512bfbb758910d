package main

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// readyWithInotify is a host whose Docker needs nothing, with the given
// inotify limits (0: the minimum the tool wants).
func readyWithInotify(instances, watches int) fakeConfig {
	return fakeConfig{
		dockerInstalled: true, engineUp: true, capsOK: true, probeLoaded: true, daemonJSON: otherKeysJSON,
		inotifyInstances: instances, inotifyWatches: watches,
	}
}

// assertSysctls fails unless the inotify limits of f hold instances and
// watches.
func assertSysctls(t *testing.T, f *fakeHost, instances, watches string) {
	t.Helper()
	if got := f.sysctl(0); got != instances {
		t.Errorf("%s = %s, want %s", inotifyLimits[0].Name, got, instances)
	}
	if got := f.sysctl(1); got != watches {
		t.Errorf("%s = %s, want %s", inotifyLimits[1].Name, got, watches)
	}
}

// seen is the live host where kube-proxy crashed with 4 kind clusters.
const seenInstances, seenWatches = 128, 192530

func TestInotifyRaisesLowLimits(t *testing.T) {
	f := newFakeHost(t, readyWithInotify(seenInstances, seenWatches))
	out, err := runFake(t, f, options{yes: true})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{
		"host-setup: inotify limits: raised fs.inotify.max_user_instances from 128 to 8192 (wrote /proc/sys/fs/inotify/max_user_instances; until the next reboot",
		"host-setup: inotify limits: raised fs.inotify.max_user_watches from 192530 to 524288 (wrote /proc/sys/fs/inotify/max_user_watches; until the next reboot",
		"`make host-restore` writes 128 back",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	assertSysctls(t, f, "8192", "524288")
	st, err := loadState(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []change{
		{Kind: kindSysctl, Path: "/proc/sys/fs/inotify/max_user_instances", Name: "fs.inotify.max_user_instances", Old: "128", New: "8192"},
		{Kind: kindSysctl, Path: "/proc/sys/fs/inotify/max_user_watches", Name: "fs.inotify.max_user_watches", Old: "192530", New: "524288"},
	}
	for i := range st.Changes {
		st.Changes[i].At = ""
	}
	if !reflect.DeepEqual(st.Changes, want) {
		t.Errorf("recorded %+v, want %+v", st.Changes, want)
	}
	// Docker is left as it was: the limits are the only change.
	if got := f.read(daemonJSONPath); !bytes.Equal(got, otherKeysJSON) {
		t.Errorf("daemon.json changed: %s", got)
	}
	if !allDocker(f.commands()) {
		t.Errorf("ran %q; raising the limits needs no command", f.commands())
	}

	// A second run, even without confirmation, changes nothing and says so.
	state := f.read(statePath)
	out, err = runFake(t, f, options{})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	for _, want := range []string{
		"host-setup: inotify limits: fs.inotify.max_user_instances is 8192 already (at least 8192 needed), left as it is",
		"host-setup: inotify limits: fs.inotify.max_user_watches is 524288 already (at least 524288 needed), left as it is",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("second run: output lacks %q", want)
		}
	}
	for _, bad := range []string{"raised", "would", "confirm"} {
		if strings.Contains(out, bad) {
			t.Errorf("second run: output has %q", bad)
		}
	}
	if got := f.read(statePath); !bytes.Equal(got, state) {
		t.Errorf("second run changed the state file:\n%s\nwas:\n%s", got, state)
	}
	assertSysctls(t, f, "8192", "524288")
}

func TestInotifyLeavesHigherValuesAlone(t *testing.T) {
	f := newFakeHost(t, readyWithInotify(16384, 1048576))
	out, err := runFake(t, f, options{yes: true})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{
		"fs.inotify.max_user_instances is 16384 already (at least 8192 needed), left as it is",
		"fs.inotify.max_user_watches is 1048576 already (at least 524288 needed), left as it is",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "raised") {
		t.Error("output says something was raised")
	}
	assertSysctls(t, f, "16384", "1048576")
	assertUnchanged(t, f, otherKeysJSON)

	// Only the low one of the two is raised; the higher one is not lowered.
	f = newFakeHost(t, readyWithInotify(seenInstances, 1048576))
	out, err = runFake(t, f, options{yes: true})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(out, "raised fs.inotify.max_user_instances from 128 to 8192") || strings.Contains(out, "raised fs.inotify.max_user_watches") {
		t.Errorf("output %q, want only max_user_instances raised", out)
	}
	assertSysctls(t, f, "8192", "1048576")
	if got, want := recorded(t, f), []string{kindSysctl}; !reflect.DeepEqual(got, want) {
		t.Errorf("recorded %q, want %q", got, want)
	}
}

func TestInotifyDryRun(t *testing.T) {
	for _, nonRoot := range []bool{false, true} {
		cfg := readyWithInotify(seenInstances, seenWatches)
		cfg.nonRoot = nonRoot
		f := newFakeHost(t, cfg)
		out, err := runFake(t, f, options{})
		if !errors.Is(err, errNeedsConfirmation) {
			t.Fatalf("run without confirmation (non-root %v): %v, want errNeedsConfirmation (exit status %d)", nonRoot, err, exitConfirm)
		}
		as := ""
		if nonRoot {
			as = " as root"
		}
		for _, want := range []string{
			"host-setup: inotify limits: fs.inotify.max_user_instances is 128, below the 8192 several kind clusters need",
			"host-setup: inotify limits: would raise fs.inotify.max_user_instances from 128 to 8192 (write /proc/sys/fs/inotify/max_user_instances; until the next reboot)",
			"host-setup: inotify limits: would raise fs.inotify.max_user_watches from 192530 to 524288 (write /proc/sys/fs/inotify/max_user_watches; until the next reboot)",
			"nothing was changed; to make the 2 change(s) above, run" + as + " `make host-setup YES=1`",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("non-root %v: output lacks %q", nonRoot, want)
			}
		}
		assertSysctls(t, f, "128", "192530")
		assertUnchanged(t, f, otherKeysJSON)
	}

	// Confirmed as non-root: refused, nothing written.
	cfg := readyWithInotify(seenInstances, seenWatches)
	cfg.nonRoot = true
	f := newFakeHost(t, cfg)
	if _, err := runFake(t, f, options{yes: true}); err == nil || !strings.Contains(err.Error(), "raising it needs root") {
		t.Fatalf("run --yes as non-root: %v, want a refusal", err)
	}
	assertSysctls(t, f, "128", "192530")
	assertUnchanged(t, f, otherKeysJSON)

	// --check: fails, naming both, and writes nothing.
	f = newFakeHost(t, readyWithInotify(seenInstances, seenWatches))
	_, err := runFake(t, f, options{check: true, yes: true})
	if err == nil || !strings.Contains(err.Error(), "fs.inotify.max_user_instances is 128, below the 8192") ||
		!strings.Contains(err.Error(), "fs.inotify.max_user_watches is 192530, below the 524288") || !strings.Contains(err.Error(), "--check changes nothing") {
		t.Fatalf("--check: %v, want both limits named", err)
	}
	assertSysctls(t, f, "128", "192530")
	assertUnchanged(t, f, otherKeysJSON)
}

func TestInotifyRestore(t *testing.T) {
	f := newFakeHost(t, readyWithInotify(seenInstances, seenWatches))
	if _, err := runFake(t, f, options{yes: true}); err != nil {
		t.Fatalf("set-up: %v", err)
	}
	state := f.read(statePath)

	// Without confirmation: the plan, newest first, and nothing written.
	out, err := runFake(t, f, options{restore: true})
	if !errors.Is(err, errNeedsConfirmation) {
		t.Fatalf("restore without confirmation: %v, want errNeedsConfirmation", err)
	}
	watches := strings.Index(out, "host-setup: restore: would write 192530 back to /proc/sys/fs/inotify/max_user_watches (fs.inotify.max_user_watches, raised to 524288 by host-setup")
	instances := strings.Index(out, "host-setup: restore: would write 128 back to /proc/sys/fs/inotify/max_user_instances (fs.inotify.max_user_instances, raised to 8192 by host-setup")
	if watches < 0 || instances < 0 || watches > instances {
		t.Errorf("plan lacks the two writes, newest first")
	}
	assertSysctls(t, f, "8192", "524288")
	if got := f.read(statePath); !bytes.Equal(got, state) {
		t.Error("state changed without confirmation")
	}

	// Confirmed: the old values are back, the record is gone.
	out, err = runFake(t, f, options{restore: true, yes: true})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	for _, want := range []string{
		"host-setup: restore: wrote 192530 back to /proc/sys/fs/inotify/max_user_watches",
		"host-setup: restore: wrote 128 back to /proc/sys/fs/inotify/max_user_instances",
		"host-setup: restore: every recorded change is undone",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("restore: output lacks %q", want)
		}
	}
	assertSysctls(t, f, "128", "192530")
	if f.exists(statePath) {
		t.Error("state file left after restore")
	}
	if !allDocker(f.commands()) {
		t.Errorf("ran %q; writing the limits back needs no command", f.commands())
	}
}

func TestInotifyRestoreKeepsLaterValues(t *testing.T) {
	f := newFakeHost(t, readyWithInotify(seenInstances, seenWatches))
	if _, err := runFake(t, f, options{yes: true}); err != nil {
		t.Fatalf("set-up: %v", err)
	}
	// Someone raises max_user_instances further: restore must not lower it.
	f.writeFile(inotifyLimits[0].Path, []byte("16384\n"))
	out, err := runFake(t, f, options{restore: true, yes: true})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !strings.Contains(out, "fs.inotify.max_user_instances is 16384, not the 8192 host-setup wrote (reset by a reboot, or changed since): left as it is") {
		t.Errorf("restore did not say why it left max_user_instances")
	}
	assertSysctls(t, f, "16384", "192530")
	if f.exists(statePath) {
		t.Error("state file left after restore")
	}
}

func TestInotifyRaisedAgainAfterReboot(t *testing.T) {
	f := newFakeHost(t, readyWithInotify(seenInstances, seenWatches))
	if _, err := runFake(t, f, options{yes: true}); err != nil {
		t.Fatalf("set-up: %v", err)
	}
	// A reboot resets the limits (to other defaults, say); the record stays.
	f.writeFile(inotifyLimits[0].Path, []byte("256\n"))
	f.writeFile(inotifyLimits[1].Path, []byte("65536\n"))
	out, err := runFake(t, f, options{yes: true})
	if err != nil {
		t.Fatalf("run after the reboot: %v", err)
	}
	if !strings.Contains(out, "raised fs.inotify.max_user_instances from 256 to 8192") || !strings.Contains(out, "raised fs.inotify.max_user_watches from 65536 to 524288") {
		t.Errorf("output %q, want both raised again", out)
	}
	st, err := loadState(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Changes) != 2 || st.Changes[0].Old != "256" || st.Changes[1].Old != "65536" {
		t.Errorf("recorded %+v, want the two records updated with the values since the reboot", st.Changes)
	}
	if _, err := runFake(t, f, options{restore: true, yes: true}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	assertSysctls(t, f, "256", "65536")
}

func TestLoadStateRejectsIncompleteSysctl(t *testing.T) {
	f := newFakeHost(t, fakeConfig{})
	f.writeFile(statePath, []byte(`{"changes": [{"kind": "sysctl-raised", "path": "/proc/sys/fs/inotify/max_user_watches", "new_value": "524288"}]}`))
	if _, err := loadState(f); err == nil || !strings.Contains(err.Error(), "lacks its path, old_value or new_value") {
		t.Errorf("loadState: %v, want an incomplete change error", err)
	}
}

// allDocker reports whether every command is a docker call.
func allDocker(cmds []string) bool {
	for _, c := range cmds {
		if !strings.HasPrefix(c, "docker ") {
			return false
		}
	}
	return true
}
