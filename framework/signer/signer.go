// Package signer is the suite's own signer of PodCertificateRequests
// (certificates.k8s.io), run in the test process as a client-go controller:
// no in-tree signer issues pod certificates.
//
// It watches the requests of its signer names (v1 or v1beta1), checks each
// against the API (the pod exists with the request's UID, runs as the named
// service account on the named node, and the service account and node exist
// with the request's UIDs), verifies the requested key (the stub PKCS#10
// request's signature, or the v1beta1 proof of possession over the pod UID)
// and then writes one terminal condition through the status subresource:
// Issued with a certificate chain, or Denied / Failed with only the
// condition. Requests already terminal are left alone.
//
// A request asks for a decision with the unverified user annotation
// DecisionAnnotation: "deny" gives Denied (reason DeniedOnRequest), "fail"
// gives Failed (reason FailedOnRequest), "issue" or no annotation the normal
// checks; any other value is Denied (InvalidUnverifiedUserAnnotations). Other
// annotation keys are ignored (and kept in Result for tests to read).
//
// The issued leaf, signed by an in-memory intermediate under an in-memory
// root (both ECDSA P-256), holds:
//   - exactly one URI SAN, spiffe://cluster.local/ns/<namespace>/sa/<service account>;
//   - Subject CommonName = the pod name, Subject OrganizationalUnit = [the pod UID];
//   - ExtKeyUsage ClientAuth and ServerAuth, KeyUsage DigitalSignature
//     (and KeyEncipherment for an RSA key); no DNS names;
//   - a random serial number of up to 128 bits;
//   - NotBefore = now - Options.NotBeforeSkew (whole seconds),
//     NotAfter = NotBefore + min(Options.Lifetime, spec.maxExpirationSeconds).
//
// Identity and PodUID read these back. status.certificateChain is the leaf
// then the intermediate (not the root); RootPEM is what a relying party
// trusts, published as a ClusterTrustBundle with PublishTrustBundle.
package signer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// DecisionAnnotation is the unverified user annotation by which a request
// asks for a decision: "deny", "fail" or "issue".
const DecisionAnnotation = "signer.kube-identity-conformance.io/decision"

// Decisions, the same as the condition types they set.
const (
	DecisionIssued = certificatesv1.PodCertificateRequestConditionTypeIssued
	DecisionDenied = certificatesv1.PodCertificateRequestConditionTypeDenied
	DecisionFailed = certificatesv1.PodCertificateRequestConditionTypeFailed
)

// Options configure a Signer. Only SignerNames is required.
type Options struct {
	// SignerNames are the signer names served; requests of other names are
	// ignored (field selector spec.signerName=<name>, and checked again).
	SignerNames []string
	// APIVersion of certificates.k8s.io used: "v1" (default, 1.37 on) or
	// "v1beta1" (1.35, 1.36; also accepts pkixPublicKey+proofOfPossession).
	APIVersion string
	// NotBeforeSkew backdates notBefore: notBefore = now - NotBeforeSkew.
	// Default 2m; must stay below the API's limit of 5m.
	NotBeforeSkew time.Duration
	// Lifetime of a certificate, at most spec.maxExpirationSeconds. Default
	// 24h; at least 1h.
	Lifetime time.Duration
	// RefreshAfter sets beginRefreshAt = notBefore + RefreshAfter; 0 means
	// notAfter - 30m. Either is clamped into [notBefore+10m, notAfter-10m].
	RefreshAfter time.Duration
	// Decide, if set, is asked after the signer's own checks have passed
	// and no DecisionAnnotation decided. It returns DecisionDenied or
	// DecisionFailed with a reason and message, or "" / DecisionIssued to
	// issue.
	Decide func(req Request) (decision, reason, message string)
	// Logf reports each decision and error; nil discards.
	Logf func(format string, args ...any)
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Result is one request the signer decided and wrote.
type Result struct {
	Request
	Decision        string // DecisionIssued, DecisionDenied or DecisionFailed
	Reason, Message string
	// For Issued: the leaf, the chain written and the status times.
	Leaf                                *x509.Certificate
	CertificateChain                    string
	NotBefore, BeginRefreshAt, NotAfter time.Time
	// Time the status was written.
	Time time.Time
}

// Signer is a running (or ready to run) test signer.
type Signer struct {
	cs      kubernetes.Interface
	o       Options
	api     api
	ca      *authority
	signers map[string]bool
	queue   workqueue.TypedRateLimitingInterface[string]
	stores  []cache.Store

	mu      sync.Mutex
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	results []Result
	decided map[types.UID]bool
	seen    map[string]seen // by namespace/name of the request
}

// seen is what the signer last did with a request, for WaitResult's errors.
type seen struct {
	pod   string // namespace/name
	state string
}

const workers = 2

// New checks o, fills its defaults and makes the in-memory CA.
func New(cs kubernetes.Interface, o Options) (*Signer, error) {
	if cs == nil {
		return nil, errors.New("signer: no clientset")
	}
	if len(o.SignerNames) == 0 {
		return nil, errors.New("signer: no signer names")
	}
	signers := map[string]bool{}
	for _, n := range o.SignerNames {
		if !strings.Contains(n, "/") {
			return nil, fmt.Errorf("signer: signer name %q is not <domain>/<path>", n)
		}
		signers[n] = true
	}
	s := &Signer{cs: cs, signers: signers, decided: map[types.UID]bool{}, seen: map[string]seen{}}
	switch o.APIVersion {
	case "", "v1":
		o.APIVersion, s.api = "v1", v1API{cs}
	case "v1beta1":
		s.api = v1beta1API{cs}
	default:
		return nil, fmt.Errorf("signer: API version %q is neither v1 nor v1beta1", o.APIVersion)
	}
	if o.NotBeforeSkew == 0 {
		o.NotBeforeSkew = 2 * time.Minute
	}
	if o.NotBeforeSkew < 0 || o.NotBeforeSkew >= 5*time.Minute {
		return nil, fmt.Errorf("signer: NotBeforeSkew %v is outside [0, 5m), the API's limit", o.NotBeforeSkew)
	}
	if o.Lifetime == 0 {
		o.Lifetime = 24 * time.Hour
	}
	if o.Lifetime < time.Hour {
		return nil, fmt.Errorf("signer: Lifetime %v is below the API's minimum of 1h", o.Lifetime)
	}
	if o.RefreshAfter < 0 {
		return nil, fmt.Errorf("signer: RefreshAfter %v is negative", o.RefreshAfter)
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s.o = o
	ca, err := newAuthority(o.Now())
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	s.ca = ca
	s.queue = workqueue.NewTypedRateLimitingQueue(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second))
	return s, nil
}

// Run starts one informer per signer name and returns when they have
// synced; the workers go on until ctx ends or Stop is called. Run may be
// called once.
func (s *Signer) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.cancel != nil {
		s.mu.Unlock()
		return errors.New("signer: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.mu.Unlock()

	var synced []cache.InformerSynced
	for _, name := range s.o.SignerNames {
		inf := s.api.informer(name)
		enqueue := func(obj any) {
			if p, ok := s.api.read(obj); ok && s.signers[p.SignerName] {
				s.queue.Add(p.Namespace + "/" + p.Name)
			}
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj) },
		}); err != nil {
			s.Stop()
			return fmt.Errorf("signer: informer for %s: %w", name, err)
		}
		s.stores = append(s.stores, inf.GetStore())
		synced = append(synced, inf.HasSynced)
		s.wg.Add(1)
		go func() { defer s.wg.Done(); inf.RunWithContext(ctx) }()
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); <-ctx.Done(); s.queue.ShutDown() }()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		s.Stop()
		return fmt.Errorf("signer: informers of %s PodCertificateRequests did not sync: %w", s.o.APIVersion, ctx.Err())
	}
	for range workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for s.processNext(ctx) {
			}
		}()
	}
	s.o.Logf("signer: serving %s (%s PodCertificateRequests)", strings.Join(s.o.SignerNames, ", "), s.o.APIVersion)
	return nil
}

// Stop stops the informers and workers and waits for them.
func (s *Signer) Stop() {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
}

func (s *Signer) processNext(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	if ctx.Err() != nil {
		return false
	}
	if err := s.handle(ctx, key); err != nil {
		s.o.Logf("signer: %s: %v (will retry)", key, err)
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	return true
}

// lookup finds a request of one of the signer names in the informers' stores.
func (s *Signer) lookup(key string) *pcr {
	for _, st := range s.stores {
		obj, ok, err := st.GetByKey(key)
		if err != nil || !ok {
			continue
		}
		if p, ok := s.api.read(obj); ok && s.signers[p.SignerName] {
			return p
		}
	}
	return nil
}

func (s *Signer) handle(ctx context.Context, key string) error {
	p := s.lookup(key)
	if p == nil {
		return nil // deleted
	}
	s.mu.Lock()
	done := s.decided[p.UID]
	s.mu.Unlock()
	if done {
		return nil
	}
	pod := p.Namespace + "/" + p.PodName
	if p.terminal != "" {
		s.note(key, pod, "already "+p.terminal+", not by this signer")
		return nil
	}
	res, err := s.decide(ctx, p)
	if err != nil {
		s.note(key, pod, "undecided: "+err.Error())
		return err
	}
	st := res.status(s.o.Now())
	written, attempt := false, 0
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := p
		if attempt++; attempt > 1 {
			fresh, err := s.api.get(ctx, p.Namespace, p.Name)
			if err != nil {
				return err
			}
			if fresh.UID != p.UID || fresh.terminal != "" {
				return nil
			}
			cur = fresh
		}
		if err := s.api.updateStatus(ctx, cur, st); err != nil {
			return err
		}
		written = true
		return nil
	})
	if apierrors.IsNotFound(err) {
		s.note(key, pod, "deleted before its status was written")
		return nil
	}
	if err != nil {
		s.note(key, pod, "decided "+res.Decision+" but not written: "+err.Error())
		return err
	}
	if !written {
		s.note(key, pod, "made terminal by someone else first")
		return nil
	}
	res.Time = s.o.Now()
	s.mu.Lock()
	s.decided[p.UID] = true
	s.results = append(s.results, res)
	s.seen[key] = seen{pod: pod, state: res.Decision + " (" + res.Reason + ")"}
	s.mu.Unlock()
	s.o.Logf("signer: %s (pod %s, %s, %s): %s %s: %s", key, pod, res.Form, res.KeyType, res.Decision, res.Reason, res.Message)
	return nil
}

func (s *Signer) note(key, pod, state string) {
	s.mu.Lock()
	s.seen[key] = seen{pod: pod, state: state}
	s.mu.Unlock()
}

// Results returns every request the signer decided, in the order written.
func (s *Signer) Results() []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Result(nil), s.results...)
}

// WaitResult waits up to timeout for a decision on a request of pod
// namespace/podName and returns the latest such decision. On timeout the
// error says what the signer last saw of that pod's requests.
func (s *Signer) WaitResult(ctx context.Context, namespace, podName string, timeout time.Duration) (Result, error) {
	var got Result
	what := fmt.Sprintf("signer %s to decide a PodCertificateRequest of pod %s/%s", strings.Join(s.o.SignerNames, ","), namespace, podName)
	err := wait.For(ctx, what, wait.Options{Timeout: timeout, Interval: 50 * time.Millisecond},
		func(context.Context) (bool, string, error) {
			r, ok, last := s.resultOf(namespace, podName)
			got = r
			return ok, last, nil
		})
	if err != nil {
		return Result{}, fmt.Errorf("signer: %w", err)
	}
	return got, nil
}

func (s *Signer) resultOf(namespace, podName string) (Result, bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.results) - 1; i >= 0; i-- {
		if r := s.results[i]; r.Namespace == namespace && r.PodName == podName {
			return r, true, ""
		}
	}
	pod := namespace + "/" + podName
	var lines []string
	for key, sn := range s.seen {
		if sn.pod == pod {
			lines = append(lines, key+": "+sn.state)
		}
	}
	if len(lines) == 0 {
		return Result{}, false, fmt.Sprintf("no request of this pod (%d requests seen in all, %d decided)", len(s.seen), len(s.results))
	}
	sort.Strings(lines)
	return Result{}, false, strings.Join(lines, "; ")
}

// RootPEM is the root certificate in PEM: what relying parties trust.
func (s *Signer) RootPEM() []byte { return []byte(pemOf(s.ca.root)) }

// Roots is a pool holding only the root.
func (s *Signer) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.ca.root)
	return p
}

// Intermediate is the CA certificate that signs the leaves; it follows the
// leaf in every certificate chain.
func (s *Signer) Intermediate() *x509.Certificate { return s.ca.inter }
