// Package wait is the suite's one way to wait: poll a check until it holds or
// a deadline passes, and on timeout say what the check last saw.
package wait

import (
	"context"
	"fmt"
	"time"
)

// Check reports whether the awaited state holds. seen describes what it
// observed (used in the timeout error); err aborts the wait at once.
type Check func(ctx context.Context) (done bool, seen string, err error)

// Options of a wait. Timeout is required; Interval defaults to 1 s.
type Options struct {
	Timeout  time.Duration
	Interval time.Duration
	// Due says when the awaited state is expected, for progress lines
	// (for example "due 471-570 s").
	Due string
}

// ReportEvery is how often a long wait reports its progress.
const ReportEvery = 30 * time.Second

// reportEvery is ReportEvery; unit tests shorten it.
var reportEvery = ReportEvery

type reporterKey struct{}

// WithReporter returns ctx in which every wait longer than ReportEvery
// reports, at most every ReportEvery, what it waits for, when it is due,
// its deadline, the time so far and what it last saw.
func WithReporter(ctx context.Context, report func(line string)) context.Context {
	return context.WithValue(ctx, reporterKey{}, report)
}

// For polls check until it reports done, the timeout expires or ctx ends.
// The first check runs at once. what names the awaited state for errors:
// "timed out after 2m0s waiting for <what>; last seen: <seen>".
func For(ctx context.Context, what string, o Options, check Check) error {
	if o.Timeout <= 0 {
		return fmt.Errorf("waiting for %s: no timeout given", what)
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	ticker := time.NewTicker(o.Interval)
	defer ticker.Stop()
	start := time.Now()
	last := "nothing yet"
	report, _ := parent.Value(reporterKey{}).(func(string))
	lastReport := start
	for {
		done, seen, err := check(ctx)
		if seen != "" {
			last = seen
		}
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			return nil
		}
		if report != nil && time.Since(lastReport) >= reportEvery {
			lastReport = time.Now()
			due := ""
			if o.Due != "" {
				due = ": " + o.Due
			}
			report(fmt.Sprintf("waiting for %s%s, %s elapsed, deadline %s; last seen: %s",
				what, due, time.Since(start).Round(time.Second), o.Timeout.Round(time.Second), last))
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return fmt.Errorf("stopped after %s waiting for %s (%w); last seen: %s", time.Since(start).Round(time.Second), what, err, last)
			}
			return fmt.Errorf("timed out after %s waiting for %s; last seen: %s", time.Since(start).Round(time.Second), what, last)
		case <-ticker.C:
		}
	}
}

// Holds checks that a state holds for the whole of o.Timeout: check runs at
// once and every o.Interval, and the first time it reports false, Holds
// returns an error with what it saw. A check error aborts at once. It
// returns nil when the time is up with the state held throughout.
func Holds(ctx context.Context, what string, o Options, check Check) error {
	if o.Timeout <= 0 {
		return fmt.Errorf("checking that %s: no duration given", what)
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	start := time.Now()
	ticker := time.NewTicker(o.Interval)
	defer ticker.Stop()
	for {
		ok, seen, err := check(ctx)
		if err != nil {
			return fmt.Errorf("checking that %s: %w", what, err)
		}
		if !ok {
			return fmt.Errorf("%s stopped holding after %s: %s", what, time.Since(start).Round(100*time.Millisecond), seen)
		}
		if time.Since(start) >= o.Timeout {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped checking that %s after %s: %w", what, time.Since(start).Round(time.Second), ctx.Err())
		case <-ticker.C:
		}
	}
}
