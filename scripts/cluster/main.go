// Command cluster creates a kind cluster from a profile for a person to use
// by hand, or removes every cluster the suite made; clean-existing removes
// what interrupted suite runs left on an existing cluster.
//
//	go run ./scripts/cluster create [--profile default] [--reuse-cluster]
//	go run ./scripts/cluster clean
//	go run ./scripts/cluster list
//	go run ./scripts/cluster versions [--profile NAME]  # the node images a run needs
//	go run ./scripts/cluster profiles [--kubernetes-version vX.Y.Z] [--labels]  # a plain run's profiles (of that version)
//	go run ./scripts/cluster clean-existing --kubeconfig FILE [--context NAME] [--dry-run]
//	go run ./scripts/cluster logs [--profile default]   # node logs to _artifacts/cluster-<name>/
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	// Subcommands with flags of their own.
	switch os.Args[1] {
	case "clean-existing", "profiles":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		var err error
		if os.Args[1] == "profiles" {
			err = runProfiles(os.Args[2:], os.Stdout)
		} else {
			err = runCleanExisting(ctx, os.Args[2:], os.Stdout)
		}
		stop()
		switch {
		case errors.Is(err, flag.ErrHelp):
			os.Exit(0)
		case errors.As(err, new(usageError)):
			fmt.Fprintf(os.Stderr, "cluster %s: %v\n", os.Args[1], err)
			os.Exit(2)
		case err != nil:
			fmt.Fprintf(os.Stderr, "cluster %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
		return
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	profile := fs.String("profile", "default", "cluster profile ("+strings.Join(clusters.Names(), ", ")+")")
	reuse := fs.Bool("reuse-cluster", true, "use the profile's cluster if it already runs")
	stateDir := fs.String("state-dir", "_build/clusters", "directory for kubeconfig files")
	artifacts := fs.String("artifacts-dir", "_artifacts", "directory for logs of failed creations")
	load := fs.String("load", "", "create: image archives (comma-separated) to load onto the nodes besides the probe image, e.g. _build/images/suite.tar")
	kubeconfigOut := fs.String("kubeconfig-out", "", "create: also write the cluster's kubeconfig path (absolute) to this file, for scripts")
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "create":
		err = create(ctx, *profile, *reuse, *stateDir, *artifacts, splitList(*load), *kubeconfigOut)
	case "delete":
		err = deleteCluster(ctx, *profile, *stateDir, *artifacts)
	case "logs":
		err = logs(ctx, *profile, *stateDir, *artifacts)
	case "clean":
		var removed []string
		removed, err = cluster.CleanAll(*stateDir)
		if len(removed) == 0 && err == nil {
			fmt.Printf("cluster: no cluster with prefix %q\n", cluster.Prefix)
		}
		for _, n := range removed {
			fmt.Printf("cluster: removed %s\n", n)
		}
	case "versions":
		// Without --profile: every profile a plain run uses (a variant such
		// as v1.36 runs only when named).
		named := false
		fs.Visit(func(f *flag.Flag) { named = named || f.Name == "profile" })
		var vs []string
		vs, err = versions(*profile, named)
		fmt.Println(strings.Join(vs, " "))
	case "list":
		var names []string
		names, err = cluster.NewProvider().List()
		for _, n := range names {
			if strings.HasPrefix(n, cluster.Prefix) {
				fmt.Println(n)
			}
		}
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster: %v\n", err)
		os.Exit(1)
	}
}

func create(ctx context.Context, name string, reuse bool, stateDir, artifacts string, load []string, kubeconfigOut string) error {
	p, err := clusters.Lookup(name)
	if err != nil {
		return err
	}
	k, err := cluster.Prepare(ctx, cluster.Options{Profile: p, Reuse: reuse, StateDir: stateDir, ArtifactsDir: artifacts})
	if err != nil {
		return err
	}
	if err := k.Create(ctx); err != nil {
		return err
	}
	// The probe image, so that the documented examples can be run by hand.
	if _, err := os.Stat(probe.ArchivePath); err == nil {
		if err := k.LoadImageArchives(probe.ArchivePath); err != nil {
			return err
		}
		fmt.Printf("cluster: loaded %s\n", probe.Image)
	}
	for _, a := range load {
		if err := k.LoadImageArchives(a); err != nil {
			return fmt.Errorf("load %s onto %s: %w", a, k.Name, err)
		}
		fmt.Printf("cluster: loaded %s\n", a)
	}
	abs, err := filepath.Abs(k.Kubeconfig)
	if err != nil {
		return err
	}
	if kubeconfigOut != "" {
		if err := os.WriteFile(kubeconfigOut, []byte(abs+"\n"), 0o644); err != nil {
			return fmt.Errorf("--kubeconfig-out: %w", err)
		}
	}
	fmt.Printf("cluster: %s is ready\nexport KUBECONFIG=%s\n", k.Name, abs)
	return nil
}

// deleteCluster removes the profile's cluster (create's), if it runs.
func deleteCluster(ctx context.Context, name, stateDir, artifacts string) error {
	k, err := prepared(ctx, name, stateDir, artifacts)
	if err != nil {
		return err
	}
	if err := k.Destroy(); err != nil {
		return fmt.Errorf("delete %s: %w", k.Name, err)
	}
	fmt.Printf("cluster: %s deleted\n", k.Name)
	return nil
}

// prepared is the named profile's cluster as create makes it (not created).
func prepared(ctx context.Context, name, stateDir, artifacts string) (*cluster.Kind, error) {
	p, err := clusters.Lookup(name)
	if err != nil {
		return nil, err
	}
	return cluster.Prepare(ctx, cluster.Options{Profile: p, StateDir: stateDir, ArtifactsDir: artifacts})
}

// splitList splits a comma-separated flag value, dropping empty elements.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// logs exports the node logs of the profile's running cluster.
func logs(ctx context.Context, name, stateDir, artifacts string) error {
	k, err := prepared(ctx, name, stateDir, artifacts)
	if err != nil {
		return err
	}
	dir := filepath.Join(artifacts, "cluster-"+k.Name)
	if err := k.ExportLogs(dir); err != nil {
		return err
	}
	fmt.Printf("cluster: logs of %s in %s\n", k.Name, dir)
	return nil
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cluster create [--profile NAME] [--load A.tar,B.tar] [--kubeconfig-out FILE] | delete [--profile NAME] | logs [--profile NAME] | clean | list | versions [--profile NAME]"+
		" | profiles [--kubernetes-version vX.Y.Z] [--labels] | clean-existing --kubeconfig FILE [--context NAME] [--dry-run]")
	os.Exit(2)
}

// versions lists the Kubernetes versions of the node images a run needs,
// sorted and each once.
func versions(profile string, named bool) ([]string, error) {
	var ps []clusters.Profile
	if named {
		p, err := clusters.Lookup(profile)
		if err != nil {
			return nil, err
		}
		ps = []clusters.Profile{p}
	} else {
		for _, p := range clusters.All() {
			if p.Base == "" {
				ps = append(ps, p)
			}
		}
	}
	seen := map[string]bool{}
	var vs []string
	for _, p := range ps {
		if !seen[p.KubernetesVersion] {
			seen[p.KubernetesVersion] = true
			vs = append(vs, p.KubernetesVersion)
		}
	}
	sort.Strings(vs)
	return vs, nil
}
