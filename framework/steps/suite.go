// Package steps holds the typed steps conformance tests are written with:
// per-feature namespaces, documented fixtures deployed with the probe image,
// waits for pods, and reads through the probe. Every step has an explicit
// timeout, and every wait reports what it last saw.
package steps

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
)

// Labels put on everything the suite creates, so that leftovers can be found.
const (
	// LabelSuite marks every namespace the suite creates.
	LabelSuite = "kube-identity-conformance.io/suite"
	// LabelRun names the run that created it.
	LabelRun = "kube-identity-conformance.io/run"
)

// Suite is the run-wide configuration the steps need; TestMain puts it in the
// environment's context.
type Suite struct {
	// RunID identifies this run in namespace names and labels.
	RunID string
	// ProbeImage replaces the example images in every fixture.
	ProbeImage string
}

type suiteKey struct{}

// WithSuite returns ctx carrying s.
func WithSuite(ctx context.Context, s Suite) context.Context {
	return context.WithValue(ctx, suiteKey{}, s)
}

// SuiteFrom returns the suite configuration of ctx.
func SuiteFrom(ctx context.Context) (Suite, error) {
	s, ok := ctx.Value(suiteKey{}).(Suite)
	if !ok {
		return Suite{}, fmt.Errorf("no suite configuration in the context (TestMain sets it)")
	}
	return s, nil
}

// Clientset returns a client-go clientset for the cluster under test.
func Clientset(t *testing.T, cfg *envconf.Config) kubernetes.Interface {
	t.Helper()
	c, err := cfg.NewClient()
	if err != nil {
		t.Fatalf("client for the cluster under test: %v", err)
	}
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatalf("clientset for the cluster under test: %v", err)
	}
	return cs
}
