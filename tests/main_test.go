// Package tests is the kube-identity-conformance suite: what a pod actually
// sees of its workload identity, checked against the documents in
// ../shared/seeds (see fixtures/README.md).
//
// Two modes, chosen explicitly and printed at start:
//
//	go test ./tests -args --cluster=kind                     # default: every profile the selected features need, created (or --reuse-cluster) side by side
//	go test ./tests -args --cluster=kind --profile=NAME      # only that profile's features, on its cluster
//	go test ./tests -args --cluster=kind --node-image=REF    # every cluster on that node image (profiles of its Kubernetes minor only)
//	go test ./tests -args --kubeconfig=PATH                  # an existing cluster; $KUBECONFIG alone never selects it
//	tests.test --in-cluster                                  # in a pod: the cluster it runs in, as --kubeconfig would (scripts/incluster)
//
// Each area (one file here) lists its cases in areas below; framework/runtime
// plans the run, creates the clusters one at a time and runs every feature on
// its cluster, features of one cluster in parallel.
package tests

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/defects"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

// areas are the suite's TestXxx functions and their cases: the runtime plans
// the run from them before any test starts.
var areas = []runtime.Area{
	{Test: "TestServiceAccountTokens", Cases: tokenCases},
	{Test: "TestServiceAccounts", Cases: serviceAccountCases},
	{Test: "TestProjectedVolumes", Cases: projectedVolumeCases},
	{Test: "TestClusterTrustBundles", Cases: trustBundleCases},
	{Test: "TestPodCertificates", Cases: podCertificateCases},
	{Test: "TestServiceAccountIssuers", Cases: issuerCases},
	{Test: "TestProbe", Cases: probeCases},
}

var (
	// rt runs the features; TestMain sets it before any test runs and no
	// test writes it.
	rt *runtime.Runtime

	flagCluster      = flag.String("cluster", "", `cluster mode: "kind" creates (or reuses) kind clusters from the profiles the selected features need; leave empty and pass --kubeconfig for an existing cluster`)
	flagProfile      = flag.String("profile", "", "kind mode: run only this profile's features ("+strings.Join(clusters.Names(), ", ")+"); empty: every profile")
	flagReuse        = flag.Bool("reuse-cluster", false, "kind mode: use a profile's cluster if it already runs (clusters of disruptive features are never reused)")
	flagKeep         = flag.Bool("keep-cluster", false, "kind mode: leave the clusters in place at the end (also on failure or Ctrl-C)")
	flagProbeImage   = flag.String("probe-image", probe.Image, "probe image reference; in kind mode it is loaded from --probe-archive, in existing-cluster mode the cluster must be able to pull it")
	flagProbeArchive = flag.String("probe-archive", "", "kind mode: probe image archive (default <repo>/"+probe.ArchivePath+", built by `make probe-image`)")
	flagArtifacts    = flag.String("artifacts-dir", "", "where logs go (default <repo>/_artifacts)")
	flagStateDir     = flag.String("state-dir", "", "kind mode: where cluster kubeconfig and lock files go (default <repo>/_build/clusters)")
	flagProgress     = flag.String("progress-file", "", "write progress lines to this file (appended) instead of standard output; `make conformance` follows it on the terminal")
	flagDisruptive   = flag.Bool("allow-disruptive", false, "existing-cluster mode: also run features that change the cluster")
	flagNodeImage    = flag.String("node-image", "", "kind mode: run every cluster on this node image (present on the Docker host: a project image built from a Kubernetes source tree, or an official kindest/node) instead of its profile's kic.local/node:<version>; only profiles of the image's Kubernetes minor can run")
	flagExportLogs   = flag.Bool("export-node-logs", false, "kind mode: export every cluster's node logs into <artifacts>/cluster-<name>/ when it is finished, not only after a failed feature (make repro sets it)")
	flagRequire      = flag.String("require", "", "existing-cluster mode: comma-separated requirement names (for example trustBundles,podCertificates) whose absence, or a failure to check them, fails the features that need them instead of skipping them; an unknown name is refused with the list of known ones")
	flagInCluster    = flag.Bool("in-cluster", false, "existing-cluster mode on the cluster the suite runs in (a pod: its ServiceAccount's token and CA, as a Sonobuoy plugin or scripts/incluster's Job runs it); not with --kubeconfig or --cluster")
	flagStrict       = flag.Bool("strict", false, "a reproduced known defect fails its test (by default it is reported under \"known defects\" and passes)")
)

func TestMain(m *testing.M) {
	cfg, err := envconf.NewFromFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		os.Exit(2)
	}
	removeKubeconfig := func() error { return nil }
	if *flagInCluster {
		// Existing-cluster mode through a kubeconfig of the pod's own
		// credentials: every client of the run is built from it.
		path, remove, err := inClusterKubeconfig(cfg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
			os.Exit(2)
		}
		cfg.WithKubeconfigFile(path)
		removeKubeconfig = remove
	}
	code := run(m, cfg)
	// os.Exit runs no deferred calls: the in-cluster kubeconfig goes here.
	if err := removeKubeconfig(); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// run runs the suite on the configuration and returns the process's exit
// code: 2 when the run cannot start, 1 when a test, the known-defect report or
// the clean-up failed.
func run(m *testing.M, cfg *envconf.Config) int {
	raiseParallel()
	ctx, cancel := runContext()
	defer cancel()
	secret, err := steps.NewProbeSecret()
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		return 2
	}
	s := steps.Suite{RunID: steps.NewRunID(), ProbeImage: *flagProbeImage, ProbeSecret: secret, Defects: &defects.Registry{Strict: *flagStrict}, ArtifactsDir: artifactsDir()}
	ctx = steps.WithSuite(ctx, s)
	testenv, err := env.NewWithContext(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		return 2
	}
	existing, err := chooseMode(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		return 2
	}
	progress, closeProgress, err := progressWriter()
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		return 2
	}
	defer closeProgress()
	logf := func(f string, a ...any) { fmt.Fprintf(progress, "conformance: "+f+"\n", a...) }
	rt, err = newRuntime(ctx, cfg, s, existing, progress, logf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		return 2
	}
	var finishErr error
	testenv.Setup(func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		rt.Start(ctx)
		return ctx, nil
	})
	testenv.Finish(func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		// e2e-framework only logs a Finish error at high verbosity and keeps
		// the exit code: keep it here and fail the run below.
		finishErr = rt.Close()
		return ctx, nil
	})
	code := testenv.Run(m)
	if err := reportDefects(s.Defects, dryRun(cfg), logf); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	if finishErr != nil {
		fmt.Fprintf(os.Stderr, "conformance: cleaning up failed: %v\n", finishErr)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// reportDefects prints the run's known-defect findings under their own
// heading and writes them to <artifacts>/known-defects.json (always: an
// empty list when no check ran) and, with each defect's bug report, to
// <artifacts>/known-defects.md. A dry run (-list, --dry-run) writes nothing.
func reportDefects(reg *defects.Registry, dryRun bool, logf func(string, ...any)) error {
	if sum := reg.Summary(); sum != "" {
		logf("%s", sum)
	}
	if dryRun {
		return nil
	}
	paths, err := reg.WriteFiles(artifactsDir())
	if err != nil {
		return err
	}
	logf("known defects: %d findings, written to %s", len(reg.Findings()), strings.Join(paths, ", "))
	return nil
}

// dryRun reports whether the run only lists the features (go test -list,
// e2e-framework's --dry-run).
func dryRun(cfg *envconf.Config) bool {
	return cfg.DryRunMode() || flagValue("test.list") != ""
}

// newRuntime plans the run from the flags: the selection, the mode and the
// clusters' provider.
func newRuntime(ctx context.Context, cfg *envconf.Config, s steps.Suite, existing bool, progress io.Writer, logf func(string, ...any)) (*runtime.Runtime, error) {
	sel, err := runtime.SelectionFrom(cfg, flagValue("test.run"), flagValue("test.skip"), *flagProfile)
	if err != nil {
		return nil, err
	}
	var provider runtime.Provider
	if existing {
		provider = &runtime.ExistingProvider{Kubeconfig: cfg.KubeconfigFile(), Context: cfg.KubeContext(), RunID: s.RunID, Logf: logf, ArtifactsDir: artifactsDir()}
	} else {
		logf("mode: kind clusters (run %s)", s.RunID)
		archive := orDefault(*flagProbeArchive, probe.ArchivePath)
		if err := probe.CheckArchive(archive, s.ProbeImage); err != nil {
			return nil, err
		}
		var nodeImage *runtime.NodeImage
		if *flagNodeImage != "" && !dryRun(cfg) {
			if nodeImage, err = runtime.InspectNodeImage(ctx, *flagNodeImage); err != nil {
				return nil, err
			}
			logf("node image: %s, image ID %s", nodeImage.Describe(), nodeImage.ID)
		}
		provider = runtime.NewKindProvider(runtime.KindOptions{
			RunID: s.RunID, Reuse: *flagReuse, Keep: *flagKeep,
			StateDir:     orDefault(*flagStateDir, "_build/clusters"),
			ArtifactsDir: artifactsDir(),
			ProbeArchive: archive,
			NodeImage:    nodeImage,
			ExportLogs:   *flagExportLogs,
			Interrupted:  func() bool { return ctx.Err() != nil },
			Logf:         logf,
		})
	}
	return runtime.New(runtime.Options{
		Provider:        provider,
		Selection:       sel,
		ProfileBase:     profileBase,
		Existing:        existing,
		AllowDisruptive: *flagDisruptive,
		Require:         runtime.ParseRequire(*flagRequire),
		DryRun:          dryRun(cfg),
		ArtifactsDir:    artifactsDir(),
		Progress:        progress,
		Idle:            env.NewWithConfig(copyConfig(cfg)),
		Env: func(c *steps.Cluster) types.Environment {
			ecfg := copyConfig(cfg).WithKubeconfigFile(c.Kubeconfig)
			if client, err := klient.New(c.REST); err != nil {
				// Features then build their client from the kubeconfig.
				logf("cluster %s: e2e-framework client: %v", c.Name, err)
			} else {
				ecfg.WithClient(client) // e2e-framework copies it per feature
			}
			e, err := env.NewWithContext(steps.WithCluster(ctx, c), ecfg)
			if err != nil {
				panic(err) // ctx and ecfg are never nil
			}
			return e
		},
	}, areas)
}

// copyConfig copies the run's configuration (selection flags included);
// envconf.Config holds values only, and e2e-framework copies it the same way.
func copyConfig(cfg *envconf.Config) *envconf.Config {
	c := *cfg
	return &c
}

// profileBase maps --profile to the profile whose features run on it.
func profileBase(name string) string {
	if p, err := clusters.Lookup(name); err == nil {
		return p.FeatureBase()
	}
	return name
}

// raiseParallel lets every parallel area run at once: the suite's tests wait
// on the kubelet, not on the CPU, and go test's default -parallel is
// GOMAXPROCS (2 here). A -parallel given by the user is kept.
func raiseParallel() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "64")
	}
}

func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// progressWriter opens --progress (appending), or standard output.
func progressWriter() (io.Writer, func(), error) {
	if *flagProgress == "" {
		return os.Stdout, func() {}, nil
	}
	f, err := os.OpenFile(*flagProgress, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("--progress-file: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// runContext ends on SIGINT/SIGTERM/SIGHUP, and a minute before go test's
// own -timeout would kill the binary, so that namespaces and clusters are
// still removed. A second signal exits at once.
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
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "\nconformance: %v: stopping; removing the run's namespaces and clusters (Ctrl-C again to exit at once)\n", sig)
		signal.Reset(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		cancel()
	}()
	return ctx, cancel
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
// existing cluster, otherwise kind clusters from the profiles.
func chooseMode(cfg *envconf.Config) (existing bool, err error) {
	kubeconfig := cfg.KubeconfigFile()
	switch {
	case kubeconfig != "" && *flagCluster == "kind":
		return false, fmt.Errorf("--cluster=kind and --kubeconfig=%s select different clusters: pass one of them", kubeconfig)
	case kubeconfig != "":
		if *flagCluster != "" {
			return false, fmt.Errorf("--cluster=%q is not a mode: use --cluster=kind, or --kubeconfig alone for an existing cluster", *flagCluster)
		}
		if *flagProfile != "" {
			return false, fmt.Errorf("--profile=%s chooses a kind cluster's configuration: it has no meaning with --kubeconfig", *flagProfile)
		}
		if *flagNodeImage != "" {
			return false, fmt.Errorf("--node-image=%s chooses the node image of kind clusters: it has no meaning with --kubeconfig (the existing cluster runs what it runs)", *flagNodeImage)
		}
		if *flagExportLogs {
			return false, fmt.Errorf("--export-node-logs exports the node logs of kind clusters: it has no meaning with --kubeconfig")
		}
		return true, nil
	case *flagCluster != "" && *flagCluster != "kind":
		return false, fmt.Errorf("--cluster=%q is not a mode: use --cluster=kind, or --kubeconfig=PATH for an existing cluster", *flagCluster)
	}
	if c := cfg.KubeContext(); c != "" {
		return false, fmt.Errorf("--context=%s chooses a context of --kubeconfig: kind clusters have kubeconfigs of their own; pass --kubeconfig=PATH with it", c)
	}
	if os.Getenv("KUBECONFIG") != "" {
		fmt.Println("conformance: note: $KUBECONFIG is ignored; pass --kubeconfig=PATH to test an existing cluster")
	}
	if *flagProfile != "" {
		if _, err := clusters.Lookup(*flagProfile); err != nil {
			return false, err
		}
	}
	return false, nil
}

// inClusterKubeconfig writes a kubeconfig of the pod's in-cluster
// configuration (rest.InClusterConfig: the API server's service address, the
// ServiceAccount's CA and token file, read again as the kubelet rotates it)
// to a temporary file, for --in-cluster: the run then takes the
// --kubeconfig path, which e2e-framework and the runtime read. The returned
// function removes the file's directory at the end of the run.
func inClusterKubeconfig(cfg *envconf.Config) (string, func() error, error) {
	switch {
	case cfg.KubeconfigFile() != "":
		return "", nil, fmt.Errorf("--in-cluster and --kubeconfig=%s select different clusters: pass one of them", cfg.KubeconfigFile())
	case *flagCluster != "":
		return "", nil, fmt.Errorf("--in-cluster runs on the cluster the suite runs in: --cluster=%s has no meaning with it", *flagCluster)
	case cfg.KubeContext() != "":
		return "", nil, fmt.Errorf("--in-cluster has no kubeconfig contexts: --context=%s has no meaning with it", cfg.KubeContext())
	}
	var missing []string
	for _, v := range []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"} {
		if os.Getenv(v) == "" {
			missing = append(missing, "$"+v)
		}
	}
	if len(missing) > 0 {
		return "", nil, fmt.Errorf("--in-cluster: %s not set: the suite is not running in a pod (use --kubeconfig=PATH outside a cluster)", strings.Join(missing, " and "))
	}
	rc, err := rest.InClusterConfig()
	if err != nil {
		return "", nil, fmt.Errorf("--in-cluster: %w", err)
	}
	const name = "in-cluster"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthority: rc.TLSClientConfig.CAFile}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{TokenFile: rc.BearerTokenFile}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	kc.CurrentContext = name
	dir, err := os.MkdirTemp("", "kic-in-cluster-")
	if err != nil {
		return "", nil, fmt.Errorf("--in-cluster: %w", err)
	}
	remove := func() error {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("--in-cluster: remove the run's kubeconfig: %w", err)
		}
		return nil
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return "", nil, errors.Join(fmt.Errorf("--in-cluster: write %s: %w", path, err), remove())
	}
	return path, remove, nil
}

// artifactsDir is where the run writes its files (--artifacts-dir).
func artifactsDir() string { return orDefault(*flagArtifacts, "_artifacts") }
