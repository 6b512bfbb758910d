package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
)

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// parseFlags parses a subcommand's flags; a mistake is a usageError (the
// flag package has printed the usage already), -h is flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("takes no arguments, got %q", fs.Args())}
	}
	return nil
}

// runProfiles is the profiles subcommand: the profiles a plain run uses
// (variants such as v1.36 run only when named with --profile), of one
// Kubernetes version when --kubernetes-version is given. With --labels it
// prints them as e2e-framework's --labels selection, which runs all of
// them, side by side, in one run:
//
//	make conformance ARGS="--labels $(go run ./scripts/cluster profiles --kubernetes-version v1.35.4 --labels)"
func runProfiles(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("profiles", flag.ContinueOnError)
	version := fs.String("kubernetes-version", "", "only the profiles of this Kubernetes version, e.g. v1.35.4 (see the versions subcommand)")
	labels := fs.Bool("labels", false, "print the suite's --labels selection of those profiles (profile=A,profile=B)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	names, err := plainRunProfiles(clusters.All(), *version)
	if err != nil {
		return err
	}
	if *labels {
		sel := make([]string, len(names))
		for i, n := range names {
			sel[i] = runtime.LabelProfile + "=" + n
		}
		fmt.Fprintln(out, strings.Join(sel, ","))
		return nil
	}
	fmt.Fprintln(out, strings.Join(names, " "))
	return nil
}

// plainRunProfiles lists, in the order of ps, the profiles a plain run
// uses (no Base) of the version (every version when empty). A version no
// such profile uses is an error that names the versions there are, and
// the variants of that version.
func plainRunProfiles(ps []clusters.Profile, version string) ([]string, error) {
	var names, variants []string
	known := map[string]bool{}
	var versions []string
	for _, p := range ps {
		if p.Base != "" {
			if p.KubernetesVersion == version {
				variants = append(variants, p.Name)
			}
			continue
		}
		if !known[p.KubernetesVersion] {
			known[p.KubernetesVersion] = true
			versions = append(versions, p.KubernetesVersion)
		}
		if version == "" || p.KubernetesVersion == version {
			names = append(names, p.Name)
		}
	}
	if len(names) > 0 {
		return names, nil
	}
	if version != "" && !strings.HasPrefix(version, "v") {
		return nil, usageError{fmt.Errorf("--kubernetes-version %q: a version is written vX.Y.Z, e.g. v1.35.4 (the profiles use %s)", version, strings.Join(versions, ", "))}
	}
	msg := fmt.Sprintf("no profile of a plain run uses Kubernetes %s (they use %s)", version, strings.Join(versions, ", "))
	if len(variants) > 0 {
		msg += fmt.Sprintf("; variants of %s run only when named with --profile: %s", version, strings.Join(variants, ", "))
	}
	return nil, errors.New(msg)
}
