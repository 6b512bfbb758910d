package clusters

import "strings"

// All returns every profile the suite knows.
func All() []Profile {
	return []Profile{Default(), TokensLimits(), V134(), V135(), V136(), ExistingV135(), Issuers(), IssuersV135EC(), IssuerMigration(), IssuerMigrationV135()}
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

// MatrixVersions are the releases the version matrix runs the default
// profile's features on (make matrix): the latest patch of every minor the
// suite supports, newest first. The newest is the default profile itself;
// each older one has a variant profile (DefaultOn).
var MatrixVersions = []string{"v1.37.2", "v1.36.3", "v1.35.4", "v1.34.4"}

// DefaultOn is the variant of the default profile on another release,
// named after its minor (v1.36): the same gates, the features of the
// default profile (Base), with the beta or alpha APIs of that release
// served through runtime-config (Profile.RuntimeConfig) and the kubeadm
// API kind generates for it (v1beta3 below 1.36).
func DefaultOn(version, served string) Profile {
	p := Default()
	minor := version
	if i := strings.LastIndex(version, "."); i > 0 {
		minor = version[:i]
	}
	p.Name = minor
	p.Description = "Kubernetes " + version + ", kubeadm's default service-account issuer, trust-bundle and pod-certificate gates and " + served + " APIs on"
	p.KubernetesVersion = version
	p.Base = "default"
	return p
}

// V136 is the default profile on Kubernetes v1.36.3, the newest release on
// which ClusterTrustBundle and PodCertificateRequest are beta: their APIs are
// served at certificates.k8s.io/v1beta1 through runtime-config. kind
// generates kubeadm v1beta4 for it, as for 1.37.
func V136() Profile { return DefaultOn("v1.36.3", "beta") }

// V135 is the default profile on Kubernetes v1.35.4: ClusterTrustBundle and
// PodCertificateRequest beta (v1beta1), kubeadm v1beta3.
func V135() Profile { return DefaultOn("v1.35.4", "beta") }

// V134 is the default profile on Kubernetes v1.34.4: ClusterTrustBundle beta
// (v1beta1), PodCertificateRequest alpha (v1alpha1, the older request form),
// kubeadm v1beta3.
func V134() Profile {
	p := DefaultOn("v1.34.4", "beta trust-bundle and alpha pod-certificate")
	p.Lacks = map[string]string{
		"podCertificates": "Kubernetes 1.34 serves PodCertificateRequests at certificates.k8s.io/v1alpha1 only, a version k8s.io/api v0.37 (the suite's client) no longer has; the signer speaks v1 and v1beta1 (1.35 and later)",
	}
	return p
}

// ExistingIssuer is the issuer of the cluster ExistingV135 makes.
const ExistingIssuer = "https://vendor.example.com"

// ExistingV135 is a cluster configured independently of the suite's
// profiles, which `make existing-check` creates outside the suite and
// then tests as an existing cluster (--kubeconfig), so that detection and
// its skips are exercised for real: Kubernetes v1.35.4 (kubeadm v1beta3,
// the v1beta1 trust-bundle API), an issuer of its own, and the
// PodCertificateRequest gate off (its API not served, the podCertificate
// source dropped). As a kind profile (--profile) it runs the default
// profile's features, the pod-certificate ones skipped.
func ExistingV135() Profile {
	p := DefaultOn("v1.35.4", "beta trust-bundle")
	p.Name = "existing-v1.35"
	p.Description = "Kubernetes v1.35.4 (kubeadm v1beta3), issuer " + ExistingIssuer + ", ClusterTrustBundle beta on, PodCertificateRequest off: the cluster make existing-check tests as an existing one"
	p.FeatureGates = map[string]bool{
		"ClusterTrustBundle":           true,
		"ClusterTrustBundleProjection": true,
		"PodCertificateRequest":        false,
	}
	p.APIServerArgs = []Arg{{Name: "service-account-issuer", Value: ExistingIssuer}}
	p.Lacks = map[string]string{"podCertificates": "the profile turns the PodCertificateRequest gate off"}
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

// Seed 000 (OpenShift): the default issuer https://kubernetes.default.svc
// and the example of a changed one, https://test.default.svc.
const (
	OpenShiftIssuer        = "https://kubernetes.default.svc"
	OpenShiftExampleIssuer = "https://test.default.svc"
)

// GardenerMaxTokenExpiration is seed 002's example maxTokenExpiration, 45d,
// as kube-apiserver's flag takes it (a Go duration has no day unit).
const GardenerMaxTokenExpiration = "1080h"

// Issuers is seed 002's Shoot example on kind: issuer foo, acceptedIssuers
// foo1 and foo2, and (seed 002: the default issuer stays accepted when a
// custom one is set) kubeadm's default; extendTokenExpiration true,
// maxTokenExpiration 45d; explicit API audiences; a suite-generated RSA
// key. "foo" is not an https URL, so kube-apiserver serves no discovery.
func Issuers() Profile {
	p := Default()
	p.Name = "issuers"
	p.Description = "Kubernetes v1.37.2, seed 002's issuers (foo signs; foo1, foo2 and kubeadm's default accepted), --api-audiences, 45d maximum, a suite-generated RSA key"
	p.APIServerArgs = []Arg{
		{Name: "service-account-issuer", Value: "foo"},
		{Name: "service-account-issuer", Value: "foo1"},
		{Name: "service-account-issuer", Value: "foo2"},
		{Name: "service-account-issuer", Value: KubeadmIssuer},
		{Name: "api-audiences", Value: KubeadmIssuer + ",api"},
		{Name: "service-account-extend-token-expiration", Value: "true"},
		{Name: "service-account-max-token-expiration", Value: GardenerMaxTokenExpiration},
	}
	p.ServiceAccountKey = KeyRSA2048
	return p
}

// IssuersV135EC is the OpenShift-style issuer (seed 000's default signs,
// kubeadm's default accepted) on Kubernetes v1.35.4, where kind writes
// kubeadm v1beta3 and the repeated flags go through a kubeadm patch, with a
// suite-generated EC P-256 key (ES256 tokens) and the same API audiences and
// maximum as Issuers.
func IssuersV135EC() Profile {
	p := Default()
	p.Name = "issuers-v1.35-ec"
	p.Description = "Kubernetes v1.35.4 (kubeadm v1beta3), issuers https://kubernetes.default.svc (signs) and kubeadm's default, --api-audiences, 45d maximum, a suite-generated EC P-256 key"
	p.KubernetesVersion = "v1.35.4"
	p.APIServerArgs = []Arg{
		{Name: "service-account-issuer", Value: OpenShiftIssuer},
		{Name: "service-account-issuer", Value: KubeadmIssuer},
		{Name: "api-audiences", Value: OpenShiftIssuer + ",api"},
		{Name: "service-account-max-token-expiration", Value: GardenerMaxTokenExpiration},
	}
	p.ServiceAccountKey = KeyECDSAP256
	return p
}

// IssuerMigration is where seed 002's issuer migration runs (its feature
// changes kube-apiserver's flags in place, on a cluster of its own): it
// starts with issuer A, seed 000's default https://kubernetes.default.svc,
// no --api-audiences (so the default audience follows the issuer list) and
// a suite-generated RSA key, whose rotation is the migration's last stage.
func IssuerMigration() Profile {
	p := Default()
	p.Name = "issuer-migration"
	p.Description = "Kubernetes v1.37.2, issuer https://kubernetes.default.svc, no --api-audiences, a suite-generated RSA key; changed in place by the migration"
	p.APIServerArgs = []Arg{{Name: "service-account-issuer", Value: OpenShiftIssuer}}
	p.ServiceAccountKey = KeyRSA2048
	return p
}

// IssuerMigrationV135 is IssuerMigration on Kubernetes v1.35.4 (kubeadm
// v1beta3): the repeated --service-account-key-file goes through a kubeadm
// patch there.
func IssuerMigrationV135() Profile {
	p := IssuerMigration()
	p.Name = "issuer-migration-v1.35"
	p.Description = "Kubernetes v1.35.4 (kubeadm v1beta3), issuer https://kubernetes.default.svc, no --api-audiences, a suite-generated RSA key; changed in place by the migration"
	p.KubernetesVersion = "v1.35.4"
	return p
}
