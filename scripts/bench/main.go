// Command bench measures the suite's speed and memory targets on this
// machine and writes the figures as a markdown table (stdout and
// _artifacts/bench.md): host set-up, node image with nothing changed (and,
// with --cold, from an empty Go build cache and work directory), kind cluster
// create (until usable) and delete, the node container's memory when idle
// and its peak, `make conformance` on a warm machine, and the node image
// built from a Kubernetes tree: unchanged, and after a one-file change in the
// kubelet and in kube-apiserver (--only source measures just that).
//
//	go run ./scripts/bench [--runs 3] [--cold] [--idle 60s] [--only source]
//
// Run it with no suite cluster running (make clean); it creates and removes
// its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
)

type result struct {
	what, value, target string
}

func main() {
	version := flag.String("kubernetes-version", "v1.37.2", "node image version")
	profile := flag.String("profile", "default", "cluster profile")
	runs := flag.Int("runs", 3, "runs of each repeated measurement")
	cold := flag.Bool("cold", false, "also build the node image from an empty Go build cache and work directory (15-25 min)")
	idle := flag.Duration("idle", 60*time.Second, "how long the new cluster idles before its memory is read")
	out := flag.String("out", "_artifacts/bench.md", "where to write the table")
	only := flag.String("only", "", `measure only this part: "source" (the node image built from a Kubernetes tree)`)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *only != "" && *only != "source" {
		fmt.Fprintf(os.Stderr, "bench: --only %q: the only part is \"source\"\n", *only)
		os.Exit(2)
	}
	if err := run(ctx, *version, *profile, *runs, *cold, *idle, *out, *only); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, version, profileName string, runs int, cold bool, idle time.Duration, out, only string) error {
	p, err := clusters.Lookup(profileName)
	if err != nil {
		return err
	}
	var results []result
	add := func(what, value, target string) {
		fmt.Printf("bench: %-50s %s\n", what, value)
		results = append(results, result{what, value, target})
	}

	write := func() error {
		table := render(results)
		fmt.Print(table)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, []byte(table), 0o644)
	}
	if only == "source" {
		if err := measureSourceRebuild(ctx, version, runs, add); err != nil {
			return err
		}
		return write()
	}

	d, err := timeRuns(ctx, runs, "go", "run", "./scripts/hostsetup")
	if err != nil {
		return err
	}
	add("host set-up, already set up (median of "+strconv.Itoa(runs)+")", d, "")

	if cold {
		work, err := os.MkdirTemp("_build", "bench-cold-")
		if err != nil {
			return err
		}
		if work, err = filepath.Abs(work); err != nil {
			return err
		}
		defer os.RemoveAll(work)
		c := hostexec.Command("go", "run", "./scripts/nodeimage", "--kubernetes-version", version, "--force",
			"--work-dir", work, "--artifacts-dir", filepath.Join(work, "logs"))
		c.Env = []string{"GOCACHE=" + filepath.Join(work, "gocache")}
		c.Stdout, c.Stderr = os.Stdout, os.Stderr
		start := time.Now()
		if err := c.Run(ctx); err != nil {
			return err
		}
		add("node image, cold (empty GOCACHE and work dir, module cache warm)", round(time.Since(start)), "< 20 min")
	}
	d, err = timeRuns(ctx, runs, "go", "run", "./scripts/nodeimage", "--kubernetes-version", version)
	if err != nil {
		return err
	}
	add("node image, nothing changed (median of "+strconv.Itoa(runs)+")", d, "< 5 s")

	var creates, deletes []time.Duration
	for i := 0; i < runs; i++ {
		k, err := cluster.Prepare(ctx, cluster.Options{Profile: p, StateDir: "_build/clusters", ArtifactsDir: "_artifacts", Logf: func(string, ...any) {}})
		if err != nil {
			return err
		}
		start := time.Now()
		if err := k.Create(ctx); err != nil {
			return err
		}
		creates = append(creates, time.Since(start))
		if i == 0 {
			mem, peak, err := nodeMemory(ctx, k.Name+"-control-plane", idle)
			if err != nil {
				_ = k.Destroy()
				return err
			}
			add(fmt.Sprintf("node container memory, idle %s after create", idle), mem, "< 700 MiB")
			add("node container memory, peak since start (cgroup max usage)", peak, "")
		}
		start = time.Now()
		if err := k.Destroy(); err != nil {
			return err
		}
		deletes = append(deletes, time.Since(start))
		k.Unlock()
	}
	add("cluster create until node Ready, CoreDNS Ready, default SA (median of "+strconv.Itoa(runs)+")", median(creates), "< 45 s")
	add("cluster delete (median of "+strconv.Itoa(runs)+")", median(deletes), "")

	m, err := measureConformance(ctx)
	if err != nil {
		return err
	}
	add("make conformance, warm machine (images built, no cluster): wall time", round(m.wall), "")
	add("time from make conformance to the first feature starting", round(m.firstFeature), "")
	add("suite run: wall / floor (first cluster created + longest feature)", fmt.Sprintf("%s / %s = ratio %s", m.suiteWall, m.floor, m.ratio), "ratio <= 1.15")
	add("peak memory of all node containers together (sampled every 2 s)", fmt.Sprintf("%.1f MiB (%d clusters at once at most)", m.peakMiB, m.peakClusters), "")

	if err := measureSourceRebuild(ctx, version, runs, add); err != nil {
		return err
	}
	return write()
}

func timeRuns(ctx context.Context, runs int, name string, args ...string) (string, error) {
	var ds []time.Duration
	for i := 0; i < runs; i++ {
		start := time.Now()
		if err := hostexec.Command(name, args...).Run(ctx); err != nil {
			return "", err
		}
		ds = append(ds, time.Since(start))
	}
	return median(ds), nil
}

func median(ds []time.Duration) string {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	var parts []string
	for _, d := range ds {
		parts = append(parts, round(d))
	}
	return fmt.Sprintf("%s (runs: %s)", round(ds[len(ds)/2]), strings.Join(parts, ", "))
}

func round(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }

// nodeMemory waits idle, then reads the node container's memory as docker
// reports it and the cgroup's peak usage.
func nodeMemory(ctx context.Context, container string, idle time.Duration) (string, string, error) {
	select {
	case <-time.After(idle):
	case <-ctx.Done():
		return "", "", ctx.Err()
	}
	usage, err := hostexec.Command("docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container).Output(ctx)
	if err != nil {
		return "", "", err
	}
	id, err := hostexec.Command("docker", "inspect", "--format", "{{.Id}}", container).Output(ctx)
	if err != nil {
		return "", "", err
	}
	peak := "unknown"
	for _, f := range []string{
		"/sys/fs/cgroup/memory/docker/" + id + "/memory.max_usage_in_bytes", // cgroup v1, cgroupfs driver
		"/sys/fs/cgroup/memory/system.slice/docker-" + id + ".scope/memory.max_usage_in_bytes",
		"/sys/fs/cgroup/system.slice/docker-" + id + ".scope/memory.peak", // cgroup v2
	} {
		if b, err := os.ReadFile(f); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
				peak = fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
				break
			}
		}
	}
	return strings.Split(usage, " / ")[0], peak, nil
}

func render(results []result) string {
	host, _ := os.Hostname()
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %s (%d cores, %s) by `make bench`.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH)
	b.WriteString("| measurement | figure | target |\n|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.what, r.value, r.target)
	}
	return b.String()
}

type conformanceRun struct {
	wall, firstFeature      time.Duration
	suiteWall, floor, ratio string
	peakMiB                 float64
	peakClusters            int
}

var summaryRE = regexp.MustCompile(`summary: wall (\S+), floor (\S+) \(first cluster \S+ \+ longest feature \S+\), ratio (\S+)`)

// measureConformance runs `make conformance` (every profile, every
// feature) and meanwhile follows its progress file for the first feature's
// start and samples the memory of the suite's node containers.
func measureConformance(ctx context.Context) (conformanceRun, error) {
	var m conformanceRun
	progress := "_artifacts/progress.log"
	// make truncates it, but only after building: do not read the last run's.
	if err := os.Remove(progress); err != nil && !os.IsNotExist(err) {
		return m, err
	}
	c := hostexec.Command("make", "conformance")
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			m.wall = time.Since(start)
			if err != nil {
				return m, fmt.Errorf("make conformance: %w", err)
			}
			b, err := os.ReadFile(progress)
			if err != nil {
				return m, err
			}
			sm := summaryRE.FindStringSubmatch(string(b))
			if sm == nil {
				return m, fmt.Errorf("no summary line in %s", progress)
			}
			m.suiteWall, m.floor, m.ratio = sm[1], sm[2], sm[3]
			return m, nil
		case <-tick.C:
			if m.firstFeature == 0 {
				if b, err := os.ReadFile(progress); err == nil && strings.Contains(string(b), "] start ") {
					m.firstFeature = time.Since(start)
				}
			}
			if mib, n, err := nodesMemory(ctx); err == nil && mib > m.peakMiB {
				m.peakMiB, m.peakClusters = mib, n
			}
		}
	}
}

// nodesMemory sums the memory of every running kic- node container.
func nodesMemory(ctx context.Context) (float64, int, error) {
	out, err := hostexec.Command("docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}").Output(ctx)
	if err != nil {
		return 0, 0, err
	}
	var total float64
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], cluster.Prefix) {
			continue
		}
		v, err := parseMiB(f[1])
		if err != nil {
			return 0, 0, err
		}
		total += v
		n++
	}
	return total, n, nil
}

func parseMiB(s string) (float64, error) {
	for suffix, mult := range map[string]float64{"GiB": 1024, "MiB": 1, "KiB": 1.0 / 1024, "B": 1.0 / (1 << 20)} {
		if v, ok := strings.CutSuffix(s, suffix); ok && !strings.HasSuffix(v, "i") && !strings.HasSuffix(v, "K") && !strings.HasSuffix(v, "M") && !strings.HasSuffix(v, "G") {
			f, err := strconv.ParseFloat(v, 64)
			return f * mult, err
		}
	}
	return 0, fmt.Errorf("memory %q: unknown unit", s)
}
