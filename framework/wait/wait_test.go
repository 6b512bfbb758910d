package wait

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestForReturnsWhenDone(t *testing.T) {
	n := 0
	err := For(context.Background(), "three calls", Options{Timeout: 5 * time.Second, Interval: time.Millisecond},
		func(context.Context) (bool, string, error) { n++; return n == 3, "", nil })
	if err != nil || n != 3 {
		t.Fatalf("err %v after %d calls", err, n)
	}
}

func TestForTimeoutReportsLastSeen(t *testing.T) {
	err := For(context.Background(), "a pod", Options{Timeout: 30 * time.Millisecond, Interval: 5 * time.Millisecond},
		func(context.Context) (bool, string, error) { return false, "phase Pending", nil })
	if err == nil || !strings.Contains(err.Error(), "waiting for a pod; last seen: phase Pending") {
		t.Fatalf("got %v", err)
	}
}

func TestForStopsOnError(t *testing.T) {
	boom := errors.New("boom")
	err := For(context.Background(), "x", Options{Timeout: time.Second},
		func(context.Context) (bool, string, error) { return false, "", boom })
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}

func TestForNeedsTimeout(t *testing.T) {
	if err := For(context.Background(), "x", Options{}, func(context.Context) (bool, string, error) { return true, "", nil }); err == nil {
		t.Fatal("a wait without a timeout must be refused")
	}
}

func TestForSaysWhenStoppedRatherThanTimedOut(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := For(ctx, "a pod", Options{Timeout: time.Minute, Interval: time.Millisecond},
		func(context.Context) (bool, string, error) { return false, "Pending", nil })
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "timed out") {
		t.Fatalf("got %v", err)
	}
}

func TestForReportsLongWaits(t *testing.T) {
	reportEvery = 20 * time.Millisecond
	defer func() { reportEvery = ReportEvery }()
	var lines []string
	ctx := WithReporter(context.Background(), func(l string) { lines = append(lines, l) })
	err := For(ctx, "the token to rotate", Options{Timeout: time.Minute, Interval: 5 * time.Millisecond, Due: "due 471-570 s"},
		func(context.Context) (bool, string, error) { return len(lines) == 2, "one generation", nil })
	if err != nil {
		t.Fatal(err)
	}
	want := "waiting for the token to rotate: due 471-570 s, "
	for _, l := range lines {
		if !strings.HasPrefix(l, want) || !strings.Contains(l, "deadline 1m0s; last seen: one generation") {
			t.Errorf("report %q, want it to start %q and name the deadline and what was seen", l, want)
		}
	}
}

func TestForDoesNotReportShortWaits(t *testing.T) {
	var lines []string
	ctx := WithReporter(context.Background(), func(l string) { lines = append(lines, l) })
	n := 0
	_ = For(ctx, "x", Options{Timeout: time.Second, Interval: time.Millisecond},
		func(context.Context) (bool, string, error) { n++; return n == 5, "", nil })
	if len(lines) != 0 {
		t.Errorf("a short wait reported %q", lines)
	}
}

func TestHoldsReportsTheFirstViolation(t *testing.T) {
	n := 0
	err := Holds(context.Background(), "no token Secret appears", Options{Timeout: time.Second, Interval: time.Millisecond},
		func(context.Context) (bool, string, error) { n++; return n < 3, fmt.Sprintf("call %d", n), nil })
	if err == nil || !strings.Contains(err.Error(), "no token Secret appears stopped holding") || !strings.Contains(err.Error(), "call 3") {
		t.Fatalf("got %v", err)
	}
}

func TestHoldsForTheWholeDuration(t *testing.T) {
	start := time.Now()
	err := Holds(context.Background(), "x", Options{Timeout: 50 * time.Millisecond, Interval: 5 * time.Millisecond},
		func(context.Context) (bool, string, error) { return true, "", nil })
	if err != nil || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
}
