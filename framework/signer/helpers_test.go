package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

const (
	testSigner = "test.kube-identity-conformance.io/pods"
	testNS     = "ns1"
	testSA     = "workload"
	testNode   = "node-a"
	waitFor    = 10 * time.Second
)

// cluster is the API objects a request refers to.
type cluster struct {
	sa   *corev1.ServiceAccount
	node *corev1.Node
	pods map[string]*corev1.Pod
}

func newCluster(podNames ...string) *cluster {
	c := &cluster{
		sa:   &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: testSA, UID: "sa-uid-1"}},
		node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode, UID: "node-uid-1"}},
		pods: map[string]*corev1.Pod{},
	}
	for _, n := range podNames {
		c.pods[n] = &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: n, UID: types.UID("pod-uid-" + n)},
			Spec:       corev1.PodSpec{ServiceAccountName: testSA, NodeName: testNode},
		}
	}
	return c
}

func (c *cluster) objects() []runtime.Object {
	objs := []runtime.Object{c.sa, c.node}
	for _, p := range c.pods {
		objs = append(objs, p)
	}
	return objs
}

// spec is a v1 request spec for pod, as the kubelet fills it (without a key).
func (c *cluster) spec(pod string) certificatesv1.PodCertificateRequestSpec {
	p := c.pods[pod]
	return certificatesv1.PodCertificateRequestSpec{
		SignerName: testSigner,
		PodName:    p.Name, PodUID: p.UID,
		ServiceAccountName: c.sa.Name, ServiceAccountUID: c.sa.UID,
		NodeName: types.NodeName(c.node.Name), NodeUID: c.node.UID,
		MaxExpirationSeconds: ptr(int32(defaultMaxExpirationSeconds)),
	}
}

func ptr[T any](v T) *T { return &v }

func pcrV1(name string, spec certificatesv1.PodCertificateRequestSpec) *certificatesv1.PodCertificateRequest {
	return &certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, UID: types.UID("pcr-uid-" + name)},
		Spec:       spec,
	}
}

// pcrV1beta1 is spec as v1beta1, with the older key form when pkix is set.
func pcrV1beta1(name string, spec certificatesv1.PodCertificateRequestSpec, pkix, pop []byte) *certificatesv1beta1.PodCertificateRequest {
	return &certificatesv1beta1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, UID: types.UID("pcr-uid-" + name)},
		Spec: certificatesv1beta1.PodCertificateRequestSpec{
			SignerName: spec.SignerName, PodName: spec.PodName, PodUID: spec.PodUID,
			ServiceAccountName: spec.ServiceAccountName, ServiceAccountUID: spec.ServiceAccountUID,
			NodeName: spec.NodeName, NodeUID: spec.NodeUID, MaxExpirationSeconds: spec.MaxExpirationSeconds,
			StubPKCS10Request: spec.StubPKCS10Request, UnverifiedUserAnnotations: spec.UnverifiedUserAnnotations,
			PKIXPublicKey: pkix, ProofOfPossession: pop,
		},
	}
}

// genKey makes a key of a type as the kubelet names it.
func genKey(t *testing.T, kind string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch kind {
	case "ED25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case "ECDSAP256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ECDSAP384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ECDSAP521":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "RSA3072":
		k, err = rsa.GenerateKey(rand.Reader, 3072)
	case "RSA4096":
		k, err = rsa.GenerateKey(rand.Reader, 4096)
	default:
		t.Fatalf("unknown key type %s", kind)
	}
	if err != nil {
		t.Fatalf("generate %s key: %v", kind, err)
	}
	return k
}

// stubRequest is the kubelet's stub PKCS#10 request: an empty template
// signed by key.
func stubRequest(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatalf("stub PKCS#10 request: %v", err)
	}
	return der
}

// proof is the v1beta1 proof of possession: a signature over uid.
func proof(t *testing.T, key crypto.Signer, uid types.UID) (pkix, pop []byte) {
	t.Helper()
	pkix, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatalf("marshal public key: %v", err)
	}
	digest := sha256.Sum256([]byte(uid))
	switch k := key.(type) {
	case ed25519.PrivateKey:
		pop = ed25519.Sign(k, []byte(uid))
	case *ecdsa.PrivateKey:
		pop, err = ecdsa.SignASN1(rand.Reader, k, digest[:])
	case *rsa.PrivateKey:
		pop, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, digest[:], nil)
	}
	if err != nil {
		t.Fatalf("proof of possession: %v", err)
	}
	return pkix, pop
}

// start runs a signer on cs and stops it when the test ends.
func start(t *testing.T, cs *fake.Clientset, o Options) *Signer {
	t.Helper()
	if o.SignerNames == nil {
		o.SignerNames = []string{testSigner}
	}
	o.Logf = t.Logf
	s, err := New(cs, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); s.Stop() })
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return s
}

func wantResult(t *testing.T, s *Signer, pod string) Result {
	t.Helper()
	r, err := s.WaitResult(context.Background(), testNS, pod, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func getV1(t *testing.T, cs *fake.Clientset, name string) *certificatesv1.PodCertificateRequest {
	t.Helper()
	o, err := cs.CertificatesV1().PodCertificateRequests(testNS).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get request %s: %v", name, err)
	}
	return o
}

var reasonRE = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`)

// checkCondition checks the one terminal condition the API allows.
func checkCondition(conds []metav1.Condition, want string) error {
	if len(conds) != 1 {
		return fmt.Errorf("want exactly one condition, got %d: %+v", len(conds), conds)
	}
	c := conds[0]
	var errs []error
	if c.Type != want {
		errs = append(errs, fmt.Errorf("condition type %q, want %q", c.Type, want))
	}
	if c.Status != metav1.ConditionTrue {
		errs = append(errs, fmt.Errorf("condition status %q, want True", c.Status))
	}
	if !reasonRE.MatchString(c.Reason) {
		errs = append(errs, fmt.Errorf("condition reason %q is not a valid reason", c.Reason))
	}
	if c.LastTransitionTime.IsZero() {
		errs = append(errs, errors.New("condition has no lastTransitionTime"))
	}
	return errors.Join(errs...)
}

// checkTerminalStatus checks a Denied or Failed status: the condition and
// nothing else.
func checkTerminalStatus(st certificatesv1.PodCertificateRequestStatus, want string) error {
	err := checkCondition(st.Conditions, want)
	if st.CertificateChain != "" || st.NotBefore != nil || st.BeginRefreshAt != nil || st.NotAfter != nil {
		err = errors.Join(err, fmt.Errorf("%s status has more than its condition: %+v", want, st))
	}
	return err
}

// checkIssuedStatus mirrors the API server's rules for a status that
// issues (pkg/apis/certificates/validation ValidatePodCertificateRequestStatusUpdate)
// for a request of maxExpirationSeconds and key wantKey, at API-server time
// now. It returns the leaf and the rest of the chain.
func checkIssuedStatus(st certificatesv1.PodCertificateRequestStatus, maxExpirationSeconds int32, wantKey crypto.PublicKey, now time.Time) (*x509.Certificate, []*x509.Certificate, error) {
	if err := checkCondition(st.Conditions, certificatesv1.PodCertificateRequestConditionTypeIssued); err != nil {
		return nil, nil, err
	}
	var certs []*x509.Certificate
	rest := []byte(st.CertificateChain)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, nil, fmt.Errorf("chain block %d is %q, want CERTIFICATE", len(certs), b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("chain block %d: %w", len(certs), err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, nil, errors.New("chain has no certificate")
	}
	leaf := certs[0]
	if k, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(wantKey) {
		return nil, nil, errors.New("leaf certificate was not issued to the requested public key")
	}
	if st.NotBefore == nil || st.NotAfter == nil || st.BeginRefreshAt == nil {
		return nil, nil, errors.New("notBefore, notAfter and beginRefreshAt must all be set")
	}
	nb, na, br := st.NotBefore.Time, st.NotAfter.Time, st.BeginRefreshAt.Time
	var errs []error
	if !nb.Equal(leaf.NotBefore) {
		errs = append(errs, fmt.Errorf("notBefore %v is not the leaf's %v", nb, leaf.NotBefore))
	}
	if !(nb.After(now.Add(-5*time.Minute)) && nb.Before(now.Add(5*time.Minute))) {
		errs = append(errs, fmt.Errorf("notBefore %v is not within 5 minutes of %v", nb, now))
	}
	if !na.Equal(leaf.NotAfter) {
		errs = append(errs, fmt.Errorf("notAfter %v is not the leaf's %v", na, leaf.NotAfter))
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	if life < time.Hour {
		errs = append(errs, fmt.Errorf("lifetime %v is under 1h", life))
	}
	if limit := time.Duration(maxExpirationSeconds) * time.Second; life > limit {
		errs = append(errs, fmt.Errorf("lifetime %v is over maxExpirationSeconds (%v)", life, limit))
	}
	if br.Before(nb.Add(10 * time.Minute)) {
		errs = append(errs, fmt.Errorf("beginRefreshAt %v is less than 10 minutes after notBefore", br))
	}
	if br.After(na.Add(-10 * time.Minute)) {
		errs = append(errs, fmt.Errorf("beginRefreshAt %v is less than 10 minutes before notAfter", br))
	}
	return leaf, certs[1:], errors.Join(errs...)
}

// verifyChain checks the chain verifies, leaf first, to s's root for both
// client and server use, and holds no root.
func verifyChain(s *Signer, leaf *x509.Certificate, inter []*x509.Certificate) error {
	pool := x509.NewCertPool()
	for _, c := range inter {
		if c.Equal(s.ca.root) {
			return errors.New("chain holds the root")
		}
		pool.AddCert(c)
	}
	if len(inter) != 1 || !inter[0].Equal(s.Intermediate()) {
		return fmt.Errorf("chain after the leaf is %d certificates, want the intermediate", len(inter))
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.RootPEM()) {
		return errors.New("RootPEM holds no certificate")
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			return fmt.Errorf("verify for usage %v: %w", u, err)
		}
	}
	return nil
}
