package steps

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/token"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// SuiteKey is the service-account signing key the suite generated for the
// cluster's profile (clusters.Profile.ServiceAccountKey).
func SuiteKey(c *Cluster) (crypto.Signer, error) {
	if c.FilesDir == "" {
		return nil, fmt.Errorf("cluster %s has no suite-generated service-account key (not a kind cluster of a profile with one)", c.Name)
	}
	return cluster.ServiceAccountKey(c.FilesDir)
}

// NodePublicKey reads a PKIX public key file of the control-plane node, such
// as kubeadm's sa.pub (clusters.KubeadmPublicKeyFile).
func NodePublicKey(ctx context.Context, c *Cluster, file string) (crypto.PublicKey, error) {
	data, err := ReadNodeFile(ctx, c, file)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%s on node %s: no PUBLIC KEY block", file, c.Node)
	}
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s on node %s: %w", file, c.Node, err)
	}
	return pub, nil
}

// KubeadmKey is kubeadm's service-account public key on the node, with which
// kube-controller-manager signs legacy Secret tokens.
func KubeadmKey(ctx context.Context, c *Cluster) (crypto.PublicKey, error) {
	return NodePublicKey(ctx, c, clusters.KubeadmPublicKeyFile)
}

// Mint describes a token the suite signs itself, as kube-apiserver would for
// a ServiceAccount (bound to nothing else).
type Mint struct {
	Issuer         string
	Audiences      []string
	ServiceAccount *corev1.ServiceAccount
	// Lifetime is exp - iat (0: ten minutes).
	Lifetime time.Duration
}

// MintToken signs a token for the ServiceAccount with key, with the claims
// kube-apiserver puts in an unbound TokenRequest token.
func MintToken(key crypto.Signer, m Mint) (string, error) {
	if m.Lifetime == 0 {
		m.Lifetime = 10 * time.Minute
	}
	now := time.Now().Truncate(time.Second)
	sa := m.ServiceAccount
	claims := &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    m.Issuer,
			Subject:   "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
			Audience:  jwt.ClaimStrings(m.Audiences),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(m.Lifetime)),
			ID:        uuid.NewString(),
		},
		Kubernetes: token.KubernetesClaims{
			Namespace:      sa.Namespace,
			ServiceAccount: token.Ref{Name: sa.Name, UID: string(sa.UID)},
		},
	}
	return token.Sign(key, claims)
}

// ServiceAccount reads a ServiceAccount (a minted token names its UID).
func ServiceAccount(ctx context.Context, cs kubernetes.Interface, namespace, name string) (*corev1.ServiceAccount, error) {
	ctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	sa, err := cs.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get serviceaccount %s/%s: %w", namespace, name, err)
	}
	return sa, nil
}

// WaitTokenSecret waits until the token controller has filled in a
// kubernetes.io/service-account-token Secret (ca.crt, namespace, token).
func WaitTokenSecret(ctx context.Context, cs kubernetes.Interface, namespace, name string, timeout time.Duration) (*corev1.Secret, error) {
	var sec *corev1.Secret
	err := wait.For(ctx, "the token controller to fill in Secret "+name, wait.Options{Timeout: timeout, Interval: 500 * time.Millisecond},
		func(ctx context.Context) (bool, string, error) {
			s, err := cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			sec = s
			return len(s.Data["ca.crt"]) > 0 && len(s.Data["token"]) > 0 && len(s.Data["namespace"]) > 0, fmt.Sprintf("keys %d", len(s.Data)), nil
		})
	return sec, err
}
