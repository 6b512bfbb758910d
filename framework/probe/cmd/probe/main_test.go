package main

import (
	"bytes"
	"context"
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe/server"
)

func TestParseSleep(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		d       time.Duration
		forever bool
		wantErr bool
	}{
		{args: nil, forever: true},
		{args: []string{}, forever: true},
		{args: []string{"infinity"}, forever: true},
		{args: []string{"inf"}, forever: true},
		{args: []string{"3600"}, d: time.Hour},
		{args: []string{"0"}, d: 0},
		{args: []string{"1.5"}, d: 1500 * time.Millisecond},
		{args: []string{"30s"}, d: 30 * time.Second},
		{args: []string{"10m"}, d: 10 * time.Minute},
		{args: []string{"2h"}, d: 2 * time.Hour},
		{args: []string{"1d"}, d: 24 * time.Hour},
		{args: []string{"1m", "30"}, d: 90 * time.Second},
		{args: []string{"10", "infinity"}, forever: true},
		{args: []string{"1e300"}, forever: true}, // longer than a Duration can hold
		{args: []string{""}, wantErr: true},
		{args: []string{"abc"}, wantErr: true},
		{args: []string{"-1"}, wantErr: true},
		{args: []string{"10x"}, wantErr: true},
		{args: []string{"s"}, wantErr: true},
		{args: []string{"nan"}, wantErr: true},
		{args: []string{"0x10"}, wantErr: true},
		{args: []string{"3600", "forever"}, wantErr: true},
	} {
		d, forever, err := parseSleep(tc.args)
		if tc.wantErr {
			if err == nil {
				t.Errorf("parseSleep(%q) = %v, %v; want an error", tc.args, d, forever)
			} else if !strings.Contains(err.Error(), "invalid time interval") {
				t.Errorf("parseSleep(%q) error = %v", tc.args, err)
			}
			continue
		}
		if err != nil || d != tc.d || forever != tc.forever {
			t.Errorf("parseSleep(%q) = %v, %v, %v; want %v, %v, nil", tc.args, d, forever, err, tc.d, tc.forever)
		}
	}
}

var testConfig = server.Config{Secret: "0123456789abcdef-test", Allow: []string{"/vol"}}

func TestRunRefusesToServeWithoutSecret(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), server.Config{Allow: []string{"/vol"}}, nil, "127.0.0.1:0", &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("run without a secret = %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), server.SecretEnv) {
		t.Errorf("stderr = %q, want $%s named", stderr.String(), server.SecretEnv)
	}
}

func TestRunSleepsThenExits(t *testing.T) {
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(context.Background(), testConfig, []string{"0.2"}, "127.0.0.1:0", &stdout, &stderr)
	if code != 0 {
		t.Fatalf("run(sleep 0.2) = %d, want 0; stderr: %s", code, stderr.String())
	}
	if el := time.Since(start); el < 200*time.Millisecond || el > 5*time.Second {
		t.Errorf("run(sleep 0.2) took %v", el)
	}
	if got := stdout.String(); got != "probe listening on 127.0.0.1:0, serving /vol\n" {
		t.Errorf("stdout = %q", got)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	// Cancelling the context is what SIGTERM does in main.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, testConfig, nil, "127.0.0.1:0", &bytes.Buffer{}, &bytes.Buffer{}) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run after cancel = %d, want 0", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop within 5s of cancellation")
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), testConfig, []string{"soon"}, "127.0.0.1:0", &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("run(sleep soon) = %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), `"soon"`) {
		t.Errorf("stderr = %q, want the bad argument named", stderr.String())
	}
}

// TestStandardLibraryOnly keeps the probe binary free of dependencies outside
// the standard library and this module's std-only packages.
func TestStandardLibraryOnly(t *testing.T) {
	const module = "github.com/kube-identity-conformance/kube-identity-conformance/"
	moduleRoot, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(moduleRoot, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	ctx := build.Default
	ctx.CgoEnabled = false
	seen := map[string]bool{}
	var walk func(importPath, dir string)
	walk = func(importPath, dir string) {
		pkg, err := ctx.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("reading %s: %v", dir, err)
		}
		for _, imp := range pkg.Imports {
			if seen[imp] {
				continue
			}
			seen[imp] = true
			if rel, ok := strings.CutPrefix(imp, module); ok {
				walk(imp, filepath.Join(moduleRoot, filepath.FromSlash(rel)))
				continue
			}
			if p, err := ctx.Import(imp, "", build.FindOnly); err != nil || !p.Goroot {
				t.Errorf("%s imports %s, which is not in the standard library", importPath, imp)
			}
		}
	}
	walk(module+"framework/probe/cmd/probe", ".")
}
