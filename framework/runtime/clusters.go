package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

// Provider makes and removes the clusters of a run. The kind provider
// creates them from profiles; the existing-cluster provider hands out the
// one cluster it was given; unit tests use a fake.
type Provider interface {
	// Create makes (or, where allowed, reuses) the cluster of a slot and
	// returns it usable. It is never called twice at once.
	Create(ctx context.Context, s Slot) (*steps.Cluster, error)
	// Finish is called once per cluster Create returned, when no feature
	// needs it any more: export logs after a failure, delete what the run
	// created (unless kept). It runs with a context of its own.
	Finish(ctx context.Context, s Slot, c *steps.Cluster) error
}

// PlanChecker is a Provider that can refuse a run's clusters before any is
// made (the kind provider: profiles that cannot run on --node-image).
type PlanChecker interface {
	CheckPlan(slots []Slot) error
}

// SlotDescriber is a Provider that says what a slot's cluster will run (the
// kind provider: its node image), for the run's header.
type SlotDescriber interface {
	DescribeSlot(s Slot) string
}

// slotState is one cluster of the run.
type slotState struct {
	slot     Slot
	estimate time.Duration // the longest feature on it
	users    int           // features still to run on it
	ready    chan struct{} // closed once Create returned
	cluster  *steps.Cluster
	err      error
	created  time.Duration // how long Create took
	finished bool
	// lock lets Serial features have the cluster to themselves.
	lock sync.RWMutex
}

// manager creates the run's clusters one at a time, hands them to features,
// and finishes each when its last feature is done.
type manager struct {
	provider Provider
	logf     func(string, ...any)

	mu      sync.Mutex
	slots   map[Slot]*slotState
	order   []*slotState
	errs    []error
	started bool
}

func newManager(p Provider, logf func(string, ...any)) *manager {
	return &manager{provider: p, logf: logf, slots: map[Slot]*slotState{}}
}

// need registers one more feature on the slot's cluster.
func (m *manager) need(s Slot, estimate time.Duration) {
	st, ok := m.slots[s]
	if !ok {
		st = &slotState{slot: s, ready: make(chan struct{})}
		m.slots[s] = st
		m.order = append(m.order, st)
	}
	st.users++
	if estimate > st.estimate {
		st.estimate = estimate
	}
}

// creationOrder sorts the clusters so that the one whose longest feature
// takes longest comes first: the run's floor is the first creation plus the
// longest feature, and every other cluster is made while it runs. Ties keep
// shared clusters before disruptive ones, then the order of the plan.
func (m *manager) creationOrder() []*slotState {
	order := append([]*slotState(nil), m.order...)
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].estimate != order[j].estimate {
			return order[i].estimate > order[j].estimate
		}
		return order[i].slot.Owner == "" && order[j].slot.Owner != ""
	})
	return order
}

// start creates the clusters one after the other in the background. A
// cluster whose creation failed reports the error to each of its features;
// the others are still created. When ctx ends, clusters not yet created
// report that instead.
func (m *manager) start(ctx context.Context) {
	m.started = true
	order := m.creationOrder()
	go func() {
		for _, st := range order {
			if err := ctx.Err(); err != nil {
				st.err = fmt.Errorf("cluster %s not created: %w", st.slot, err)
				close(st.ready)
				continue
			}
			begin := time.Now()
			c, err := m.provider.Create(ctx, st.slot)
			st.created = time.Since(begin)
			if err != nil {
				st.err = fmt.Errorf("cluster for %s: %w", st.slot, err)
				m.logf("cluster for %s failed after %s: %v", st.slot, st.created.Round(time.Second), err)
			} else {
				st.cluster = c
			}
			close(st.ready)
			if err == nil {
				m.maybeFinish(st) // nobody might need it any more (all skipped)
			}
		}
	}()
}

// acquire waits until the slot's cluster is created and returns it, with a
// release function the feature calls when done. Serial features hold the
// cluster to themselves between acquire and release.
func (m *manager) acquire(ctx context.Context, s Slot, serial bool) (*steps.Cluster, func(), error) {
	m.mu.Lock()
	st, ok := m.slots[s]
	m.mu.Unlock()
	if !ok {
		return nil, nil, fmt.Errorf("no cluster planned for %s (the feature was not in the plan)", s)
	}
	select {
	case <-st.ready:
	case <-ctx.Done():
		m.done(st)
		return nil, nil, fmt.Errorf("stopped waiting for the cluster of %s: %w", s, ctx.Err())
	}
	if st.err != nil {
		m.done(st)
		return nil, nil, st.err
	}
	if serial {
		st.lock.Lock()
	} else {
		st.lock.RLock()
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			if serial {
				st.lock.Unlock()
			} else {
				st.lock.RUnlock()
			}
			m.done(st)
		})
	}
	return st.cluster, release, nil
}

// skip says that a planned feature will not use its cluster after all.
func (m *manager) skip(s Slot) {
	m.mu.Lock()
	st, ok := m.slots[s]
	m.mu.Unlock()
	if ok {
		m.done(st)
	}
}

func (m *manager) done(st *slotState) {
	m.mu.Lock()
	st.users--
	m.mu.Unlock()
	m.maybeFinish(st)
}

// maybeFinish finishes a created cluster once no feature needs it.
// Disruptive clusters go as soon as their feature is done; shared ones too,
// which frees memory for the clusters still running.
func (m *manager) maybeFinish(st *slotState) {
	select {
	case <-st.ready:
	default:
		return
	}
	m.mu.Lock()
	if st.users > 0 || st.finished || st.cluster == nil {
		m.mu.Unlock()
		return
	}
	st.finished = true
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := m.provider.Finish(ctx, st.slot, st.cluster); err != nil {
		m.mu.Lock()
		m.errs = append(m.errs, err)
		m.mu.Unlock()
		m.logf("finishing cluster %s: %v", st.cluster.Name, err)
	}
}

// close waits for the creation loop, finishes every cluster still up (a
// feature that never ran, an interrupted run) and returns every error of
// finishing clusters during the run.
func (m *manager) close() error {
	if !m.started {
		return nil
	}
	for _, st := range m.order {
		<-st.ready
		m.mu.Lock()
		st.users = 0
		m.mu.Unlock()
		m.maybeFinish(st)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(m.errs...)
}

// firstCreation is how long the first cluster took to create.
func (m *manager) firstCreation() time.Duration {
	order := m.creationOrder()
	if len(order) == 0 || !m.started {
		return 0
	}
	<-order[0].ready
	return order[0].created
}
