package steps

import (
	"context"
	"fmt"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/token"
)

// TokenLifetimes is what a cluster's API server does with token lifetimes,
// detected by asking it (no flag is readable on an existing cluster).
type TokenLifetimes struct {
	// Extended: a pod-bound 3607 s token for the API audiences gets a
	// one-year exp (--service-account-extend-token-expiration).
	Extended bool
	// Max is the longest lifetime granted to an unbound request for 100
	// days (--service-account-max-token-expiration); 0 when not capped.
	Max time.Duration
}

const detectAsk = 100 * 24 * time.Hour

// DetectTokenLifetimes asks the cluster, once: it creates a throw-away
// namespace with a pod that is never scheduled (a TokenRequest may be bound
// to it all the same), requests a 3607 s token bound to that pod, and a
// 100-day token bound to nothing.
func DetectTokenLifetimes(ctx context.Context, c *Cluster, runID string) (TokenLifetimes, error) {
	v, err := c.Fact("token-lifetimes", func() (any, error) { return detectTokenLifetimes(ctx, c, runID) })
	if err != nil {
		return TokenLifetimes{}, err
	}
	return v.(TokenLifetimes), nil
}

func detectTokenLifetimes(ctx context.Context, c *Cluster, runID string) (TokenLifetimes, error) {
	var out TokenLifetimes
	cs := c.Clientset
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "kic-" + runID + "-detect-",
		Labels:       map[string]string{LabelSuite: "true", LabelRun: runID},
	}}, metav1.CreateOptions{})
	if err != nil {
		return out, fmt.Errorf("detect token lifetimes: create namespace: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), APITimeout)
		defer cancel()
		_ = cs.CoreV1().Namespaces().Delete(dctx, ns.Name, metav1.DeleteOptions{})
	}()
	if err := waitServiceAccount(ctx, cs, ns.Name, "default", ServiceAccountTimeout); err != nil {
		return out, err
	}
	pod, err := cs.CoreV1().Pods(ns.Name).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "detect"},
		Spec: corev1.PodSpec{
			SchedulerName: "kic-never-scheduled",
			Containers:    []corev1.Container{{Name: "c", Image: "kic.local/never-pulled"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return out, fmt.Errorf("detect token lifetimes: create pod: %w", err)
	}
	bound, err := RequestToken(ctx, c, ns.Name, "default", authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr(int64(3607)),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	})
	if err != nil {
		return out, fmt.Errorf("detect token lifetimes: %w", err)
	}
	claims, err := decodeOwn(bound.Request.Status.Token)
	if err != nil {
		return out, err
	}
	out.Extended = claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 3607*time.Second
	long, err := RequestToken(ctx, c, ns.Name, "default", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(detectAsk / time.Second))})
	if err != nil {
		return out, fmt.Errorf("detect token lifetimes: %w", err)
	}
	if got := time.Duration(*long.Request.Spec.ExpirationSeconds) * time.Second; got < detectAsk {
		out.Max = got
	}
	return out, nil
}

// decodeOwn reads the claims of a token this run just received from the API
// server over TLS: the channel, not the signature, vouches for it, and only
// its lifetime is read (to detect a setting), never judged.
func decodeOwn(raw string) (*token.Claims, error) {
	c, err := token.Decode(raw)
	if err != nil {
		return nil, err
	}
	if c.IssuedAt == nil || c.ExpiresAt == nil {
		return nil, fmt.Errorf("token %s from TokenRequest has no iat or exp", token.Fingerprint(raw))
	}
	return c, nil
}

// Capabilities is what a cluster offers the trust-bundle and pod-certificate
// areas, detected once per cluster.
type Capabilities struct {
	// TrustBundleAPI and PodCertificateAPI: certificates.k8s.io serves
	// clustertrustbundles / podcertificaterequests at a version the suite
	// speaks, TrustBundleVersion / PodCertificateVersion (v1, else v1beta1;
	// 1.34's v1alpha1 podcertificaterequests have no type in the client
	// libraries the suite is built with).
	TrustBundleAPI, PodCertificateAPI         bool
	TrustBundleVersion, PodCertificateVersion string
	// TrustBundleVersions and PodCertificateVersions are every version of
	// certificates.k8s.io serving clustertrustbundles /
	// podcertificaterequests, in discovery's order (preferred first): the
	// run's header prints them, since a v1beta1-only cluster reads as "API
	// not served" above.
	TrustBundleVersions, PodCertificateVersions []string
	// TrustBundleProjection and PodCertificateProjection: a pod's
	// clusterTrustBundle / podCertificate source survives admission. With
	// the gate off, kube-apiserver drops it silently (kubernetes-behaviour.md
	// section 0.9), so a dry-run create is read back.
	TrustBundleProjection, PodCertificateProjection bool
}

// DetectCapabilities asks the cluster, once: API discovery, and a
// server-side dry-run pod in namespace "default" carrying both sources.
func DetectCapabilities(ctx context.Context, c *Cluster) (Capabilities, error) {
	v, err := c.Fact("capabilities", func() (any, error) { return detectCapabilities(ctx, c) })
	if err != nil {
		return Capabilities{}, err
	}
	return v.(Capabilities), nil
}

func detectCapabilities(ctx context.Context, c *Cluster) (Capabilities, error) {
	var out Capabilities
	groups, err := c.Clientset.Discovery().ServerGroups()
	if err != nil {
		return out, fmt.Errorf("detect capabilities: discovery of the API groups: %w", err)
	}
	for _, g := range groups.Groups {
		if g.Name != "certificates.k8s.io" {
			continue
		}
		for _, v := range g.Versions {
			res, err := c.Clientset.Discovery().ServerResourcesForGroupVersion(v.GroupVersion)
			if err != nil && !apierrors.IsNotFound(err) {
				return out, fmt.Errorf("detect capabilities: discovery of %s: %w", v.GroupVersion, err)
			}
			if res == nil {
				continue
			}
			for _, r := range res.APIResources {
				switch r.Name {
				case "clustertrustbundles":
					out.TrustBundleVersions = append(out.TrustBundleVersions, v.Version)
				case "podcertificaterequests":
					out.PodCertificateVersions = append(out.PodCertificateVersions, v.Version)
				}
			}
		}
	}
	out.TrustBundleVersion = spokenVersion(out.TrustBundleVersions)
	out.PodCertificateVersion = spokenVersion(out.PodCertificateVersions)
	out.TrustBundleAPI = out.TrustBundleVersion != ""
	out.PodCertificateAPI = out.PodCertificateVersion != ""
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "kic-detect-"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "kic.local/never-pulled",
				VolumeMounts: []corev1.VolumeMount{{Name: "v", MountPath: "/v"}}}},
			Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Name: ptr("kic-detect"), Path: "ctb.pem", Optional: ptr(true)}},
				{PodCertificate: &corev1.PodCertificateProjection{SignerName: "kic.example/detect", KeyType: "ED25519", CredentialBundlePath: "cred.pem"}},
			}}}}},
		},
	}
	got, err := c.Clientset.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return out, fmt.Errorf("detect capabilities: dry-run pod with clusterTrustBundle and podCertificate sources: %w", err)
	}
	for _, v := range got.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			out.TrustBundleProjection = out.TrustBundleProjection || s.ClusterTrustBundle != nil
			out.PodCertificateProjection = out.PodCertificateProjection || s.PodCertificate != nil
		}
	}
	return out, nil
}

// NodeKubelet is a node and the kubelet version it reports.
type NodeKubelet struct {
	Node, Kubelet string
}

// KubeletVersions lists the cluster's nodes and the kubelet version each
// reports in its status (what the suite's projections depend on: the kubelet,
// not the API server, writes the projected files).
func KubeletVersions(ctx context.Context, c *Cluster) ([]NodeKubelet, error) {
	nodes, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	out := make([]NodeKubelet, 0, len(nodes.Items))
	for _, n := range nodes.Items {
		out = append(out, NodeKubelet{Node: n.Name, Kubelet: n.Status.NodeInfo.KubeletVersion})
	}
	return out, nil
}

// spokenVersion is the version of served ones the suite uses: v1, else
// v1beta1, else none.
func spokenVersion(served []string) string {
	for _, v := range []string{"v1", "v1beta1"} {
		if slices.Contains(served, v) {
			return v
		}
	}
	return ""
}
