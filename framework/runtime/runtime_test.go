package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

// fakeProvider records what the runtime asks of it.
type fakeProvider struct {
	mu        sync.Mutex
	events    []string
	creating  atomic.Int32
	maxAtOnce atomic.Int32
	fail      map[string]error
	delay     time.Duration
}

func (p *fakeProvider) log(e string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
}

func (p *fakeProvider) Create(ctx context.Context, s Slot) (*steps.Cluster, error) {
	n := p.creating.Add(1)
	defer p.creating.Add(-1)
	if n > p.maxAtOnce.Load() {
		p.maxAtOnce.Store(n)
	}
	time.Sleep(p.delay)
	p.log("create " + s.String())
	if err := p.fail[s.Profile]; err != nil {
		return nil, err
	}
	return &steps.Cluster{Name: "kic-" + s.Profile + map[bool]string{true: "-own", false: ""}[s.Owner != ""]}, nil
}

func (p *fakeProvider) Finish(_ context.Context, s Slot, c *steps.Cluster) error {
	p.log(fmt.Sprintf("finish %s failed=%v", c.Name, c.Failed()))
	return nil
}

func (p *fakeProvider) Events() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.events...)
}

func feature(name string, labels map[string]string, fn func()) types.Feature {
	b := features.New(name)
	for k, v := range labels {
		b = b.WithLabel(k, v)
	}
	return b.Assess("runs", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		if steps.ClusterFrom(ctx) == nil {
			t.Error("no cluster in the feature's context")
		}
		if fn != nil {
			fn()
		}
		return ctx
	}).Feature()
}

func newTestRuntime(t *testing.T, p Provider, sel Selection, existing bool, areas ...Area) (*Runtime, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	var mu sync.Mutex
	r, err := New(Options{
		Provider:  p,
		Selection: sel,
		Existing:  existing,
		Env: func(c *steps.Cluster) types.Environment {
			e, err := env.NewWithContext(steps.WithCluster(context.Background(), c), envconf.New())
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
		Idle:     env.NewWithConfig(envconf.New()),
		Progress: lockedWriter{&mu, &out},
	}, areas)
	if err != nil {
		t.Fatal(err)
	}
	return r, &out
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestPlanOrdersClustersLongestFirstAndOnlySelected(t *testing.T) {
	cases := func() []Case {
		return []Case{
			On("limits", feature("capped", map[string]string{"area": "tokens"}, nil)),
			Default(feature("rotation", map[string]string{"area": "tokens"}, nil)).Slow(10 * time.Minute),
			On("issuers", feature("switch", map[string]string{"area": "issuers"}, nil)).Disruptive().Slow(time.Minute),
		}
	}
	r, _ := newTestRuntime(t, &fakeProvider{}, Selection{}, false, Area{"TestA", cases})
	got := fmt.Sprint(r.Clusters())
	want := `[default issuers (own cluster of "TestA/switch") limits]`
	if got != want {
		t.Errorf("creation order %s, want %s", got, want)
	}

	sel := Selection{Labels: types.Labels{"area": {"tokens"}}}
	r, _ = newTestRuntime(t, &fakeProvider{}, sel, false, Area{"TestA", cases})
	if got, want := fmt.Sprint(r.Clusters()), "[default limits]"; got != want {
		t.Errorf("with --labels area=tokens: clusters %s, want %s", got, want)
	}

	run, _ := newNameMatcher("TestA/capped")
	r, _ = newTestRuntime(t, &fakeProvider{}, Selection{Run: run}, false, Area{"TestA", cases})
	if got, want := fmt.Sprint(r.Clusters()), "[limits]"; got != want {
		t.Errorf("with -run TestA/capped: clusters %s, want %s", got, want)
	}

	r, _ = newTestRuntime(t, &fakeProvider{}, Selection{Profile: "limits"}, false, Area{"TestA", cases})
	if got, want := fmt.Sprint(r.Clusters()), "[limits]"; got != want {
		t.Errorf("with --profile=limits: clusters %s, want %s", got, want)
	}

	r, _ = newTestRuntime(t, &fakeProvider{}, Selection{}, true, Area{"TestA", cases})
	for _, s := range r.Clusters() {
		if s.Owner != "" {
			t.Errorf("existing-cluster mode plans a cluster of its own for %s", s)
		}
	}
}

func TestPlanVariantProfileRunsItsBaseFeaturesOnItsOwnCluster(t *testing.T) {
	cases := func() []Case {
		return []Case{Default(feature("a", nil, nil)), On("limits", feature("b", nil, nil))}
	}
	var out bytes.Buffer
	r, err := New(Options{
		Provider: &fakeProvider{}, Selection: Selection{Profile: "v1.36"},
		ProfileBase: func(p string) string {
			if p == "v1.36" {
				return DefaultProfile
			}
			return p
		},
		Env:  func(*steps.Cluster) types.Environment { return env.NewWithConfig(envconf.New()) },
		Idle: env.NewWithConfig(envconf.New()), Progress: &out,
	}, []Area{{"TestA", cases}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(r.Clusters()), "[v1.36]"; got != want {
		t.Errorf("clusters %s, want %s", got, want)
	}
}

func TestRunCreatesClustersOneAtATimeAndFinishesEach(t *testing.T) {
	p := &fakeProvider{delay: 20 * time.Millisecond}
	var onShared, maxOnShared atomic.Int32
	var serialAlone atomic.Bool
	serialAlone.Store(true)
	busy := func() {
		n := onShared.Add(1)
		if n > maxOnShared.Load() {
			maxOnShared.Store(n)
		}
		time.Sleep(30 * time.Millisecond)
		onShared.Add(-1)
	}
	serial := func() {
		if onShared.Load() != 0 {
			serialAlone.Store(false)
		}
		time.Sleep(30 * time.Millisecond)
		if onShared.Load() != 0 {
			serialAlone.Store(false)
		}
	}
	cases := func() []Case {
		return []Case{
			Default(feature("one", nil, busy)),
			Default(feature("two", nil, busy)),
			Default(feature("three", nil, busy)),
			Default(feature("alone", nil, serial)).Serial(),
			On("limits", feature("capped", nil, nil)),
			On("issuers", feature("switch", nil, nil)).Disruptive(),
		}
	}
	area := t.Name() + "/group/TestArea"
	r, out := newTestRuntime(t, p, Selection{}, false, Area{area, cases})
	r.Start(context.Background())
	// Run calls t.Parallel: the group returns once the parallel area is done.
	t.Run("group", func(t *testing.T) {
		t.Run("TestArea", func(t *testing.T) { r.Run(t, cases()...) })
	})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := p.maxAtOnce.Load(); got != 1 {
		t.Errorf("%d clusters were created at once, want one at a time", got)
	}
	if got := maxOnShared.Load(); got < 2 {
		t.Errorf("at most %d features ran at once on the shared cluster, want them in parallel", got)
	}
	if !serialAlone.Load() {
		t.Error("a Serial feature ran while others ran on its cluster")
	}
	ev := strings.Join(p.Events(), "\n")
	for _, want := range []string{"create default", "create limits", `create issuers (own cluster of "` + area + `/switch")`,
		"finish kic-default failed=false", "finish kic-limits failed=false", "finish kic-issuers-own failed=false"} {
		if !strings.Contains(ev, want) {
			t.Errorf("provider events lack %q:\n%s", want, ev)
		}
	}
	if got := len(r.Results()); got != 6 {
		t.Errorf("%d results, want 6", got)
	}
	for _, want := range []string{"start " + area + "/one on kic-default", "PASS " + area + "/capped", "summary: wall", "ratio"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, out.String())
		}
	}
}

func TestManagerReportsCreationFailureToEachFeatureAndCreatesTheRest(t *testing.T) {
	p := &fakeProvider{fail: map[string]error{"limits": errors.New("kind create: boom")}}
	m := newManager(p, func(string, ...any) {})
	m.need(Slot{Profile: "limits"}, time.Hour)
	m.need(Slot{Profile: "limits"}, time.Minute)
	m.need(Slot{Profile: "default"}, time.Minute)
	m.start(context.Background())
	for i := 0; i < 2; i++ {
		if _, _, err := m.acquire(context.Background(), Slot{Profile: "limits"}, false); err == nil || !strings.Contains(err.Error(), "boom") {
			t.Errorf("acquire of the failed cluster: %v, want the creation error", err)
		}
	}
	c, release, err := m.acquire(context.Background(), Slot{Profile: "default"}, false)
	if err != nil || c == nil {
		t.Fatalf("the other cluster: %v", err)
	}
	release()
	if err := m.close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Events(), ";"); got != "create limits;create default;finish kic-default failed=false" {
		t.Errorf("events %s", got)
	}
}

func TestManagerStopsCreatingWhenInterrupted(t *testing.T) {
	p := &fakeProvider{}
	m := newManager(p, func(string, ...any) {})
	m.need(Slot{Profile: "default"}, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.start(ctx)
	if _, _, err := m.acquire(context.Background(), Slot{Profile: "default"}, false); !errors.Is(err, context.Canceled) {
		t.Errorf("acquire after interrupt: %v, want context.Canceled", err)
	}
	if err := m.close(); err != nil || len(p.Events()) != 0 {
		t.Errorf("close: %v, events %v: nothing should have been created", err, p.Events())
	}
}

func TestNameMatcherFollowsGoTest(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		elems   []string
		whole   bool
		want    bool
	}{
		{"TestTokens", []string{"TestTokens", "a"}, false, true},
		{"TestTok", []string{"TestTokens", "a"}, false, true},
		{"^TestTok$", []string{"TestTokens", "a"}, false, false},
		{"TestTokens/rotation", []string{"TestTokens", "token_rotation"}, false, true},
		{"TestTokens/rotation", []string{"TestTokens", "claims"}, false, false},
		{"TestTokens/claims/jti", []string{"TestTokens", "claims"}, false, true},
		{"Test[/]x", []string{"Test/x"}, false, true},
		{"TestTokens/claims/jti", []string{"TestTokens", "claims"}, true, false},
		{"TestTokens/claims", []string{"TestTokens", "claims"}, true, true},
	} {
		m, err := newNameMatcher(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.matches(tc.elems, tc.whole); got != tc.want {
			t.Errorf("%q matches %q (whole=%v) = %v, want %v", tc.pattern, tc.elems, tc.whole, got, tc.want)
		}
	}
}
