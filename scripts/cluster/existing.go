package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

// runCleanExisting is the clean-existing subcommand: it reaches the
// cluster of --kubeconfig (and --context) and removes what interrupted
// suite runs left there.
func runCleanExisting(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("clean-existing", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the existing cluster (required)")
	kubeContext := fs.String("context", "", "kubeconfig context (default: its current-context)")
	dryRun := fs.Bool("dry-run", false, "only list what would be deleted")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *kubeconfig == "" {
		return usageError{errors.New("--kubeconfig is required, e.g. go run ./scripts/cluster clean-existing --kubeconfig $HOME/.kube/config [--context NAME] [--dry-run]")}
	}
	info, err := cluster.Reach(ctx, *kubeconfig, *kubeContext, 15*time.Second)
	if err != nil {
		return err
	}
	cfg, err := cluster.RESTConfig(*kubeconfig, info.Context)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for %s: %w", info.Server, err)
	}
	fmt.Fprintf(out, "clean-existing: API server %s (kubeconfig %s, context %s), Kubernetes %s\n", info.Server, *kubeconfig, info.Context, info.Version)
	return cleanExisting(ctx, cs, *dryRun, out)
}

// cleanExisting deletes (dryRun: lists) every namespace and cluster-scoped
// object labelled steps.SuiteSelector, whatever run made it: the kinds of
// steps.ClusterSweeps, each only where the user may list it (the suite
// makes none where it may not). A kind the cluster does not serve is
// passed over, with a line saying so. A failure on one kind does not stop
// the others; the failures are returned together.
func cleanExisting(ctx context.Context, cs kubernetes.Interface, dryRun bool, out io.Writer) error {
	verb := "deleted"
	if dryRun {
		verb = "would delete"
	}
	var errs []error
	found := 0
	ns, err := steps.SweepNamespaces(ctx, cs, steps.SuiteSelector, dryRun)
	for _, n := range ns.Deleted {
		fmt.Fprintf(out, "clean-existing: %s namespace/%s\n", verb, n)
	}
	for _, n := range ns.Terminating {
		fmt.Fprintf(out, "clean-existing: namespace/%s is already being removed (a finalizer holds it if it stays)\n", n)
	}
	found += len(ns.Deleted)
	if err != nil {
		errs = append(errs, err)
	}
	var unchecked []string
	for _, sw := range steps.ClusterSweeps {
		ok, err := cluster.Allowed(ctx, cs, sw.List)
		if err != nil {
			errs = append(errs, fmt.Errorf("%ss: %w", sw.Kind, err))
			continue
		}
		if !ok {
			fmt.Fprintf(out, "clean-existing: %ss: not looked for: this user may not %s (the suite makes none without that right)\n", sw.Kind, sw.List)
			unchecked = append(unchecked, sw.Kind)
			continue
		}
		objs, err := sw.Sweep(ctx, cs, steps.SuiteSelector, dryRun)
		for _, o := range objs {
			fmt.Fprintf(out, "clean-existing: %s %s\n", verb, o)
		}
		found += len(objs)
		switch {
		case errors.Is(err, steps.ErrNotServed):
			fmt.Fprintf(out, "clean-existing: %ss: not served by this cluster, none to remove\n", sw.Kind)
		case err != nil:
			errs = append(errs, err)
		}
	}
	switch {
	case found == 0 && len(errs) == 0:
		fmt.Fprintf(out, "clean-existing: nothing labelled %s\n", steps.SuiteSelector)
	case dryRun:
		fmt.Fprintf(out, "clean-existing: dry run: %d objects labelled %s would be deleted; run without --dry-run to delete them\n", found, steps.SuiteSelector)
	default:
		fmt.Fprintf(out, "clean-existing: %d objects labelled %s deleted (namespaces finish terminating in the cluster)\n", found, steps.SuiteSelector)
	}
	if len(unchecked) > 0 {
		fmt.Fprintf(out, "clean-existing: not checked, for lack of the list right: %v\n", unchecked)
	}
	return errors.Join(errs...)
}
