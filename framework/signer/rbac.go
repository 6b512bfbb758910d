package signer

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TrustBundleName is the name of the signer-linked ClusterTrustBundle of
// signerName: the API requires the prefix "<signer name, / replaced by :>:".
func TrustBundleName(signerName string) string {
	return strings.ReplaceAll(signerName, "/", ":") + ":primary-bundle"
}

// TrustBundle is the root as a ClusterTrustBundle linked to signerName.
func (s *Signer) TrustBundle(signerName string, labels map[string]string) *certificatesv1.ClusterTrustBundle {
	return &certificatesv1.ClusterTrustBundle{
		ObjectMeta: metav1.ObjectMeta{Name: TrustBundleName(signerName), Labels: maps.Clone(labels)},
		Spec: certificatesv1.ClusterTrustBundleSpec{
			SignerName:  signerName,
			TrustBundle: string(s.RootPEM()),
		},
	}
}

// PublishTrustBundle creates TrustBundle(signerName, labels), or updates
// the one already there, in the signer's API version. It needs verb attest
// on the signer name.
func (s *Signer) PublishTrustBundle(ctx context.Context, signerName string, labels map[string]string) error {
	want := s.TrustBundle(signerName, labels)
	var err error
	if s.o.APIVersion == "v1beta1" {
		err = publishV1beta1(ctx, s, want)
	} else {
		err = publishV1(ctx, s, want)
	}
	if err != nil {
		return fmt.Errorf("signer: publish ClusterTrustBundle %s: %w", want.Name, err)
	}
	return nil
}

func publishV1(ctx context.Context, s *Signer, want *certificatesv1.ClusterTrustBundle) error {
	c := s.cs.CertificatesV1().ClusterTrustBundles()
	_, err := c.Create(ctx, want, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur, err := c.Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cur.Labels, cur.Spec = want.Labels, want.Spec
	_, err = c.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

func publishV1beta1(ctx context.Context, s *Signer, want *certificatesv1.ClusterTrustBundle) error {
	c := s.cs.CertificatesV1beta1().ClusterTrustBundles()
	spec := certificatesv1beta1.ClusterTrustBundleSpec{SignerName: want.Spec.SignerName, TrustBundle: want.Spec.TrustBundle}
	_, err := c.Create(ctx, &certificatesv1beta1.ClusterTrustBundle{ObjectMeta: want.ObjectMeta, Spec: spec}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur, err := c.Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cur.Labels, cur.Spec = want.Labels, spec
	_, err = c.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

// DeleteTrustBundle deletes the ClusterTrustBundle of signerName; one
// already gone is no error.
func (s *Signer) DeleteTrustBundle(ctx context.Context, signerName string) error {
	name := TrustBundleName(signerName)
	var err error
	if s.o.APIVersion == "v1beta1" {
		err = s.cs.CertificatesV1beta1().ClusterTrustBundles().Delete(ctx, name, metav1.DeleteOptions{})
	} else {
		err = s.cs.CertificatesV1().ClusterTrustBundles().Delete(ctx, name, metav1.DeleteOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("signer: delete ClusterTrustBundle %s: %w", name, err)
	}
	return nil
}

// ClusterRole is exactly what a signer of signerNames needs: read the
// requests and write their status, sign for the signer names, attest them
// (to publish their ClusterTrustBundles), manage those bundles, and read
// the pods, service accounts and nodes the requests name.
func ClusterRole(name string, signerNames []string) *rbacv1.ClusterRole {
	const group = "certificates.k8s.io"
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{group}, Resources: []string{"podcertificaterequests"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{group}, Resources: []string{"podcertificaterequests/status"}, Verbs: []string{"update"}},
			{APIGroups: []string{group}, Resources: []string{"signers"}, ResourceNames: slices.Clone(signerNames), Verbs: []string{"sign"}},
			{APIGroups: []string{group}, Resources: []string{"signers"}, ResourceNames: slices.Clone(signerNames), Verbs: []string{"attest"}},
			{APIGroups: []string{group}, Resources: []string{"clustertrustbundles"}, Verbs: []string{"create", "update", "delete", "get"}},
			{APIGroups: []string{""}, Resources: []string{"pods", "serviceaccounts", "nodes"}, Verbs: []string{"get"}},
		},
	}
}
