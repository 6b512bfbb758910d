// Package runtime runs the suite: every selected feature on the cluster it
// needs, in one go test process.
//
// A feature is wrapped in a Case that says what it needs: the kind profile of
// its cluster, whether it is disruptive (it changes the cluster, so it gets a
// cluster of its own that nothing else shares, deleted after it), whether it
// needs the cluster to itself for a while (Serial), and requirements the run
// can check on any cluster (an existing one included), each with the reason a
// feature is skipped when one does not hold.
//
// The runtime plans before any test runs: it evaluates the same selection
// e2e-framework and go test will apply (--labels, --skip-labels, --feature,
// --skip-features, -run, -skip, --profile), so that only the clusters the
// selected features need are created. Clusters are created one at a time (a
// 2-core machine cannot create two at once), longest-waiting work first, while
// the features of clusters already up run. Features on one cluster run in
// parallel, each in its own namespace.
//
// Parallelism: each area's TestXxx calls t.Parallel, then runs its features
// from goroutines, each through env.Test on its cluster's environment.
// testing.T.Run may be called from several goroutines at once; env.Test only
// reads the environment (it copies the configuration and rebuilds the client
// for every feature), so concurrent calls share no mutable state.
// e2e-framework's own TestInParallel is not used: it needs the global
// --parallel flag, runs every feature of one call on one environment (one
// cluster), and its BeforeEachTest/AfterEachTest hooks raced with t.Parallel
// in the past (e2e-framework #216, #258). The suite registers no such hooks.
package runtime

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/features"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

// DefaultProfile is the profile a Case runs on when it names none.
const DefaultProfile = "default"

// DefaultEstimate is how long a Case is assumed to take when it says nothing.
const DefaultEstimate = 30 * time.Second

// Label keys the runtime puts on every feature, so that --labels can select
// by them (for example --labels profile=tokens-limits).
const (
	LabelProfile    = "profile"
	LabelDisruptive = "disruptive"
)

// Case is one feature and what it needs.
type Case struct {
	Feature types.Feature
	Needs   Needs
}

// Needs is what a feature needs of the run.
type Needs struct {
	// Profile is the kind profile of the cluster (DefaultProfile when empty).
	Profile string
	// Disruptive features change the cluster (API server flags, kubelet
	// restarts): they get a kind cluster of their own, deleted after them,
	// and never run on an existing cluster unless allowed.
	Disruptive bool
	// Serial features need the cluster to themselves: no other feature runs
	// on it while they do.
	Serial bool
	// Requires are checked on the cluster before the feature starts. In kind
	// mode an unmet requirement is a failure (the profile promised it); on an
	// existing cluster, a skip with the requirement's reason, or a failure
	// when the run requires it (Options.Require, --require).
	Requires []Requirement
	// Access lists the rights the feature uses beyond cluster.RunAccess
	// (which every feature needs): checked before it starts, a missing one
	// skips it on an existing cluster, naming the right and why it is
	// needed, and fails it in kind mode (the suite is cluster-admin there).
	Access []cluster.Access
	// Estimate is how long the feature takes; clusters whose features take
	// longest are created first.
	Estimate time.Duration
}

// Requirement is something a feature needs of its cluster, stated so that
// the run can check it on any cluster.
type Requirement struct {
	// Key names the requirement on the command line (--require=KEY), for
	// example "trustBundles": short, without commas, one per requirement.
	Key string
	// Name says what is needed, for example
	// "--service-account-extend-token-expiration=false".
	Name string
	// Profile is the kind profile that provides it (for the skip reason).
	Profile string
	// Holds checks the cluster: whether the requirement holds, and what was
	// seen. An error means the check itself could not be made.
	Holds func(ctx context.Context, c *steps.Cluster) (ok bool, seen string, err error)
}

// On returns a Case running f on the named profile's cluster.
func On(profile string, f types.Feature) Case {
	return Case{Feature: f, Needs: Needs{Profile: profile}}
}

// Default returns a Case running f on the default profile's cluster.
func Default(f types.Feature) Case { return On(DefaultProfile, f) }

// Slow marks the case as taking about d (kubelet-imposed waits).
func (c Case) Slow(d time.Duration) Case { c.Needs.Estimate = d; return c }

// Disruptive marks the case as changing its cluster.
func (c Case) Disruptive() Case { c.Needs.Disruptive = true; return c }

// Serial marks the case as needing its cluster to itself.
func (c Case) Serial() Case { c.Needs.Serial = true; return c }

// Access adds rights the case uses, beyond cluster.RunAccess.
func (c Case) Access(groups ...[]cluster.Access) Case {
	all := append([]cluster.Access(nil), c.Needs.Access...)
	for _, g := range groups {
		all = append(all, g...)
	}
	c.Needs.Access = all
	return c
}

// Requires adds requirements checked before the case runs.
func (c Case) Requires(r ...Requirement) Case {
	c.Needs.Requires = append(append([]Requirement(nil), c.Needs.Requires...), r...)
	return c
}

func (c Case) profile() string {
	if c.Needs.Profile == "" {
		return DefaultProfile
	}
	return c.Needs.Profile
}

func (c Case) estimate() time.Duration {
	if c.Needs.Estimate <= 0 {
		return DefaultEstimate
	}
	return c.Needs.Estimate
}

// Slot is a cluster of the run: a profile, and for a disruptive feature the
// feature that owns it alone.
type Slot struct {
	Profile string
	// Owner is the disruptive feature's name; empty for a shared cluster.
	Owner string
}

func (s Slot) String() string {
	if s.Owner == "" {
		return s.Profile
	}
	return fmt.Sprintf("%s (own cluster of %q)", s.Profile, s.Owner)
}

// slot is the cluster the case runs on; profile overrides the case's own
// (--profile=v1.36 runs the default profile's cases on v1.36).
func (c Case) slot(test, profile string) Slot {
	if profile == "" {
		profile = c.profile()
	}
	if c.Needs.Disruptive {
		return Slot{Profile: profile, Owner: test + "/" + c.Feature.Name()}
	}
	return Slot{Profile: profile}
}

// withSteps returns the feature with the runtime's labels added (profile,
// disruptive), so that --labels can select by them, and with steps
// prepended (first) and appended (last).
func withSteps(f types.Feature, c Case, first []types.Step, last []types.Step) types.Feature {
	b := features.New(f.Name())
	if d, ok := f.(types.DescribableFeature); ok && d.Description() != "" {
		b = features.NewWithDescription(f.Name(), d.Description())
	}
	for k, vals := range f.Labels() {
		for _, v := range vals {
			b = b.WithLabel(k, v)
		}
	}
	b = b.WithLabel(LabelProfile, c.profile())
	if c.Needs.Disruptive {
		b = b.WithLabel(LabelDisruptive, "true")
	}
	all := append(append(append([]types.Step(nil), first...), f.Steps()...), last...)
	for _, s := range all {
		b = b.WithStep(s.Name(), s.Level(), s.Func())
	}
	return b.Feature()
}

// labelsOf returns the labels the runtime would give the case's feature.
func labelsOf(c Case) types.Labels {
	l := types.Labels{}
	for k, v := range c.Feature.Labels() {
		l[k] = append([]string(nil), v...)
	}
	l[LabelProfile] = append(l[LabelProfile], c.profile())
	if c.Needs.Disruptive {
		l[LabelDisruptive] = append(l[LabelDisruptive], "true")
	}
	return l
}
