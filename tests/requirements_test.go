package tests

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

// Requirements features state of their cluster: checked on every cluster
// before the feature starts (a skip with this reason on an existing
// cluster, a failure on a kind profile that should provide it, and a
// failure on an existing cluster too when --require names its Key).
var (
	extensionOn = runtime.Requirement{
		Key:     "extensionOn",
		Name:    "the 3607 s token extension on (--service-account-extend-token-expiration=true, the default)",
		Profile: "default",
		Holds: func(ctx context.Context, c *steps.Cluster) (bool, string, error) {
			l, err := tokenLifetimes(ctx, c)
			return l.Extended, fmt.Sprintf("a pod-bound 3607 s token extended: %v", l.Extended), err
		},
	}
	extensionOff = runtime.Requirement{
		Key:     "extensionOff",
		Name:    "--service-account-extend-token-expiration=false",
		Profile: "tokens-limits",
		Holds: func(ctx context.Context, c *steps.Cluster) (bool, string, error) {
			l, err := tokenLifetimes(ctx, c)
			return !l.Extended, fmt.Sprintf("a pod-bound 3607 s token extended: %v", l.Extended), err
		},
	}
	maxTwoHours = runtime.Requirement{
		Key:     "maxTwoHours",
		Name:    "--service-account-max-token-expiration=2h",
		Profile: "tokens-limits",
		Holds: func(ctx context.Context, c *steps.Cluster) (bool, string, error) {
			l, err := tokenLifetimes(ctx, c)
			return l.Max == 2*time.Hour, fmt.Sprintf("a 100-day request granted %s", orUncapped(l.Max)), err
		},
	}
	noMaxBelowTwoHours = runtime.Requirement{
		Key:     "noMaxBelowTwoHours",
		Name:    "no --service-account-max-token-expiration below 2h",
		Profile: "default",
		Holds: func(ctx context.Context, c *steps.Cluster) (bool, string, error) {
			l, err := tokenLifetimes(ctx, c)
			return l.Max == 0 || l.Max >= 2*time.Hour, fmt.Sprintf("a 100-day request granted %s", orUncapped(l.Max)), err
		},
	}
)

func tokenLifetimes(ctx context.Context, c *steps.Cluster) (steps.TokenLifetimes, error) {
	s, err := steps.SuiteFrom(ctx)
	if err != nil {
		return steps.TokenLifetimes{}, err
	}
	return steps.DetectTokenLifetimes(ctx, c, s.RunID)
}

func orUncapped(d time.Duration) string {
	if d == 0 {
		return "all of it (no cap)"
	}
	return d.String()
}

var (
	trustBundles = runtime.Requirement{
		Key:     "trustBundles",
		Name:    "the ClusterTrustBundle API (certificates.k8s.io v1, or v1beta1 before 1.37) and the clusterTrustBundle projection (gates ClusterTrustBundle, ClusterTrustBundleProjection)",
		Profile: "default",
		Holds: func(ctx context.Context, c *steps.Cluster) (bool, string, error) {
			caps, err := steps.DetectCapabilities(ctx, c)
			return caps.TrustBundleAPI && caps.TrustBundleProjection,
				fmt.Sprintf("API the suite speaks: %s (clustertrustbundles in %s); a pod's clusterTrustBundle source kept: %v", orNone(caps.TrustBundleVersion), servedIn(caps.TrustBundleVersions), caps.TrustBundleProjection), err
		},
	}
	podCertificates = runtime.Requirement{
		Key:     "podCertificates",
		Name:    "the PodCertificateRequest API (certificates.k8s.io v1, or v1beta1 on 1.35 and 1.36) and the podCertificate projection (gate PodCertificateRequest)",
		Profile: "default",
		Holds: func(ctx context.Context, c *steps.Cluster) (bool, string, error) {
			caps, err := steps.DetectCapabilities(ctx, c)
			return caps.PodCertificateAPI && caps.PodCertificateProjection,
				fmt.Sprintf("API the suite speaks: %s (podcertificaterequests in %s); a pod's podCertificate source kept: %v", orNone(caps.PodCertificateVersion), servedIn(caps.PodCertificateVersions), caps.PodCertificateProjection), err
		},
	}
)

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

// servedIn names the certificates.k8s.io versions serving a resource.
func servedIn(versions []string) string {
	if len(versions) == 0 {
		return "no version"
	}
	return strings.Join(versions, ", ")
}
