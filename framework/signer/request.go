package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	certinformersv1 "k8s.io/client-go/informers/certificates/v1"
	certinformersv1beta1 "k8s.io/client-go/informers/certificates/v1beta1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// The two forms in which a request names its public key.
const (
	// FormStubPKCS10 is a request whose spec.stubPKCS10Request holds a
	// PKCS#10 request signed by the pod's key (what the kubelet sends).
	FormStubPKCS10 = "stubPKCS10Request"
	// FormPKIXProof is the older v1beta1 form: spec.pkixPublicKey with
	// spec.proofOfPossession, a signature over the pod UID.
	FormPKIXProof = "pkixPublicKey+proofOfPossession"
)

// defaultMaxExpirationSeconds is what the API server puts in an unset
// spec.maxExpirationSeconds.
const defaultMaxExpirationSeconds = 86400

// Request is a PodCertificateRequest as the signer reads it, the same for
// every API version. Form, KeyType and PublicKey are set once the requested
// key has been parsed.
type Request struct {
	Namespace, Name           string
	UID                       types.UID
	SignerName                string
	PodName                   string
	PodUID                    types.UID
	ServiceAccountName        string
	ServiceAccountUID         types.UID
	NodeName                  string
	NodeUID                   types.UID
	MaxExpirationSeconds      int32
	UnverifiedUserAnnotations map[string]string
	Form                      string           // FormStubPKCS10 or FormPKIXProof
	KeyType                   string           // as the kubelet names it: ED25519, ECDSAP256, RSA3072, ...
	PublicKey                 crypto.PublicKey // the requested key
}

// pcr is one request of either API version together with what the signer
// needs to verify and update it.
type pcr struct {
	Request
	stub, pkix, pop []byte
	terminal        string // type of a terminal condition already set, or ""
	obj             any    // the API object, to update its status
}

func newPCR(meta metav1.ObjectMeta, spec certificatesv1.PodCertificateRequestSpec, conds []metav1.Condition, obj any) *pcr {
	maxExp := int32(defaultMaxExpirationSeconds)
	if spec.MaxExpirationSeconds != nil {
		maxExp = *spec.MaxExpirationSeconds
	}
	p := &pcr{
		Request: Request{
			Namespace: meta.Namespace, Name: meta.Name, UID: meta.UID,
			SignerName: spec.SignerName,
			PodName:    spec.PodName, PodUID: spec.PodUID,
			ServiceAccountName: spec.ServiceAccountName, ServiceAccountUID: spec.ServiceAccountUID,
			NodeName: string(spec.NodeName), NodeUID: spec.NodeUID,
			MaxExpirationSeconds:      maxExp,
			UnverifiedUserAnnotations: spec.UnverifiedUserAnnotations,
		},
		stub: spec.StubPKCS10Request,
		obj:  obj,
	}
	for _, c := range conds {
		switch c.Type {
		case certificatesv1.PodCertificateRequestConditionTypeIssued,
			certificatesv1.PodCertificateRequestConditionTypeDenied,
			certificatesv1.PodCertificateRequestConditionTypeFailed:
			if c.Status == metav1.ConditionTrue {
				p.terminal = c.Type
			}
		}
	}
	return p
}

func fromV1(o *certificatesv1.PodCertificateRequest) *pcr {
	return newPCR(o.ObjectMeta, o.Spec, o.Status.Conditions, o)
}

func fromV1beta1(o *certificatesv1beta1.PodCertificateRequest) *pcr {
	s := o.Spec
	p := newPCR(o.ObjectMeta, certificatesv1.PodCertificateRequestSpec{
		SignerName: s.SignerName, PodName: s.PodName, PodUID: s.PodUID,
		ServiceAccountName: s.ServiceAccountName, ServiceAccountUID: s.ServiceAccountUID,
		NodeName: s.NodeName, NodeUID: s.NodeUID,
		MaxExpirationSeconds: s.MaxExpirationSeconds, StubPKCS10Request: s.StubPKCS10Request,
		UnverifiedUserAnnotations: s.UnverifiedUserAnnotations,
	}, o.Status.Conditions, o)
	//nolint:staticcheck // SA1019: the deprecated form is still served by v1beta1.
	p.pkix, p.pop = s.PKIXPublicKey, s.ProofOfPossession
	return p
}

// parseKey reads the requested public key and verifies that the requester
// holds its private key. A non-empty reason means the request is denied.
func (p *pcr) parseKey() (reason, message string) {
	switch {
	case len(p.stub) > 0 && len(p.pkix) == 0 && len(p.pop) == 0:
		p.Form = FormStubPKCS10
		csr, err := x509.ParseCertificateRequest(p.stub)
		if err != nil {
			return "InvalidStubPKCS10Request", fmt.Sprintf("stubPKCS10Request is not a PKCS#10 request: %v", err)
		}
		if err := csr.CheckSignature(); err != nil {
			return "InvalidStubPKCS10Request", fmt.Sprintf("stubPKCS10Request signature does not verify: %v", err)
		}
		p.PublicKey = csr.PublicKey
	case len(p.stub) == 0 && len(p.pkix) > 0 && len(p.pop) > 0:
		p.Form = FormPKIXProof
		pub, err := x509.ParsePKIXPublicKey(p.pkix)
		if err != nil {
			return "InvalidPublicKey", fmt.Sprintf("pkixPublicKey is not a PKIX public key: %v", err)
		}
		p.PublicKey = pub
	default:
		return "InvalidRequest", "exactly one of stubPKCS10Request or (pkixPublicKey, proofOfPossession) must be set"
	}
	kt, err := keyType(p.PublicKey)
	if err != nil {
		return certificatesv1.PodCertificateRequestConditionUnsupportedKeyType,
			fmt.Sprintf("%v; supported: ED25519, ECDSAP256, ECDSAP384, ECDSAP521, RSA3072, RSA4096", err)
	}
	p.KeyType = kt
	if p.Form == FormPKIXProof {
		if err := verifyProof(p.PublicKey, p.PodUID, p.pop); err != nil {
			return "InvalidProofOfPossession", fmt.Sprintf("proofOfPossession is not a %s signature over the pod UID %q: %v", kt, p.PodUID, err)
		}
	}
	return "", ""
}

// keyType names a public key as the kubelet's projected volume does.
func keyType(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return "ED25519", nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ECDSAP256", nil
		case elliptic.P384():
			return "ECDSAP384", nil
		case elliptic.P521():
			return "ECDSAP521", nil
		}
		return "", fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if bits := k.Size() * 8; bits == 3072 || bits == 4096 {
			return fmt.Sprintf("RSA%d", bits), nil
		}
		return "", fmt.Errorf("unsupported RSA modulus of %d bits", k.Size()*8)
	}
	return "", fmt.Errorf("unsupported key type %T", pub)
}

// verifyProof checks a v1beta1 proof of possession: Ed25519 over the UID
// bytes, ECDSA (ASN.1) or RSA-PSS over their SHA-256 digest.
func verifyProof(pub crypto.PublicKey, podUID types.UID, sig []byte) error {
	msg := []byte(podUID)
	digest := sha256.Sum256(msg)
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, sig) {
			return errors.New("Ed25519 signature invalid")
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest[:], sig) {
			return errors.New("ECDSA signature invalid")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPSS(k, crypto.SHA256, digest[:], sig, nil); err != nil {
			return fmt.Errorf("RSA-PSS: %w", err)
		}
	default:
		return fmt.Errorf("unsupported key type %T", pub)
	}
	return nil
}

// api is what differs between the served versions of the resource.
type api interface {
	informer(signerName string) cache.SharedIndexInformer
	read(obj any) (*pcr, bool)
	get(ctx context.Context, namespace, name string) (*pcr, error)
	updateStatus(ctx context.Context, p *pcr, st certificatesv1.PodCertificateRequestStatus) error
}

func selectSigner(signerName string) func(*metav1.ListOptions) {
	return func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.signerName", signerName).String()
	}
}

type v1API struct{ cs kubernetes.Interface }

func (a v1API) informer(signerName string) cache.SharedIndexInformer {
	return certinformersv1.NewFilteredPodCertificateRequestInformer(a.cs, metav1.NamespaceAll, 0, cache.Indexers{}, selectSigner(signerName))
}

func (v1API) read(obj any) (*pcr, bool) {
	o, ok := obj.(*certificatesv1.PodCertificateRequest)
	if !ok {
		return nil, false
	}
	return fromV1(o), true
}

func (a v1API) get(ctx context.Context, namespace, name string) (*pcr, error) {
	o, err := a.cs.CertificatesV1().PodCertificateRequests(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get v1 PodCertificateRequest %s/%s: %w", namespace, name, err)
	}
	return fromV1(o), nil
}

func (a v1API) updateStatus(ctx context.Context, p *pcr, st certificatesv1.PodCertificateRequestStatus) error {
	o := p.obj.(*certificatesv1.PodCertificateRequest).DeepCopy()
	o.Status = st
	if _, err := a.cs.CertificatesV1().PodCertificateRequests(o.Namespace).UpdateStatus(ctx, o, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of v1 PodCertificateRequest %s/%s: %w", o.Namespace, o.Name, err)
	}
	return nil
}

type v1beta1API struct{ cs kubernetes.Interface }

func (a v1beta1API) informer(signerName string) cache.SharedIndexInformer {
	return certinformersv1beta1.NewFilteredPodCertificateRequestInformer(a.cs, metav1.NamespaceAll, 0, cache.Indexers{}, selectSigner(signerName))
}

func (v1beta1API) read(obj any) (*pcr, bool) {
	o, ok := obj.(*certificatesv1beta1.PodCertificateRequest)
	if !ok {
		return nil, false
	}
	return fromV1beta1(o), true
}

func (a v1beta1API) get(ctx context.Context, namespace, name string) (*pcr, error) {
	o, err := a.cs.CertificatesV1beta1().PodCertificateRequests(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get v1beta1 PodCertificateRequest %s/%s: %w", namespace, name, err)
	}
	return fromV1beta1(o), nil
}

func (a v1beta1API) updateStatus(ctx context.Context, p *pcr, st certificatesv1.PodCertificateRequestStatus) error {
	o := p.obj.(*certificatesv1beta1.PodCertificateRequest).DeepCopy()
	o.Status = certificatesv1beta1.PodCertificateRequestStatus{
		Conditions: st.Conditions, CertificateChain: st.CertificateChain,
		NotBefore: st.NotBefore, BeginRefreshAt: st.BeginRefreshAt, NotAfter: st.NotAfter,
	}
	if _, err := a.cs.CertificatesV1beta1().PodCertificateRequests(o.Namespace).UpdateStatus(ctx, o, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of v1beta1 PodCertificateRequest %s/%s: %w", o.Namespace, o.Name, err)
	}
	return nil
}
