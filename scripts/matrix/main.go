// Command matrix runs the default profile's features on several Kubernetes
// releases and writes one report across them (make matrix).
//
//	matrix [--versions "v1.37.2 v1.36.3"] [--artifacts _artifacts/matrix]
//
// For each version (clusters.MatrixVersions by default) it finds the
// variant of the default profile on that release (the default profile
// itself for the newest), makes sure its node image exists (make
// node-image, one build at a time), and runs the suite on it with make
// conformance-run into <artifacts>/<version>/. The runs go side by side,
// but the next one starts only when the previous one's cluster is up (its
// first feature started), so that no two kind clusters are created at
// once. When all have ended it writes <artifacts>/report.md and
// report.html with scripts/report, and exits 1 if any run failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
)

// clusterUpTimeout bounds the wait for a run's first feature to start.
const clusterUpTimeout = 10 * time.Minute

func main() {
	versions := flag.String("versions", strings.Join(clusters.MatrixVersions, " "), "Kubernetes versions, space- or comma-separated")
	dir := flag.String("artifacts", "_artifacts/matrix", "where each version's run and the report go")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.FieldsFunc(*versions, func(r rune) bool { return r == ' ' || r == ',' }), *dir); err != nil {
		fmt.Fprintf(os.Stderr, "matrix: %v\n", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

// profileFor is the variant of the default profile on version.
func profileFor(version string) (clusters.Profile, error) {
	if d := clusters.Default(); d.KubernetesVersion == version {
		return d, nil
	}
	for _, p := range clusters.All() {
		if p.Base != "default" {
			continue
		}
		if p.KubernetesVersion == version && strings.HasPrefix(version, p.Name+".") {
			return p, nil
		}
	}
	return clusters.Profile{}, usageError{fmt.Errorf("no variant of the default profile runs Kubernetes %s (matrix versions: %s)", version, strings.Join(clusters.MatrixVersions, ", "))}
}

type result struct {
	version, dir string
	err          error
}

func run(ctx context.Context, versions []string, dir string) error {
	if len(versions) == 0 {
		return usageError{errors.New("no versions")}
	}
	var profiles []clusters.Profile
	for _, v := range versions {
		p, err := profileFor(v)
		if err != nil {
			return err
		}
		profiles = append(profiles, p)
	}
	for _, p := range profiles {
		fmt.Printf("matrix: node image for %s (profile %s)\n", p.KubernetesVersion, p.Name)
		if err := command(ctx, "make", "--no-print-directory", "node-image", "KUBERNETES_VERSION="+p.KubernetesVersion).Run(); err != nil {
			return fmt.Errorf("node image %s: %w", p.KubernetesVersion, err)
		}
	}
	start := time.Now()
	results := make([]result, len(profiles))
	var wg sync.WaitGroup
	for i, p := range profiles {
		out := filepath.Join(dir, p.KubernetesVersion)
		if err := os.RemoveAll(out); err != nil {
			return err
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		abs, err := filepath.Abs(out)
		if err != nil {
			return err
		}
		results[i] = result{version: p.KubernetesVersion, dir: out}
		cmd := command(ctx, "make", "--no-print-directory", "conformance-run", "PROFILE="+p.Name, "ARTIFACTS="+abs)
		cmd.Stdout, cmd.Stderr = nil, nil // the run's output goes to its make.log
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start the run on %s: %w", p.KubernetesVersion, err)
		}
		fmt.Printf("matrix: [%s] %s: run started (profile %s), log %s\n", since(start), p.KubernetesVersion, p.Name, filepath.Join(out, "make.log"))
		done := make(chan error, 1)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := cmd.Wait()
			results[i].err = err
			done <- err
			fmt.Printf("matrix: [%s] %s: run ended (%s)\n", since(start), results[i].version, outcome(err))
		}(i)
		if i < len(profiles)-1 {
			if err := waitClusterUp(ctx, filepath.Join(out, "progress.log"), done); err != nil {
				fmt.Printf("matrix: [%s] %s: %v; starting the next run\n", since(start), p.KubernetesVersion, err)
			} else {
				fmt.Printf("matrix: [%s] %s: cluster up, features running\n", since(start), p.KubernetesVersion)
			}
		}
	}
	wg.Wait()
	args := []string{"run", "./scripts/report", "--out", dir}
	for _, r := range results {
		args = append(args, "--artifacts", r.dir)
	}
	if err := command(ctx, "go", args...).Run(); err != nil {
		return fmt.Errorf("the report: %w", err)
	}
	var failed []string
	for _, r := range results {
		fmt.Printf("matrix: %s: %s (%s)\n", r.version, outcome(r.err), r.dir)
		if r.err != nil {
			failed = append(failed, r.version)
		}
	}
	fmt.Printf("matrix: %d versions in %s; report %s\n", len(results), since(start), filepath.Join(dir, "report.html"))
	if len(failed) > 0 {
		return fmt.Errorf("the runs on %s failed (see the report)", strings.Join(failed, ", "))
	}
	return nil
}

// waitClusterUp waits until the run's progress log shows a feature started
// (its cluster is up), the run ended, or the timeout passed.
func waitClusterUp(ctx context.Context, progress string, done <-chan error) error {
	deadline := time.After(clusterUpTimeout)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last := "no progress log yet"
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-done:
			return fmt.Errorf("the run ended before a feature started (%s)", outcome(err))
		case <-deadline:
			return fmt.Errorf("no feature started within %s (last seen: %s)", clusterUpTimeout, last)
		case <-tick.C:
			data, err := os.ReadFile(progress)
			if err != nil {
				continue
			}
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			last = lines[len(lines)-1]
			for _, l := range lines {
				if strings.Contains(l, "] start ") {
					return nil
				}
			}
		}
	}
}

func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// An interrupt reaches the runs through the terminal's process group;
	// the context's kill is the last resort.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Minute
	return cmd
}

func outcome(err error) string {
	if err == nil {
		return "passed"
	}
	return "failed: " + err.Error()
}

func since(t time.Time) string { return time.Since(t).Round(time.Second).String() }
