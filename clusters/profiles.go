package clusters

// All returns every profile the suite knows.
func All() []Profile {
	return []Profile{Default(), TokensLimits(), V136()}
}

// Default is the profile the suite runs unless told otherwise: the newest
// release, with the gates of every documented projection source on.
// ClusterTrustBundle, ClusterTrustBundleProjection and PodCertificateRequest
// are GA (on by default) in 1.37; setting them keeps the profile meaningful on
// older node images, where RuntimeConfig also serves their beta APIs.
func Default() Profile {
	return Profile{
		Name:              "default",
		Description:       "Kubernetes v1.37.2, kubeadm's default service-account issuer, trust-bundle and pod-certificate gates on",
		KubernetesVersion: "v1.37.2",
		FeatureGates: map[string]bool{
			"ClusterTrustBundle":           true,
			"ClusterTrustBundleProjection": true,
			"PodCertificateRequest":        true,
		},
	}
}

// V136 is the default profile on Kubernetes v1.36.3, the newest release on
// which ClusterTrustBundle and PodCertificateRequest are beta: their APIs are
// served at certificates.k8s.io/v1beta1 through runtime-config. kind
// generates kubeadm v1beta4 for it, as for 1.37.
func V136() Profile {
	p := Default()
	p.Name = "v1.36"
	p.Description = "Kubernetes v1.36.3, kubeadm's default service-account issuer, trust-bundle and pod-certificate gates and beta APIs on"
	p.KubernetesVersion = "v1.36.3"
	p.Base = "default"
	return p
}

// TokensLimits is the default profile with kube-apiserver's two token
// lifetime settings changed from their defaults (seed 002's
// extendTokenExpiration and maxTokenExpiration; seed 001/003's expiry
// rules): no 3607-second extension, and requests longer than two hours
// shortened to two hours. One profile holds both, because neither changes
// what the other's assertions see: the cap (7200 s) is above 3607 s.
func TokensLimits() Profile {
	p := Default()
	p.Name = "tokens-limits"
	p.Description = "Kubernetes v1.37.2, --service-account-extend-token-expiration=false, --service-account-max-token-expiration=2h"
	p.APIServerArgs = []Arg{
		{Name: "service-account-extend-token-expiration", Value: "false"},
		{Name: "service-account-max-token-expiration", Value: "2h"},
	}
	return p
}
