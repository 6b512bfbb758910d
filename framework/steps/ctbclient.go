package steps

import (
	"context"
	"fmt"

	certificatesv1 "k8s.io/api/certificates/v1"
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TrustBundleClient reads and writes ClusterTrustBundles at the version the
// cluster serves, in v1 types: certificates.k8s.io/v1 from 1.37,
// v1beta1 (through runtime-config) on 1.33-1.36. The two versions have the
// same fields (metadata, spec.signerName, spec.trustBundle), so one test
// runs unchanged on every release.
type TrustBundleClient struct {
	cs kubernetes.Interface
	// Version is v1 or v1beta1.
	Version string
}

// NewTrustBundleClient is the client for version (v1 or v1beta1).
func NewTrustBundleClient(cs kubernetes.Interface, version string) (TrustBundleClient, error) {
	switch version {
	case "v1", "v1beta1":
		return TrustBundleClient{cs: cs, Version: version}, nil
	}
	return TrustBundleClient{}, fmt.Errorf("ClusterTrustBundle API version %q: the suite speaks v1 and v1beta1", version)
}

// TrustBundles is the trust-bundle client of the feature's cluster, at the
// version DetectCapabilities found.
func TrustBundles(ctx context.Context) (TrustBundleClient, error) {
	return TrustBundlesAs(ctx, nil)
}

// TrustBundlesAs is TrustBundles through cs (an impersonating clientset);
// nil is the cluster's own.
func TrustBundlesAs(ctx context.Context, cs kubernetes.Interface) (TrustBundleClient, error) {
	c := ClusterFrom(ctx)
	if c == nil {
		return TrustBundleClient{}, fmt.Errorf("no cluster in the context (the runtime sets it for every feature)")
	}
	caps, err := DetectCapabilities(ctx, c)
	if err != nil {
		return TrustBundleClient{}, err
	}
	if !caps.TrustBundleAPI {
		return TrustBundleClient{}, fmt.Errorf("cluster %s serves ClusterTrustBundles at no version the suite speaks (served: %v)", c.Name, caps.TrustBundleVersions)
	}
	if cs == nil {
		cs = c.Clientset
	}
	return NewTrustBundleClient(cs, caps.TrustBundleVersion)
}

func (c TrustBundleClient) beta() bool { return c.Version == "v1beta1" }

// Create creates ctb.
func (c TrustBundleClient) Create(ctx context.Context, ctb *certificatesv1.ClusterTrustBundle, o metav1.CreateOptions) (*certificatesv1.ClusterTrustBundle, error) {
	if c.beta() {
		got, err := c.cs.CertificatesV1beta1().ClusterTrustBundles().Create(ctx, toV1beta1(ctb), o)
		return fromV1beta1(got), err
	}
	return c.cs.CertificatesV1().ClusterTrustBundles().Create(ctx, ctb, o)
}

// Get reads the bundle name.
func (c TrustBundleClient) Get(ctx context.Context, name string, o metav1.GetOptions) (*certificatesv1.ClusterTrustBundle, error) {
	if c.beta() {
		got, err := c.cs.CertificatesV1beta1().ClusterTrustBundles().Get(ctx, name, o)
		return fromV1beta1(got), err
	}
	return c.cs.CertificatesV1().ClusterTrustBundles().Get(ctx, name, o)
}

// Update writes ctb (its resourceVersion guards the write).
func (c TrustBundleClient) Update(ctx context.Context, ctb *certificatesv1.ClusterTrustBundle, o metav1.UpdateOptions) (*certificatesv1.ClusterTrustBundle, error) {
	if c.beta() {
		got, err := c.cs.CertificatesV1beta1().ClusterTrustBundles().Update(ctx, toV1beta1(ctb), o)
		return fromV1beta1(got), err
	}
	return c.cs.CertificatesV1().ClusterTrustBundles().Update(ctx, ctb, o)
}

// Delete deletes the bundle name.
func (c TrustBundleClient) Delete(ctx context.Context, name string, o metav1.DeleteOptions) error {
	if c.beta() {
		return c.cs.CertificatesV1beta1().ClusterTrustBundles().Delete(ctx, name, o)
	}
	return c.cs.CertificatesV1().ClusterTrustBundles().Delete(ctx, name, o)
}

// List lists bundles.
func (c TrustBundleClient) List(ctx context.Context, o metav1.ListOptions) (*certificatesv1.ClusterTrustBundleList, error) {
	if !c.beta() {
		return c.cs.CertificatesV1().ClusterTrustBundles().List(ctx, o)
	}
	got, err := c.cs.CertificatesV1beta1().ClusterTrustBundles().List(ctx, o)
	if err != nil {
		return nil, err
	}
	out := &certificatesv1.ClusterTrustBundleList{ListMeta: got.ListMeta}
	for i := range got.Items {
		out.Items = append(out.Items, *fromV1beta1(&got.Items[i]))
	}
	return out, nil
}

func toV1beta1(in *certificatesv1.ClusterTrustBundle) *certificatesv1beta1.ClusterTrustBundle {
	return &certificatesv1beta1.ClusterTrustBundle{
		ObjectMeta: *in.ObjectMeta.DeepCopy(),
		Spec:       certificatesv1beta1.ClusterTrustBundleSpec{SignerName: in.Spec.SignerName, TrustBundle: in.Spec.TrustBundle},
	}
}

func fromV1beta1(in *certificatesv1beta1.ClusterTrustBundle) *certificatesv1.ClusterTrustBundle {
	if in == nil {
		return nil
	}
	return &certificatesv1.ClusterTrustBundle{
		ObjectMeta: *in.ObjectMeta.DeepCopy(),
		Spec:       certificatesv1.ClusterTrustBundleSpec{SignerName: in.Spec.SignerName, TrustBundle: in.Spec.TrustBundle},
	}
}
