package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDocker puts a `docker` on PATH that appends its arguments to a log and
// then runs body (sh, arguments in "$@"). It returns a function reading the log.
func fakeDocker(t *testing.T, body string) func() string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "docker.log")
	script := "#!/bin/sh\necho \"$*\" >>" + shellQuote(log) + "\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return func() string {
		b, err := os.ReadFile(log)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return string(b)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// lockedBuffer is a step log the test can read while the step writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Cancelling the preload kills the docker CLI; the privileged container it
// started must be removed by name, not left running.
func TestCancelledPreloadRemovesItsContainer(t *testing.T) {
	calls := fakeDocker(t, `case "$1" in
load) cat >/dev/null ;;
run) exec sleep 60 ;;
rm) echo "$3" ;;
esac`)
	work := t.TempDir()
	b := &builder{v: version{1, 37, 2}, work: work}
	if err := os.MkdirAll(filepath.Join(b.nodeRootfs(), "var/lib/containerd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.nodeRootfs(), "hello"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- b.preload(ctx, &stepLog{Writer: log}) }()

	runLine := regexp.MustCompile(`(?m)^run .*$`)
	deadline := time.Now().Add(30 * time.Second)
	for !runLine.MatchString(calls()) {
		if time.Now().After(deadline) {
			t.Fatalf("docker run was not called; docker calls:\n%s\nlog:\n%s", calls(), log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("preload did not return after the cancellation")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("preload error %v, want context.Canceled", err)
	}

	got := calls()
	m := regexp.MustCompile(`(?m)^run --rm --name (kic-nodeimage-preload-\d+-\d+) .*--privileged`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("docker run of the preload has no --name kic-nodeimage-preload-<pid>-<n>; docker calls:\n%s", got)
	}
	if !strings.Contains(got, "\nrm -f "+m[1]+"\n") {
		t.Errorf("container %s was not removed after the cancellation; docker calls:\n%s", m[1], got)
	}
	if !strings.Contains(log.String(), "rm -f "+m[1]) {
		t.Errorf("the step log does not record the removal:\n%s", log)
	}
}

func TestContainerOfASuccessfulRunIsNotRemoved(t *testing.T) {
	calls := fakeDocker(t, `exit 0`)
	if err := runContainer(context.Background(), &stepLog{Writer: &lockedBuffer{}}, "test", "img", "true"); err != nil {
		t.Fatal(err)
	}
	got := calls()
	if !regexp.MustCompile(`^run --rm --name kic-nodeimage-test-\d+-\d+ img true\n$`).MatchString(got) {
		t.Errorf("docker calls:\n%s", got)
	}
}

// A failed run also removes its container; docker rm -f answers for one gone
// already (--rm) with a message and exit status 0.
func TestFailedRunRemovesItsContainer(t *testing.T) {
	calls := fakeDocker(t, `case "$1" in
run) exit 3 ;;
rm) echo "Error response from daemon: No such container: $3"; exit 0 ;;
esac`)
	log := &lockedBuffer{}
	err := runContainer(context.Background(), &stepLog{Writer: log}, "test", "img")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("error %v, want the run's failure", err)
	}
	if !regexp.MustCompile(`\nrm -f kic-nodeimage-test-\d+-\d+\n`).MatchString(calls()) {
		t.Errorf("no docker rm -f; docker calls:\n%s", calls())
	}
	if !strings.Contains(log.String(), "was gone already") {
		t.Errorf("log:\n%s", log)
	}
}

// An older image a kept cluster's node still uses is kept, and the build
// succeeds; an unused one is removed.
func TestOlderImageInUseIsKept(t *testing.T) {
	calls := fakeDocker(t, `case "$1" in
images) case "$*" in *--filter*) ;; *) printf '%s\n' kic.local/node:v1.37.2 kic.local/node:v1.37.2-aaaaaaaaaaaa kic.local/node:v1.37.2-bbbbbbbbbbbb kic.local/node:v1.37.2-cccccccccccc kic.local/node:v1.36.3-dddddddddddd kic.local/node:v1.37.2-src-eeeeeeeeeeee kic.local/node:v1.37.2-5_0123456789abcd-dirty-src-ffffffffffff ;; esac ;;
rmi) case "$2" in
  *-aaaaaaaaaaaa) echo "Error response from daemon: conflict: unable to remove repository reference \"$2\" (must force) - container 0123456789ab is using its referenced image 9876543210fe" >&2; exit 1 ;;
  *) echo "Untagged: $2" ;;
  esac ;;
ps) case "$*" in *ancestor=kic.local/node:v1.37.2-aaaaaaaaaaaa*) echo kic-default-0a1b2c3d-control-plane ;; esac ;;
esac`)
	b := &builder{v: version{1, 37, 2}}
	log := &lockedBuffer{}
	if err := b.removeOlderImages(context.Background(), &stepLog{Writer: log}, "kic.local/node:v1.37.2-cccccccccccc"); err != nil {
		t.Fatalf("removeOlderImages: %v", err)
	}
	got := calls()
	for _, want := range []string{"rmi kic.local/node:v1.37.2-aaaaaaaaaaaa\n", "rmi kic.local/node:v1.37.2-bbbbbbbbbbbb\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("no docker %q; docker calls:\n%s", want, got)
		}
	}
	// Never the new image, another version's, the alias, or an image built
	// from a source tree (a contributor's).
	for _, never := range []string{"rmi kic.local/node:v1.37.2-cccccccccccc", "rmi kic.local/node:v1.36.3", "rmi kic.local/node:v1.37.2\n", "-src-"} {
		if strings.Contains(got, never) {
			t.Errorf("docker %q must not run; docker calls:\n%s", never, got)
		}
	}
	want := "kept the previous image kic.local/node:v1.37.2-aaaaaaaaaaaa (in use by container kic-default-0a1b2c3d-control-plane)"
	if !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
}

// An rmi failure no container explains is an error.
func TestOlderImageRemovalFailureIsAnError(t *testing.T) {
	fakeDocker(t, `case "$1" in
images) case "$*" in *--filter*) ;; *) echo kic.local/node:v1.37.2-aaaaaaaaaaaa ;; esac ;;
rmi) echo "Error response from daemon: something else" >&2; exit 1 ;;
ps) ;;
esac`)
	b := &builder{v: version{1, 37, 2}}
	log := &lockedBuffer{}
	err := b.removeOlderImages(context.Background(), &stepLog{Writer: log}, "kic.local/node:v1.37.2-cccccccccccc")
	if err == nil || !strings.Contains(err.Error(), "docker rmi kic.local/node:v1.37.2-aaaaaaaaaaaa: exit status 1") {
		t.Fatalf("error %v, want the rmi failure", err)
	}
	if !strings.Contains(log.String(), "something else") {
		t.Errorf("the step log lacks docker's message:\n%s", log)
	}
}

// An older image a source image is built on cannot be removed: it is kept,
// the build succeeds and says which source images hold it.
func TestOlderImageUnderASourceImageIsKept(t *testing.T) {
	calls := fakeDocker(t, `case "$1" in
images) case "$*" in
  *--filter\ label=io.kic.base=kic.local/node:v1.37.2-aaaaaaaaaaaa*) echo kic.local/node:v1.37.2-src-0123456789ab ;;
  *--filter*) ;;
  *) echo kic.local/node:v1.37.2-aaaaaaaaaaaa ;;
  esac ;;
rmi) echo "Error response from daemon: conflict: unable to delete 9876543210fe (cannot be forced) - image has dependent child images" >&2; exit 1 ;;
ps) ;;
esac`)
	b := &builder{v: version{1, 37, 2}}
	log := &lockedBuffer{}
	if err := b.removeOlderImages(context.Background(), &stepLog{Writer: log}, "kic.local/node:v1.37.2-cccccccccccc"); err != nil {
		t.Fatalf("removeOlderImages: %v; docker calls:\n%s", err, calls())
	}
	if want := "kept the previous image kic.local/node:v1.37.2-aaaaaaaaaaaa (the base of source image kic.local/node:v1.37.2-src-0123456789ab"; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
}
