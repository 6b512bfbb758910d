package tests

import (
	"context"
	"fmt"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

// Requirements features state of their cluster: checked on every cluster
// before the feature starts (a skip with this reason on an existing
// cluster, a failure on a kind profile that should provide it).
var (
	extensionOn = runtime.Requirement{
		Name:    "the 3607 s token extension on (--service-account-extend-token-expiration=true, the default)",
		Profile: "default",
		Holds: func(ctx context.Context, c *steps.Cluster) (bool, string, error) {
			l, err := tokenLifetimes(ctx, c)
			return l.Extended, fmt.Sprintf("a pod-bound 3607 s token extended: %v", l.Extended), err
		},
	}
	extensionOff = runtime.Requirement{
		Name:    "--service-account-extend-token-expiration=false",
		Profile: "tokens-limits",
		Holds: func(ctx context.Context, c *steps.Cluster) (bool, string, error) {
			l, err := tokenLifetimes(ctx, c)
			return !l.Extended, fmt.Sprintf("a pod-bound 3607 s token extended: %v", l.Extended), err
		},
	}
	maxTwoHours = runtime.Requirement{
		Name:    "--service-account-max-token-expiration=2h",
		Profile: "tokens-limits",
		Holds: func(ctx context.Context, c *steps.Cluster) (bool, string, error) {
			l, err := tokenLifetimes(ctx, c)
			return l.Max == 2*time.Hour, fmt.Sprintf("a 100-day request granted %s", orUncapped(l.Max)), err
		},
	}
	noMaxBelowTwoHours = runtime.Requirement{
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
		Name:    "the ClusterTrustBundle API (certificates.k8s.io/v1) and the clusterTrustBundle projection (gates ClusterTrustBundle, ClusterTrustBundleProjection)",
		Profile: "default",
		Holds: func(ctx context.Context, c *steps.Cluster) (bool, string, error) {
			caps, err := steps.DetectCapabilities(ctx, c)
			return caps.TrustBundleAPI && caps.TrustBundleProjection,
				fmt.Sprintf("API served: %v; a pod's clusterTrustBundle source kept: %v", caps.TrustBundleAPI, caps.TrustBundleProjection), err
		},
	}
	podCertificates = runtime.Requirement{
		Name:    "the PodCertificateRequest API (certificates.k8s.io/v1) and the podCertificate projection (gate PodCertificateRequest)",
		Profile: "default",
		Holds: func(ctx context.Context, c *steps.Cluster) (bool, string, error) {
			caps, err := steps.DetectCapabilities(ctx, c)
			return caps.PodCertificateAPI && caps.PodCertificateProjection,
				fmt.Sprintf("API served: %v; a pod's podCertificate source kept: %v", caps.PodCertificateAPI, caps.PodCertificateProjection), err
		},
	}
)
