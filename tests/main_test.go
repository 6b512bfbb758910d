// Package tests is the kube-identity-conformance suite: what a pod actually
// sees of its workload identity, checked against the documents in
// ../shared/seeds (see fixtures/README.md).
//
// Two modes, chosen explicitly and printed at start:
//
//	go test ./tests -args --cluster=kind --profile=default   # default: create (or --reuse-cluster) a kind cluster
//	go test ./tests -args --kubeconfig=PATH                  # an existing cluster; $KUBECONFIG alone never selects it
package tests

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

var (
	testenv env.Environment

	flagCluster      = flag.String("cluster", "", `cluster mode: "kind" creates (or reuses) a kind cluster from --profile; leave empty and pass --kubeconfig for an existing cluster`)
	flagProfile      = flag.String("profile", "default", "kind mode: cluster profile ("+strings.Join(clusters.Names(), ", ")+")")
	flagReuse        = flag.Bool("reuse-cluster", false, "kind mode: use the profile's cluster if it already runs")
	flagKeep         = flag.Bool("keep-cluster", false, "kind mode: leave the cluster in place at the end (also on failure or Ctrl-C)")
	flagProbeImage   = flag.String("probe-image", probe.Image, "probe image reference; in kind mode it is loaded from --probe-archive, in existing-cluster mode the cluster must be able to pull it")
	flagProbeArchive = flag.String("probe-archive", "", "kind mode: probe image archive (default <repo>/"+probe.ArchivePath+", built by `make probe-image`)")
	flagArtifacts    = flag.String("artifacts-dir", "", "where logs go (default <repo>/_artifacts)")
	flagStateDir     = flag.String("state-dir", "", "kind mode: where cluster kubeconfig files go (default <repo>/_build/clusters)")

	// anyFailed is set by AfterEachTest so that Finish knows to collect logs.
	anyFailed atomic.Bool
)

func TestMain(m *testing.M) {
	cfg, err := envconf.NewFromFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		os.Exit(2)
	}
	ctx, cancel := runContext()
	defer cancel()
	s := steps.Suite{RunID: steps.NewRunID(), ProbeImage: *flagProbeImage}
	ctx = steps.WithSuite(ctx, s)
	testenv, err = env.NewWithContext(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		os.Exit(2)
	}
	if cfg.DryRunMode() {
		os.Exit(testenv.Run(m))
	}
	r := &run{cfg: cfg, suite: s}
	if err := r.chooseMode(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		os.Exit(2)
	}
	testenv.Setup(r.setUp)
	testenv.AfterEachTest(func(ctx context.Context, _ *envconf.Config, t *testing.T) (context.Context, error) {
		if t.Failed() {
			anyFailed.Store(true)
		}
		return ctx, nil
	})
	testenv.Finish(r.tearDown)
	code := testenv.Run(m)
	if r.setupErr != nil {
		fmt.Fprintf(os.Stderr, "conformance: set-up failed: %v\n", r.setupErr)
	}
	os.Exit(code)
}

// runContext ends on SIGINT/SIGTERM, and a minute before go test's own
// -timeout would kill the binary, so that namespaces and the cluster are
// still removed. A second Ctrl-C exits at once.
func runContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > 2*time.Minute {
			var c2 context.CancelFunc
			ctx, c2 = context.WithTimeout(ctx, d-time.Minute)
			prev := cancel
			cancel = func() { c2(); prev() }
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "\nconformance: %v: stopping; removing the run's namespaces and cluster (Ctrl-C again to exit at once)\n", sig)
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		cancel()
	}()
	return ctx, cancel
}

// run holds what TestMain decided and made.
type run struct {
	cfg      *envconf.Config
	suite    steps.Suite
	kind     *cluster.Kind // nil in existing-cluster mode
	setupErr error
}

// repoPath resolves a path relative to the repository: go test runs the
// package in tests/, a compiled suite runs wherever it is started.
func repoPath(rel string) string {
	if _, err := os.Stat("../go.mod"); err == nil {
		if abs, err := filepath.Abs(filepath.Join("..", rel)); err == nil {
			return abs
		}
	}
	return rel
}

func orDefault(v, rel string) string {
	if v != "" {
		return v
	}
	return repoPath(rel)
}

// chooseMode makes the cluster mode explicit: --kubeconfig selects an
// existing cluster, otherwise a kind cluster from --profile.
func (r *run) chooseMode() error {
	kubeconfig := r.cfg.KubeconfigFile()
	switch {
	case kubeconfig != "" && *flagCluster == "kind":
		return fmt.Errorf("--cluster=kind and --kubeconfig=%s select different clusters: pass one of them", kubeconfig)
	case kubeconfig != "":
		if *flagCluster != "" {
			return fmt.Errorf("--cluster=%q is not a mode: use --cluster=kind, or --kubeconfig alone for an existing cluster", *flagCluster)
		}
		return nil
	case *flagCluster != "" && *flagCluster != "kind":
		return fmt.Errorf("--cluster=%q is not a mode: use --cluster=kind, or --kubeconfig=PATH for an existing cluster", *flagCluster)
	}
	if os.Getenv("KUBECONFIG") != "" {
		fmt.Println("conformance: note: $KUBECONFIG is ignored; pass --kubeconfig=PATH to test an existing cluster")
	}
	_, err := clusters.Lookup(*flagProfile)
	return err
}

func (r *run) setUp(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
	err := r.setUpCluster(ctx, cfg)
	if err != nil {
		r.setupErr = err
	}
	return ctx, err
}

func (r *run) setUpCluster(ctx context.Context, cfg *envconf.Config) error {
	start := time.Now()
	if kubeconfig := cfg.KubeconfigFile(); kubeconfig != "" {
		info, err := cluster.Reach(ctx, kubeconfig, 15*time.Second)
		if err != nil {
			return err
		}
		fmt.Printf("conformance: mode: existing cluster (--kubeconfig=%s)\nconformance: API server %s, Kubernetes %s\n", kubeconfig, info.Server, info.Version)
		return r.checkAccess(ctx, kubeconfig)
	}
	p, err := clusters.Lookup(*flagProfile)
	if err != nil {
		return err
	}
	fmt.Printf("conformance: mode: kind cluster, profile %s (%s)\n", p.Name, p.Description)
	k, err := cluster.Prepare(ctx, cluster.Options{
		Profile:      p,
		Reuse:        *flagReuse,
		Keep:         *flagKeep,
		StateDir:     orDefault(*flagStateDir, "_build/clusters"),
		ArtifactsDir: orDefault(*flagArtifacts, "_artifacts"),
		Logf:         func(f string, a ...any) { fmt.Printf("conformance: "+f+"\n", a...) },
	})
	if err != nil {
		return err
	}
	archive := orDefault(*flagProbeArchive, probe.ArchivePath)
	if _, err := os.Stat(archive); err != nil {
		return fmt.Errorf("probe image archive %s is missing: run `make probe-image` first", archive)
	}
	// Create removes a cluster it could not finish (unless --keep-cluster);
	// from here on the run owns it.
	if err := k.Create(ctx); err != nil {
		return err
	}
	r.kind = k
	cfg.WithKubeconfigFile(k.Kubeconfig)
	if err := k.LoadImageArchives(archive); err != nil {
		return err
	}
	info, err := cluster.Reach(ctx, k.Kubeconfig, 15*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("conformance: cluster %s ready in %s: API server %s, Kubernetes %s, kubeconfig %s\n",
		k.Name, time.Since(start).Round(100*time.Millisecond), info.Server, info.Version, k.Kubeconfig)
	return nil
}

// checkAccess says which rights the suite needs and the kubeconfig's user lacks.
func (r *run) checkAccess(ctx context.Context, kubeconfig string) error {
	rc, err := cluster.RESTConfig(kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	return cluster.CheckAccess(ctx, cs, cluster.SuiteAccess)
}

func (r *run) tearDown(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
	// The run's context may be cancelled (Ctrl-C): clean up with a fresh one.
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if kubeconfig := cfg.KubeconfigFile(); kubeconfig != "" && r.setupErr == nil {
		if rc, err := cluster.RESTConfig(kubeconfig); err == nil {
			if cs, err := kubernetes.NewForConfig(rc); err == nil {
				if deleted, err := steps.DeleteRunNamespaces(cleanup, cs, r.suite.RunID); err != nil {
					fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
				} else if len(deleted) > 0 {
					fmt.Printf("conformance: removed leftover namespaces %s\n", strings.Join(deleted, ", "))
				}
			}
		}
	}
	if r.kind == nil {
		return ctx, nil
	}
	// Logs help after a failure, not after a Ctrl-C: then the user wants out.
	if anyFailed.Load() && ctx.Err() == nil {
		dir := filepath.Join(orDefault(*flagArtifacts, "_artifacts"), "cluster-"+r.kind.Name)
		if err := r.kind.ExportLogs(dir); err != nil {
			fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		} else {
			fmt.Printf("conformance: cluster logs exported to %s\n", dir)
		}
	}
	switch {
	case *flagKeep:
		fmt.Printf("conformance: keeping cluster %s (--keep-cluster); kubeconfig %s; `make clean` removes it\n", r.kind.Name, r.kind.Kubeconfig)
	case !r.kind.Created:
		fmt.Printf("conformance: leaving reused cluster %s in place\n", r.kind.Name)
	default:
		if err := r.kind.Destroy(); err != nil {
			return ctx, err
		}
		fmt.Printf("conformance: removed cluster %s\n", r.kind.Name)
	}
	return ctx, nil
}
