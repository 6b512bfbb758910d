package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// Area is one TestXxx function of the suite and the cases it runs. The
// runtime calls Cases once while planning; the test calls it again to run
// them (cases are plain values built from closures, so both calls agree).
type Area struct {
	Test  string
	Cases func() []Case
}

// Options configure a run.
type Options struct {
	// Provider makes the clusters.
	Provider Provider
	// Selection is what was asked for.
	Selection Selection
	// ProfileBase maps a --profile name to the profile whose features it
	// runs: a variant such as v1.36 (the default profile on an older
	// release) runs the default profile's features. nil means identity.
	ProfileBase func(string) string
	// Existing is set in existing-cluster mode: disruptive features are
	// skipped unless AllowDisruptive, unmet requirements skip.
	Existing        bool
	AllowDisruptive bool
	// Require lists requirement keys (--require) whose unmet check on an
	// existing cluster fails the feature instead of skipping it. New
	// refuses a key no case's requirement has.
	Require []string
	// Env returns the e2e-framework environment of a cluster, its context
	// carrying the cluster (steps.WithCluster). Called once per cluster.
	Env func(c *steps.Cluster) types.Environment
	// Idle is an environment with no cluster, used to report features that
	// do not run (not selected, cluster not available) as e2e-framework
	// subtests.
	Idle types.Environment
	// Progress receives the progress lines (nil: os.Stdout).
	Progress io.Writer
	// Now is the clock (nil: time.Now); unit tests set it.
	Now func() time.Time
	// DryRun lists the features without making clusters
	// (e2e-framework's --dry-run, go test -list).
	DryRun bool
	// ArtifactsDir, when set, receives FeaturesFile, the run's features as
	// planned (not on a dry run, which must not replace a real run's).
	ArtifactsDir string
}

// plannedCase is a case as the plan saw it.
type plannedCase struct {
	selected bool
	why      string
	slot     Slot
}

// Result is how one feature ended.
type Result struct {
	Test, Feature, Cluster string
	Outcome                string // PASS, FAIL, SKIP
	Start, End             time.Time
}

// Duration is how long the feature ran (cluster wait excluded).
func (r Result) Duration() time.Duration { return r.End.Sub(r.Start) }

// Runtime is one run of the suite.
type Runtime struct {
	o       Options
	begin   time.Time
	plan    map[string][]plannedCase
	mgr     *manager
	out     *progress
	envs    sync.Map // *steps.Cluster -> types.Environment
	mu      sync.Mutex
	results []Result
}

// New plans the run: which features of which areas are selected, and the
// clusters they need. It makes nothing yet.
func New(o Options, areas []Area) (*Runtime, error) {
	if o.Provider == nil || o.Env == nil || o.Idle == nil {
		return nil, errors.New("runtime: Provider, Env and Idle are required")
	}
	if o.ProfileBase == nil {
		o.ProfileBase = func(s string) string { return s }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	w := o.Progress
	if w == nil {
		w = os.Stdout
	}
	known, err := RequirementKeys(areas)
	if err != nil {
		return nil, err
	}
	if err := checkRequire(o.Require, known); err != nil {
		return nil, err
	}
	r := &Runtime{o: o, begin: o.Now(), plan: map[string][]plannedCase{}, out: &progress{w: w, now: o.Now}}
	r.out.begin = r.begin
	r.mgr = newManager(o.Provider, r.out.printf)
	seen := map[string]bool{}
	var recs []FeatureRecord
	for _, a := range areas {
		if seen[a.Test] {
			return nil, fmt.Errorf("runtime: area %s listed twice", a.Test)
		}
		seen[a.Test] = true
		names := map[string]bool{}
		for _, c := range a.Cases() {
			name := c.Feature.Name()
			if names[name] {
				return nil, fmt.Errorf("runtime: %s has two features named %q", a.Test, name)
			}
			names[name] = true
			sel, why := o.Selection.selected(a.Test, c, o.ProfileBase)
			p := plannedCase{selected: sel, why: why, slot: c.slot(a.Test, o.Selection.Profile)}
			if o.Existing {
				p.slot = Slot{Profile: "existing"} // one cluster for everything
			}
			if sel && !o.DryRun && !(o.Existing && c.Needs.Disruptive && !o.AllowDisruptive) {
				r.mgr.need(p.slot, c.estimate())
			}
			r.plan[a.Test] = append(r.plan[a.Test], p)
			recs = append(recs, FeatureRecord{
				Test: a.Test + "/" + subtestName(name), Area: a.Test, Feature: name,
				Labels: labelsOf(c), ClusterProfile: p.slot.Profile, Selected: sel, NotSelected: why,
			})
		}
	}
	if pc, ok := o.Provider.(PlanChecker); ok {
		if err := pc.CheckPlan(r.Clusters()); err != nil {
			return nil, err
		}
	}
	if o.ArtifactsDir != "" && !o.DryRun {
		if err := writeFeatureRecords(o.ArtifactsDir, recs); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Clusters lists the clusters the plan needs, in creation order.
func (r *Runtime) Clusters() []Slot {
	var out []Slot
	for _, st := range r.mgr.creationOrder() {
		out = append(out, st.slot)
	}
	return out
}

// Selected counts the selected features.
func (r *Runtime) Selected() (selected, total int) {
	for _, cs := range r.plan {
		for _, c := range cs {
			total++
			if c.selected {
				selected++
			}
		}
	}
	return selected, total
}

// Start begins creating the clusters (in the background, one at a time).
func (r *Runtime) Start(ctx context.Context) {
	sel, total := r.Selected()
	var names []string
	for _, s := range r.Clusters() {
		names = append(names, s.String())
	}
	if len(names) == 0 {
		names = []string{"none"}
	}
	r.out.printf("plan: %d of %d features selected; clusters, in creation order: %s", sel, total, strings.Join(names, ", "))
	if d, ok := r.o.Provider.(SlotDescriber); ok {
		for _, s := range r.Clusters() {
			r.out.printf("plan: cluster %s: %s", s, d.DescribeSlot(s))
		}
	}
	r.mgr.start(ctx)
}

// Run runs the cases of the calling TestXxx: it calls t.Parallel, then
// runs every case as a subtest at once; each waits for its cluster.
func (r *Runtime) Run(t *testing.T, cases ...Case) {
	t.Helper()
	plan, ok := r.plan[t.Name()]
	if !ok || len(plan) != len(cases) {
		t.Fatalf("%s is not in the runtime's plan (or its cases changed): list it in the suite's areas", t.Name())
	}
	t.Parallel()
	var wg sync.WaitGroup
	for i, c := range cases {
		if c.Feature.Name() == "" {
			t.Errorf("case %d of %s has no feature name", i, t.Name())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runCase(t, c, plan[i])
		}()
	}
	wg.Wait()
}

// DisruptiveSkip begins the reason a disruptive feature is skipped with in
// existing-cluster mode without --allow-disruptive (scripts/incluster checks
// for it).
const DisruptiveSkip = "disruptive (changes the cluster)"

func (r *Runtime) runCase(t *testing.T, c Case, p plannedCase) {
	name := c.Feature.Name()
	if !p.selected {
		r.o.Idle.Test(t, withSteps(c.Feature, c, []types.Step{skipStep("not selected: " + p.why)}, nil))
		return
	}
	if r.o.DryRun {
		r.o.Idle.Test(t, withSteps(c.Feature, c, nil, nil))
		return
	}
	if r.o.Existing && c.Needs.Disruptive && !r.o.AllowDisruptive {
		reason := fmt.Sprintf("%s: runs on a kind cluster of its own, profile %s; pass --allow-disruptive to run it on this cluster", DisruptiveSkip, c.profile())
		r.o.Idle.Test(t, withSteps(c.Feature, c, []types.Step{skipStep(reason)}, nil))
		return
	}
	ctx := context.Background()
	cl, release, err := r.mgr.acquire(ctx, p.slot, c.Needs.Serial)
	if err != nil {
		r.o.Idle.Test(t, withSteps(c.Feature, c, []types.Step{failStep("cluster", err)}, nil))
		r.record(Result{Test: t.Name(), Feature: name, Cluster: "(no cluster: " + p.slot.String() + ")", Outcome: "FAIL", Start: r.o.Now(), End: r.o.Now()})
		return
	}
	defer release()
	first := []types.Step{
		r.startStep(t.Name(), c, cl),
		requirementsStep(c, cl, r.o.Existing, r.o.Require),
	}
	r.envFor(cl).Test(t, withSteps(c.Feature, c, first, nil))
}

func (r *Runtime) envFor(c *steps.Cluster) types.Environment {
	if e, ok := r.envs.Load(c); ok {
		return e.(types.Environment)
	}
	e, _ := r.envs.LoadOrStore(c, r.o.Env(c))
	return e.(types.Environment)
}

// startStep prints the feature's start, puts a wait reporter naming the
// feature in its context, and at its end (t.Cleanup, so also after a
// t.Fatal in setup) prints and records the outcome.
func (r *Runtime) startStep(test string, c Case, cl *steps.Cluster) types.Step {
	name := c.Feature.Name()
	return step("runtime: start", types.LevelSetup, func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		start := r.o.Now()
		r.out.printf("start %s/%s on %s", test, name, cl.Name)
		t.Cleanup(func() {
			outcome := "PASS"
			switch {
			case t.Failed():
				outcome = "FAIL"
				cl.MarkFailed()
			case t.Skipped():
				outcome = "SKIP"
			}
			res := Result{Test: test, Feature: name, Cluster: cl.Name, Outcome: outcome, Start: start, End: r.o.Now()}
			r.record(res)
			r.out.printf("%s %s/%s in %s", outcome, test, name, res.Duration().Round(100*time.Millisecond))
		})
		return wait.WithReporter(ctx, func(line string) { r.out.printf("%s: %s", name, line) })
	})
}

// requirementsStep checks the case's requirements on the cluster: unmet (or
// not checkable) on an existing cluster means a skip with the reason, or a
// failure when --require names it; unmet on a kind cluster means the profile
// does not do what it says, a failure (requirementVerdict).
func requirementsStep(c Case, cl *steps.Cluster, existing bool, require []string) types.Step {
	return step("runtime: requirements", types.LevelSetup, func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		if missing, err := missingAccess(ctx, cl, c.Needs.Access); err != nil {
			t.Fatalf("checking the rights the feature uses on cluster %s: %v", cl.Name, err)
		} else if len(missing) > 0 {
			if existing {
				t.Skipf("the kubeconfig's user lacks %s", strings.Join(missing, "; "))
			}
			t.Fatalf("the suite's user on kind cluster %s lacks %s", cl.Name, strings.Join(missing, "; "))
		}
		for _, req := range c.Needs.Requires {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			ok, seen, err := req.Holds(cctx, cl)
			cancel()
			check := requirementCheck{
				Req: req, Profile: c.profile(), Cluster: cl.Name,
				Existing: existing, Required: slices.Contains(require, req.Key),
				OK: ok, Seen: seen, Err: err,
			}
			if prof, lerr := clusters.Lookup(cl.Profile); !existing && lerr == nil {
				check.Profile, check.Lacks = prof.Name, prof.Lacks[req.Key]
			}
			verdict, msg := requirementVerdict(check)
			switch verdict {
			case verdictHolds:
				t.Log(msg)
			case verdictSkip:
				t.Skip(msg)
			default:
				t.Fatal(msg)
			}
		}
		return ctx
	})
}

// missingAccess returns each right of needs the cluster's user lacks, with
// why it is needed. Each right is asked once per cluster (Cluster.Fact).
func missingAccess(ctx context.Context, cl *steps.Cluster, needs []cluster.Access) ([]string, error) {
	var missing []string
	for _, a := range needs {
		v, err := cl.Fact("access "+a.String(), func() (any, error) {
			cctx, cancel := context.WithTimeout(ctx, steps.APITimeout)
			defer cancel()
			return cluster.Allowed(cctx, cl.Clientset, a)
		})
		if err != nil {
			return nil, err
		}
		if !v.(bool) {
			missing = append(missing, fmt.Sprintf("%s (%s)", a, a.Why))
		}
	}
	return missing, nil
}

func skipStep(reason string) types.Step {
	return step("runtime: skip", types.LevelSetup, func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Skip(reason)
		return ctx
	})
}

func failStep(what string, err error) types.Step {
	return step("runtime: "+what, types.LevelSetup, func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Fatal(err)
		return ctx
	})
}

// step makes a types.Step through the features builder (its step type is
// unexported).
func step(name string, level types.Level, fn types.StepFunc) types.Step {
	return features.New("step").WithStep(name, level, fn).Feature().Steps()[0]
}

func (r *Runtime) record(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
}

// Results returns the outcomes recorded so far.
func (r *Runtime) Results() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Result(nil), r.results...)
}

// Close finishes every cluster still up and prints the summary. Its error
// joins every failure to finish (delete) a cluster: the run must then exit
// non-zero.
func (r *Runtime) Close() error {
	err := r.mgr.close()
	r.summary()
	return err
}

// summary prints the features, slowest first, and the run's wall time
// against its floor: the first cluster's creation plus the longest feature.
func (r *Runtime) summary() {
	res := r.Results()
	if len(res) == 0 {
		return
	}
	sort.SliceStable(res, func(i, j int) bool { return res[i].Duration() > res[j].Duration() })
	var b strings.Builder
	fmt.Fprintf(&b, "summary: %d features\n", len(res))
	fmt.Fprintf(&b, "  %-8s %-4s  %-40s %s\n", "duration", "", "cluster", "feature")
	for _, x := range res {
		fmt.Fprintf(&b, "  %8s %-4s  %-40s %s/%s\n", x.Duration().Round(100*time.Millisecond), x.Outcome, x.Cluster, x.Test, x.Feature)
	}
	wall := r.o.Now().Sub(r.begin)
	first := r.mgr.firstCreation()
	floor := first + res[0].Duration()
	ratio := "-"
	if floor >= time.Second {
		ratio = fmt.Sprintf("%.2f", float64(wall)/float64(floor))
	}
	fmt.Fprintf(&b, "summary: wall %s, floor %s (first cluster %s + longest feature %s), ratio %s",
		wall.Round(time.Second), floor.Round(time.Second), first.Round(time.Second), res[0].Duration().Round(time.Second), ratio)
	r.out.printf("%s", b.String())
}

// progress writes the run's progress lines, each stamped with the time
// since the run began.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	now   func() time.Time
	begin time.Time
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el := p.now().Sub(p.begin).Round(time.Second)
	fmt.Fprintf(p.w, "progress: [%02d:%02d] %s\n", int(el.Minutes()), int(el.Seconds())%60, fmt.Sprintf(format, args...))
}
