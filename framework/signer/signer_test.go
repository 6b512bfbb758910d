package signer

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var keyTypes = []string{"ED25519", "ECDSAP256", "ECDSAP384", "ECDSAP521", "RSA3072", "RSA4096"}

func TestIssuesStubRequestOfEveryKeyType(t *testing.T) {
	pods := make([]string, len(keyTypes))
	for i, kt := range keyTypes {
		pods[i] = "pod-" + strings.ToLower(kt)
	}
	c := newCluster(pods...)
	objs := c.objects()
	keys := map[string]crypto.Signer{}
	for i, kt := range keyTypes {
		keys[kt] = genKey(t, kt)
		spec := c.spec(pods[i])
		spec.StubPKCS10Request = stubRequest(t, keys[kt])
		objs = append(objs, pcrV1("req-"+pods[i], spec))
	}
	cs := fake.NewClientset(objs...)
	s := start(t, cs, Options{})

	for i, kt := range keyTypes {
		t.Run(kt, func(t *testing.T) {
			r := wantResult(t, s, pods[i])
			if r.Decision != DecisionIssued || r.Form != FormStubPKCS10 || r.KeyType != kt {
				t.Fatalf("got %s %s (%s), form %s, key %s", r.Decision, r.Reason, r.Message, r.Form, r.KeyType)
			}
			o := getV1(t, cs, "req-"+pods[i])
			leaf, inter, err := checkIssuedStatus(o.Status, *o.Spec.MaxExpirationSeconds, keys[kt].Public(), time.Now())
			if err != nil {
				t.Fatalf("status breaks the API's rules: %v", err)
			}
			if err := verifyChain(s, leaf, inter); err != nil {
				t.Fatal(err)
			}
			if !leaf.Equal(r.Leaf) || r.CertificateChain != o.Status.CertificateChain {
				t.Error("Result does not hold the leaf and chain written")
			}
			ns, sa, pod, ok := Identity(leaf)
			if !ok || ns != testNS || sa != testSA || pod != pods[i] {
				t.Errorf("Identity = %q %q %q %v", ns, sa, pod, ok)
			}
			if uid, ok := PodUID(leaf); !ok || uid != c.pods[pods[i]].UID {
				t.Errorf("PodUID = %q %v", uid, ok)
			}
			if got := leaf.URIs[0].String(); got != "spiffe://cluster.local/ns/ns1/sa/workload" {
				t.Errorf("URI SAN %s", got)
			}
			if life := leaf.NotAfter.Sub(leaf.NotBefore); life != 24*time.Hour {
				t.Errorf("lifetime %v, want the default 24h", life)
			}
			if br := o.Status.BeginRefreshAt.Time; !br.Equal(leaf.NotAfter.Add(-30 * time.Minute)) {
				t.Errorf("beginRefreshAt %v, want notAfter - 30m", br)
			}
			if leaf.SerialNumber.BitLen() > 128 || leaf.SerialNumber.Sign() <= 0 {
				t.Errorf("serial %v", leaf.SerialNumber)
			}
		})
	}
}

func TestCheckIssuedStatusRejectsBadStatus(t *testing.T) {
	c := newCluster("p")
	key := genKey(t, "ECDSAP256")
	spec := c.spec("p")
	spec.StubPKCS10Request = stubRequest(t, key)
	cs := fake.NewClientset(append(c.objects(), pcrV1("req", spec))...)
	s := start(t, cs, Options{})
	wantResult(t, s, "p")
	good := getV1(t, cs, "req").Status
	now := time.Now()
	if _, _, err := checkIssuedStatus(good, 86400, key.Public(), now); err != nil {
		t.Fatalf("good status rejected: %v", err)
	}
	other := genKey(t, "ECDSAP256")
	shift := func(p *metav1.Time, d time.Duration) *metav1.Time { return &metav1.Time{Time: p.Add(d)} }
	cases := map[string]struct {
		mutate func(st *certificatesv1.PodCertificateRequestStatus)
		maxExp int32
		key    crypto.PublicKey
		now    time.Time
	}{
		"notBefore not the leaf's": {mutate: func(st *certificatesv1.PodCertificateRequestStatus) { st.NotBefore = shift(st.NotBefore, time.Second) }},
		"notAfter not the leaf's":  {mutate: func(st *certificatesv1.PodCertificateRequestStatus) { st.NotAfter = shift(st.NotAfter, -time.Second) }},
		"refresh too early": {mutate: func(st *certificatesv1.PodCertificateRequestStatus) {
			st.BeginRefreshAt = shift(st.NotBefore, 9*time.Minute)
		}},
		"refresh too late": {mutate: func(st *certificatesv1.PodCertificateRequestStatus) {
			st.BeginRefreshAt = shift(st.NotAfter, -9*time.Minute)
		}},
		"no beginRefreshAt":       {mutate: func(st *certificatesv1.PodCertificateRequestStatus) { st.BeginRefreshAt = nil }},
		"lifetime over max":       {maxExp: 3600},
		"other key":               {key: other.Public()},
		"notBefore 6 minutes old": {now: now.Add(6*time.Minute + s.o.NotBeforeSkew)},
		"no condition":            {mutate: func(st *certificatesv1.PodCertificateRequestStatus) { st.Conditions = nil }},
		"condition status False":  {mutate: func(st *certificatesv1.PodCertificateRequestStatus) { st.Conditions[0].Status = metav1.ConditionFalse }},
		"two conditions": {mutate: func(st *certificatesv1.PodCertificateRequestStatus) {
			st.Conditions = append(st.Conditions, st.Conditions[0])
		}},
		"bad reason": {mutate: func(st *certificatesv1.PodCertificateRequestStatus) { st.Conditions[0].Reason = "no spaces" }},
		"not a CERTIFICATE block": {mutate: func(st *certificatesv1.PodCertificateRequestStatus) {
			st.CertificateChain += "-----BEGIN KEY-----\nAA==\n-----END KEY-----\n"
		}},
		"empty chain":              {mutate: func(st *certificatesv1.PodCertificateRequestStatus) { st.CertificateChain = "" }},
		"condition is Denied type": {mutate: func(st *certificatesv1.PodCertificateRequestStatus) { st.Conditions[0].Type = DecisionDenied }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st := *good.DeepCopy()
			if tc.mutate != nil {
				tc.mutate(&st)
			}
			maxExp, k, at := int32(86400), crypto.PublicKey(key.Public()), now
			if tc.maxExp != 0 {
				maxExp = tc.maxExp
			}
			if tc.key != nil {
				k = tc.key
			}
			if !tc.now.IsZero() {
				at = tc.now
			}
			if _, _, err := checkIssuedStatus(st, maxExp, k, at); err == nil {
				t.Fatal("bad status accepted")
			} else {
				t.Logf("rejected: %v", err)
			}
		})
	}
}

func TestV1beta1ProofOfPossession(t *testing.T) {
	c := newCluster("ed", "ec", "rsa", "stub", "bad")
	cases := []struct {
		pod, kind string
		wrongUID  bool
		stub      bool
	}{
		{pod: "ed", kind: "ED25519"},
		{pod: "ec", kind: "ECDSAP384"},
		{pod: "rsa", kind: "RSA3072"},
		{pod: "stub", kind: "ECDSAP256", stub: true},
		{pod: "bad", kind: "ECDSAP256", wrongUID: true},
	}
	objs := c.objects()
	keys := map[string]crypto.Signer{}
	for _, tc := range cases {
		key := genKey(t, tc.kind)
		keys[tc.pod] = key
		spec := c.spec(tc.pod)
		if tc.stub {
			spec.StubPKCS10Request = stubRequest(t, key)
			objs = append(objs, pcrV1beta1("req-"+tc.pod, spec, nil, nil))
			continue
		}
		uid := spec.PodUID
		if tc.wrongUID {
			uid = "some-other-pod-uid"
		}
		pkix, pop := proof(t, key, uid)
		objs = append(objs, pcrV1beta1("req-"+tc.pod, spec, pkix, pop))
	}
	cs := fake.NewClientset(objs...)
	s := start(t, cs, Options{APIVersion: "v1beta1"})
	for _, tc := range cases {
		t.Run(tc.pod, func(t *testing.T) {
			r := wantResult(t, s, tc.pod)
			o, err := cs.CertificatesV1beta1().PodCertificateRequests(testNS).Get(context.Background(), "req-"+tc.pod, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st := certificatesv1.PodCertificateRequestStatus{Conditions: o.Status.Conditions, CertificateChain: o.Status.CertificateChain,
				NotBefore: o.Status.NotBefore, BeginRefreshAt: o.Status.BeginRefreshAt, NotAfter: o.Status.NotAfter}
			if tc.wrongUID {
				if r.Decision != DecisionDenied || r.Reason != "InvalidProofOfPossession" {
					t.Fatalf("proof over another UID: %s %s", r.Decision, r.Reason)
				}
				if err := checkTerminalStatus(st, DecisionDenied); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantForm := FormPKIXProof
			if tc.stub {
				wantForm = FormStubPKCS10
			}
			if r.Decision != DecisionIssued || r.Form != wantForm {
				t.Fatalf("got %s %s (%s), form %s", r.Decision, r.Reason, r.Message, r.Form)
			}
			leaf, inter, err := checkIssuedStatus(st, 86400, keys[tc.pod].Public(), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyChain(s, leaf, inter); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestIdentityMismatchDenied(t *testing.T) {
	names := []string{"pod-uid", "sa-uid", "node-uid", "sa-name", "node-name", "no-pod", "no-sa", "no-node"}
	c := newCluster(names...)
	key := genKey(t, "ED25519")
	stub := stubRequest(t, key)
	want := map[string]string{}
	objs := c.objects()
	for _, n := range names {
		spec := c.spec(n)
		spec.StubPKCS10Request = stub
		switch n {
		case "pod-uid":
			spec.PodUID, want[n] = "wrong", "PodUIDMismatch"
		case "sa-uid":
			spec.ServiceAccountUID, want[n] = "wrong", "ServiceAccountUIDMismatch"
		case "node-uid":
			spec.NodeUID, want[n] = "wrong", "NodeUIDMismatch"
		case "sa-name":
			c.pods[n].Spec.ServiceAccountName, want[n] = "other", "ServiceAccountNameMismatch"
		case "node-name":
			c.pods[n].Spec.NodeName, want[n] = "node-b", "NodeNameMismatch"
		case "no-pod":
			spec.PodName, want[n] = "gone", "PodNotFound"
		case "no-sa":
			c.pods[n].Spec.ServiceAccountName, spec.ServiceAccountName, want[n] = "ghost", "ghost", "ServiceAccountNotFound"
		case "no-node":
			c.pods[n].Spec.NodeName, spec.NodeName, want[n] = "node-z", "node-z", "NodeNotFound"
		}
		objs = append(objs, pcrV1("req-"+n, spec))
	}
	cs := fake.NewClientset(objs...)
	s := start(t, cs, Options{})
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			pod := n
			if n == "no-pod" {
				pod = "gone"
			}
			r := wantResult(t, s, pod)
			if r.Decision != DecisionDenied || r.Reason != want[n] {
				t.Fatalf("got %s %s (%s), want Denied %s", r.Decision, r.Reason, r.Message, want[n])
			}
			if err := checkTerminalStatus(getV1(t, cs, "req-"+n).Status, DecisionDenied); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s", r.Reason, r.Message)
		})
	}
}

func TestDecisionOnRequest(t *testing.T) {
	cases := map[string]struct{ decision, reason string }{
		"deny":  {DecisionDenied, "DeniedOnRequest"},
		"fail":  {DecisionFailed, "FailedOnRequest"},
		"maybe": {DecisionDenied, "InvalidUnverifiedUserAnnotations"},
		"issue": {DecisionIssued, "Issued"},
		"hook":  {DecisionFailed, "HookSaysSo"},
	}
	var names []string
	for n := range cases {
		names = append(names, n)
	}
	c := newCluster(names...)
	stub := stubRequest(t, genKey(t, "ECDSAP256"))
	objs := c.objects()
	for _, n := range names {
		spec := c.spec(n)
		spec.StubPKCS10Request = stub
		spec.UnverifiedUserAnnotations = map[string]string{"example.com/other": "kept"}
		if n != "hook" {
			spec.UnverifiedUserAnnotations[DecisionAnnotation] = n
		}
		objs = append(objs, pcrV1("req-"+n, spec))
	}
	cs := fake.NewClientset(objs...)
	s := start(t, cs, Options{Decide: func(r Request) (string, string, string) {
		if r.PodName == "hook" {
			return DecisionFailed, "HookSaysSo", "the test hook failed it"
		}
		return "", "", ""
	}})
	for n, want := range cases {
		t.Run(n, func(t *testing.T) {
			r := wantResult(t, s, n)
			if r.Decision != want.decision || r.Reason != want.reason {
				t.Fatalf("got %s %s (%s), want %s %s", r.Decision, r.Reason, r.Message, want.decision, want.reason)
			}
			if r.UnverifiedUserAnnotations["example.com/other"] != "kept" {
				t.Errorf("annotations not kept in Result: %v", r.UnverifiedUserAnnotations)
			}
			if want.decision == DecisionIssued {
				return
			}
			if err := checkTerminalStatus(getV1(t, cs, "req-"+n).Status, want.decision); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestValidity(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 987654321, time.UTC)
	base := Options{NotBeforeSkew: 2 * time.Minute, Lifetime: 24 * time.Hour}
	with := func(f func(*Options)) Options { o := base; f(&o); return o }
	nb := time.Date(2026, 5, 1, 11, 58, 0, 0, time.UTC)
	cases := map[string]struct {
		o             Options
		maxExp        int32
		nb, br, na    time.Time
		lifetimeFails bool
	}{
		"defaults":           {o: base, maxExp: 86400, nb: nb, na: nb.Add(24 * time.Hour), br: nb.Add(24*time.Hour - 30*time.Minute)},
		"capped by max":      {o: with(func(o *Options) { o.Lifetime = 48 * time.Hour }), maxExp: 7200, nb: nb, na: nb.Add(2 * time.Hour), br: nb.Add(90 * time.Minute)},
		"refresh too early":  {o: with(func(o *Options) { o.RefreshAfter = time.Minute }), maxExp: 86400, nb: nb, na: nb.Add(24 * time.Hour), br: nb.Add(10 * time.Minute)},
		"refresh too late":   {o: with(func(o *Options) { o.RefreshAfter = 100 * time.Hour }), maxExp: 86400, nb: nb, na: nb.Add(24 * time.Hour), br: nb.Add(24*time.Hour - 10*time.Minute)},
		"refresh as asked":   {o: with(func(o *Options) { o.RefreshAfter = time.Hour }), maxExp: 86400, nb: nb, na: nb.Add(24 * time.Hour), br: nb.Add(time.Hour)},
		"earliest skew":      {o: with(func(o *Options) { o.NotBeforeSkew = 4*time.Minute + 30*time.Second }), maxExp: 86400, nb: nb.Add(-150 * time.Second), na: nb.Add(-150*time.Second + 24*time.Hour), br: nb.Add(-150*time.Second + 24*time.Hour - 30*time.Minute)},
		"one hour":           {o: with(func(o *Options) { o.Lifetime = time.Hour }), maxExp: 86400, nb: nb, na: nb.Add(time.Hour), br: nb.Add(30 * time.Minute)},
		"max below one hour": {o: base, maxExp: 1800, lifetimeFails: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			gotNB, gotBR, gotNA, ok := validity(tc.o, now, tc.maxExp)
			if ok == tc.lifetimeFails {
				t.Fatalf("ok = %v", ok)
			}
			if !ok {
				return
			}
			if !gotNB.Equal(tc.nb) || !gotBR.Equal(tc.br) || !gotNA.Equal(tc.na) {
				t.Fatalf("got nb %v br %v na %v, want %v %v %v", gotNB, gotBR, gotNA, tc.nb, tc.br, tc.na)
			}
		})
	}
}

func TestLifetimeCappedEndToEnd(t *testing.T) {
	c := newCluster("p")
	key := genKey(t, "ED25519")
	spec := c.spec("p")
	spec.StubPKCS10Request = stubRequest(t, key)
	spec.MaxExpirationSeconds = ptr(int32(3 * 3600))
	cs := fake.NewClientset(append(c.objects(), pcrV1("req", spec))...)
	s := start(t, cs, Options{Lifetime: 72 * time.Hour, RefreshAfter: time.Minute, NotBeforeSkew: 4*time.Minute + 30*time.Second})
	wantResult(t, s, "p")
	o := getV1(t, cs, "req")
	leaf, _, err := checkIssuedStatus(o.Status, 3*3600, key.Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life != 3*time.Hour {
		t.Errorf("lifetime %v, want maxExpirationSeconds 3h", life)
	}
	if br := o.Status.BeginRefreshAt.Time; !br.Equal(leaf.NotBefore.Add(10 * time.Minute)) {
		t.Errorf("beginRefreshAt %v, want clamped to notBefore+10m", br)
	}
	if age := time.Since(leaf.NotBefore); age < 4*time.Minute+29*time.Second || age > 4*time.Minute+40*time.Second {
		t.Errorf("notBefore %v ago, want about 4m30s", age)
	}
}

func TestIgnoresOtherSignerAndTerminal(t *testing.T) {
	c := newCluster("mine", "theirs", "done")
	stub := stubRequest(t, genKey(t, "ED25519"))
	mine, theirs, done := c.spec("mine"), c.spec("theirs"), c.spec("done")
	mine.StubPKCS10Request, theirs.StubPKCS10Request, done.StubPKCS10Request = stub, stub, stub
	theirs.SignerName = "other.example.com/signer"
	doneReq := pcrV1("req-done", done)
	doneReq.Status.Conditions = []metav1.Condition{{Type: DecisionDenied, Status: metav1.ConditionTrue, Reason: "ByOthers", LastTransitionTime: metav1.Now()}}
	cs := fake.NewClientset(append(c.objects(), pcrV1("req-theirs", theirs), doneReq, pcrV1("req-mine", mine))...)
	s := start(t, cs, Options{})
	if r := wantResult(t, s, "mine"); r.Decision != DecisionIssued {
		t.Fatalf("mine: %s %s", r.Decision, r.Message)
	}
	_, err := s.WaitResult(context.Background(), testNS, "done", 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "already Denied, not by this signer") {
		t.Errorf("terminal request: %v", err)
	}
	_, err = s.WaitResult(context.Background(), testNS, "theirs", 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no request of this pod") {
		t.Errorf("other signer's request: %v", err)
	}
	for _, r := range s.Results() {
		if r.PodName != "mine" {
			t.Errorf("decided %s/%s", r.Namespace, r.Name)
		}
	}
	if st := getV1(t, cs, "req-theirs").Status; len(st.Conditions) != 0 || st.CertificateChain != "" {
		t.Errorf("other signer's request touched: %+v", st)
	}
	if st := getV1(t, cs, "req-done").Status; len(st.Conditions) != 1 || st.Conditions[0].Reason != "ByOthers" {
		t.Errorf("terminal request touched: %+v", st)
	}
}

func TestConflictRetriedAndErrorsReported(t *testing.T) {
	c := newCluster("conflict", "flaky")
	stub := stubRequest(t, genKey(t, "ECDSAP256"))
	a, b := c.spec("conflict"), c.spec("flaky")
	a.StubPKCS10Request, b.StubPKCS10Request = stub, stub
	cs := fake.NewClientset(append(c.objects(), pcrV1("req-conflict", a), pcrV1("req-flaky", b))...)
	var conflicts, podErrors atomic.Int32
	cs.PrependReactor("update", "podcertificaterequests", func(act k8stesting.Action) (bool, runtime.Object, error) {
		u := act.(k8stesting.UpdateAction)
		if u.GetSubresource() == "status" && u.GetObject().(*certificatesv1.PodCertificateRequest).Name == "req-conflict" && conflicts.Add(1) == 1 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "certificates.k8s.io", Resource: "podcertificaterequests"}, "req-conflict", errors.New("stale"))
		}
		return false, nil, nil
	})
	cs.PrependReactor("get", "pods", func(act k8stesting.Action) (bool, runtime.Object, error) {
		if act.(k8stesting.GetAction).GetName() == "flaky" && podErrors.Add(1) <= 3 {
			return true, nil, apierrors.NewInternalError(errors.New("etcd is sad"))
		}
		return false, nil, nil
	})
	s := start(t, cs, Options{})
	if r := wantResult(t, s, "conflict"); r.Decision != DecisionIssued {
		t.Fatalf("conflict: %s %s", r.Decision, r.Message)
	}
	if conflicts.Load() < 2 {
		t.Errorf("status written %d times, want a retry after the conflict", conflicts.Load())
	}
	// The first attempts fail; a short wait reports why, a longer one sees it issued.
	if _, err := s.WaitResult(context.Background(), testNS, "flaky", 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "etcd is sad") {
		t.Errorf("short wait: %v", err)
	}
	if r := wantResult(t, s, "flaky"); r.Decision != DecisionIssued {
		t.Fatalf("flaky: %s %s", r.Decision, r.Message)
	}
}

func TestRequestCreatedAfterRun(t *testing.T) {
	c := newCluster("late")
	cs := fake.NewClientset(c.objects()...)
	s := start(t, cs, Options{})
	spec := c.spec("late")
	spec.StubPKCS10Request = stubRequest(t, genKey(t, "ED25519"))
	if _, err := cs.CertificatesV1().PodCertificateRequests(testNS).Create(context.Background(), pcrV1("req-late", spec), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := wantResult(t, s, "late"); r.Decision != DecisionIssued {
		t.Fatalf("late: %s %s", r.Decision, r.Message)
	}
	s.Stop()
	s.Stop() // twice is harmless
}

func TestNewRejectsBadOptions(t *testing.T) {
	cs := fake.NewClientset()
	for name, o := range map[string]Options{
		"no signer":      {},
		"bad signer":     {SignerNames: []string{"noslash"}},
		"bad version":    {SignerNames: []string{testSigner}, APIVersion: "v2"},
		"skew 5m":        {SignerNames: []string{testSigner}, NotBeforeSkew: 5 * time.Minute},
		"lifetime 30m":   {SignerNames: []string{testSigner}, Lifetime: 30 * time.Minute},
		"refresh before": {SignerNames: []string{testSigner}, RefreshAfter: -time.Minute},
	} {
		if _, err := New(cs, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTrustBundleAndClusterRole(t *testing.T) {
	if got := TrustBundleName("example.com/a/b"); got != "example.com:a:b:primary-bundle" {
		t.Errorf("TrustBundleName = %s", got)
	}
	ctx := context.Background()
	for _, version := range []string{"v1", "v1beta1"} {
		t.Run(version, func(t *testing.T) {
			cs := fake.NewClientset()
			s, err := New(cs, Options{SignerNames: []string{testSigner}, APIVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			ctb := s.TrustBundle(testSigner, map[string]string{"a": "1"})
			if ctb.Name != TrustBundleName(testSigner) || ctb.Spec.SignerName != testSigner || ctb.Spec.TrustBundle != string(s.RootPEM()) || ctb.Labels["a"] != "1" {
				t.Fatalf("TrustBundle = %+v", ctb)
			}
			for _, labels := range []map[string]string{{"a": "1"}, {"a": "2"}} { // create, then update
				if err := s.PublishTrustBundle(ctx, testSigner, labels); err != nil {
					t.Fatal(err)
				}
			}
			var gotLabels map[string]string
			var gotSpec certificatesv1beta1.ClusterTrustBundleSpec
			if version == "v1" {
				o, err := cs.CertificatesV1().ClusterTrustBundles().Get(ctx, ctb.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				gotLabels, gotSpec = o.Labels, certificatesv1beta1.ClusterTrustBundleSpec{SignerName: o.Spec.SignerName, TrustBundle: o.Spec.TrustBundle}
			} else {
				o, err := cs.CertificatesV1beta1().ClusterTrustBundles().Get(ctx, ctb.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				gotLabels, gotSpec = o.Labels, o.Spec
			}
			if gotLabels["a"] != "2" || gotSpec.SignerName != testSigner || gotSpec.TrustBundle != string(s.RootPEM()) {
				t.Errorf("published %v %+v", gotLabels, gotSpec)
			}
			if err := s.DeleteTrustBundle(ctx, testSigner); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteTrustBundle(ctx, testSigner); err != nil {
				t.Fatalf("second delete: %v", err)
			}
		})
	}

	cr := ClusterRole("signer", []string{testSigner})
	has := func(group, resource, verb, name string) bool {
		for _, r := range cr.Rules {
			if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) &&
				(name == "" && len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name)) {
				return true
			}
		}
		return false
	}
	const g = "certificates.k8s.io"
	for _, want := range [][4]string{
		{g, "podcertificaterequests", "get", ""}, {g, "podcertificaterequests", "list", ""}, {g, "podcertificaterequests", "watch", ""},
		{g, "podcertificaterequests/status", "update", ""},
		{g, "signers", "sign", testSigner}, {g, "signers", "attest", testSigner},
		{g, "clustertrustbundles", "create", ""}, {g, "clustertrustbundles", "update", ""}, {g, "clustertrustbundles", "delete", ""}, {g, "clustertrustbundles", "get", ""},
		{"", "pods", "get", ""}, {"", "serviceaccounts", "get", ""}, {"", "nodes", "get", ""},
	} {
		if !has(want[0], want[1], want[2], want[3]) {
			t.Errorf("ClusterRole lacks %v", want)
		}
	}
	for _, r := range cr.Rules {
		if slices.Contains(r.Resources, "signers") && len(r.ResourceNames) == 0 {
			t.Errorf("signers rule for any name: %+v", r)
		}
	}
}

func TestIdentityReadsOnlyItsShape(t *testing.T) {
	leaf := func(cn string, uris ...string) *x509.Certificate {
		c := &x509.Certificate{Subject: pkix.Name{CommonName: cn}}
		for _, u := range uris {
			parsed, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			c.URIs = append(c.URIs, parsed)
		}
		return c
	}
	if ns, sa, pod, ok := Identity(leaf("p", SPIFFEID("a", "b"))); !ok || ns != "a" || sa != "b" || pod != "p" {
		t.Errorf("own shape: %q %q %q %v", ns, sa, pod, ok)
	}
	for name, c := range map[string]*x509.Certificate{
		"nil":          nil,
		"no pod":       leaf("", SPIFFEID("a", "b")),
		"two URIs":     leaf("p", SPIFFEID("a", "b"), SPIFFEID("a", "c")),
		"other domain": leaf("p", "spiffe://example.org/ns/a/sa/b"),
		"other path":   leaf("p", "spiffe://cluster.local/ns/a/b"),
		"not spiffe":   leaf("p", "https://cluster.local/ns/a/sa/b"),
	} {
		if _, _, _, ok := Identity(c); ok {
			t.Errorf("%s accepted", name)
		}
	}
	if _, ok := PodUID(nil); ok {
		t.Error("PodUID of nil accepted")
	}
}
