package tests

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/defects"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/pki"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// TestClusterTrustBundles: seed 003, section "clusterTrustBundle 投射卷"
// (clusterTrustBundle projected volumes), with the kubelet's and the API's
// exact behaviour from kubernetes-behaviour.md sections 0 and 6.
func TestClusterTrustBundles(t *testing.T) { rt.Run(t, trustBundleCases()...) }

// bundleUpdateBound is how long an update of a bundle may take to reach a
// projection that the kubelet invalidates (the next pod sync, every minute
// or so, plus the informer's delay).
const bundleUpdateBound = 150 * time.Second

// bundleCacheTTL is how long the kubelet keeps normalised anchors
// (clustertrustbundle_manager.go, ensureManagerSet: 5 minutes).
const bundleCacheTTL = 5 * time.Minute

func trustBundleCases() []runtime.Case {
	ctb := func(f features.Feature) runtime.Case {
		return runtime.Default(f).Requires(trustBundles).Access(cluster.TrustBundleAccess)
	}
	return []runtime.Case{
		ctb(documentedTrustBundlePod()),
		ctb(bundleNormalisation()),
		ctb(bundleSelection()),
		ctb(nilSelectorDefect()).Slow(2 * time.Minute).Access(cluster.GetNodeAccess),
		ctb(missingBundle()).Slow(4 * time.Minute),
		ctb(bundleUpdates()).Slow(11 * time.Minute).Access(cluster.GetNodeAccess),
		ctb(bundleAPIRules()).Access(cluster.ImpersonateAccess, cluster.GrantAccess, cluster.RoleAccess),
		runtime.Default(builtinServingBundle()).Requires(trustBundles).Access(cluster.ReadTrustBundleAccess),
		ctb(trustBundleFileModes()),
	}
}

// byName projects one bundle by name.
func byName(name, path string, optional bool) corev1.VolumeProjection {
	return corev1.VolumeProjection{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Name: &name, Path: path, Optional: optionalPtr(optional)}}
}

// bySigner projects the bundles of signer that sel matches (nil: no
// labelSelector at all).
func bySigner(signer string, sel *metav1.LabelSelector, path string, optional bool) corev1.VolumeProjection {
	return corev1.VolumeProjection{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{SignerName: &signer, LabelSelector: sel, Path: path, Optional: optionalPtr(optional)}}
}

func optionalPtr(b bool) *bool {
	if !b {
		return nil
	}
	return &b
}

// everything is labelSelector: {} (match every bundle of the signer).
func everything() *metav1.LabelSelector { return &metav1.LabelSelector{} }

func matchLabels(kv ...string) *metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &metav1.LabelSelector{MatchLabels: m}
}

// newCAs makes the feature's CA certificates (crypto/x509), named.
func newCAs(names ...string) (map[string]*pki.CA, error) {
	out := map[string]*pki.CA{}
	for _, n := range names {
		ca, err := pki.NewCA(n)
		if err != nil {
			return nil, err
		}
		out[n] = ca
	}
	return out, nil
}

// failed is a setup step that stops the feature with err (nil: nothing).
func failed(err error) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		if err != nil {
			t.Fatal(err)
		}
		return ctx
	}
}

// createBundle is a setup step creating the bundle build returns.
func createBundle(build func(ctx context.Context) *certificatesv1.ClusterTrustBundle) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Helper()
		if err := steps.CreateTrustBundle(ctx, t, build(ctx)); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
}

// signerBundle is a setup step creating a bundle of the feature's signer
// signerPath, named <signer>:<suffix>.
func signerBundle(signerPath, suffix string, labels map[string]string, bundle string) features.Func {
	return createBundle(func(ctx context.Context) *certificatesv1.ClusterTrustBundle {
		s := steps.FeatureSigner(ctx, signerPath)
		return steps.TrustBundle(ctx, steps.TrustBundleName(s, suffix), s, labels, bundle)
	})
}

// expectCertSet reads a trust-bundle file and compares its certificates, as
// a set, with want; it also requires each certificate exactly once.
func expectCertSet(ctx context.Context, t *testing.T, pod, path string, want pki.CertSet) []byte {
	t.Helper()
	got, dups, text, err := steps.ReadCertSet(ctx, t, pod, path)
	if err != nil {
		t.Error(err)
		return nil
	}
	if !got.Equal(want) {
		t.Errorf("%s holds %s, want %s: %s", path, got, want, got.Diff(want))
	}
	if dups > 0 {
		t.Errorf("%s repeats %d certificate(s): the kubelet writes each once", path, dups)
	}
	return text
}

// expectEmptyFile requires a 0-byte file at path.
func expectEmptyFile(ctx context.Context, t *testing.T, pod, path string) {
	t.Helper()
	f, err := steps.ReadFile(ctx, t, pod, path)
	if err != nil {
		t.Error(err)
		return
	}
	if !f.Exists || f.Size != 0 {
		t.Errorf("%s: exists %v, %d bytes; want an empty file", path, f.Exists, f.Size)
	}
}

// documentedTrustBundlePod: seed 003, "clusterTrustBundle 投射卷": the
// documented sa-ctb-name-test pod projects the bundle "example" by name to
// example-roots.pem, and the bundles of signer example.com/mysigner labelled
// version=live to mysigner-roots.pem (optional). A bundle of that signer
// labelled otherwise is left out.
func documentedTrustBundlePod() features.Feature {
	const pod, dir = "sa-ctb-name-test", "/root-certificates"
	cas, err := newCAs("example root", "mysigner live root", "mysigner old root")
	return features.New("sa-ctb-name-test: a bundle by name, and a signer's bundles by label").
		WithLabel("area", "trustbundles").WithLabel("source", "seed003").WithLabel("section", "clusterTrustBundle 投射卷").
		Setup(failed(err)).
		Setup(steps.CreateNamespace()).
		Setup(createBundle(func(ctx context.Context) *certificatesv1.ClusterTrustBundle {
			return steps.TrustBundle(ctx, "example", "", nil, cas["example root"].PEM())
		})).
		Setup(createBundle(func(ctx context.Context) *certificatesv1.ClusterTrustBundle {
			return steps.TrustBundle(ctx, "example.com:mysigner:live", "example.com/mysigner", map[string]string{"version": "live"}, cas["mysigner live root"].PEM())
		})).
		Setup(createBundle(func(ctx context.Context) *certificatesv1.ClusterTrustBundle {
			return steps.TrustBundle(ctx, "example.com:mysigner:old", "example.com/mysigner", map[string]string{"version": "old"}, cas["mysigner old root"].PEM())
		})).
		Setup(steps.DeployFixture("seed003-projected-volumes/sa-ctb-name-test.yaml")).
		Setup(steps.WaitPodServing(pod)).
		Assess("example-roots.pem is bundle example's one certificate, byte for byte", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			text := expectCertSet(ctx, t, pod, dir+"/example-roots.pem", pki.SetOf(cas["example root"]))
			if text != nil && string(text) != cas["example root"].PEM() {
				t.Errorf("example-roots.pem differs from the bundle's PEM (one clean certificate is written as it is):\n%s", text)
			}
			return ctx
		}).
		Assess("mysigner-roots.pem holds the version=live bundle's certificate, not the version=old one", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			expectCertSet(ctx, t, pod, dir+"/mysigner-roots.pem", pki.SetOf(cas["mysigner live root"]))
			return ctx
		}).
		Assess("both files are 0644 root:root on a read-only mount (no securityContext)", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			for _, p := range []string{dir + "/example-roots.pem", dir + "/mysigner-roots.pem"} {
				if f, err := steps.ReadFile(ctx, t, pod, p); err != nil {
					t.Error(err)
				} else if f.Mode != "0644" || f.UID != 0 || f.GID != 0 || !f.ReadOnlyMount {
					t.Errorf("%s: %s %d:%d, read-only mount %v; want 0644 0:0 read-only", p, f.Mode, f.UID, f.GID, f.ReadOnlyMount)
				}
			}
			expectReadOnly(ctx, t, pod, dir)
			return ctx
		}).Feature()
}

// bundleNormalisation: seed 003, "clusterTrustBundle 投射卷", says the
// kubelet deduplicates the selected bundles' certificates, normalises their
// PEM (drops comments and headers) and reorders them. Two bundles of one
// signer, one with comments, text between blocks and 76-column base64,
// sharing a certificate with the other: the file holds the union as a set,
// each certificate once, every block a plain CERTIFICATE in encoding/pem's
// form. The order is random (the kubelet shuffles), so it is never compared.
func bundleNormalisation() features.Feature {
	const pod, dir = "ctb-normalised", "/bundles"
	cas, err := newCAs("root a", "root b", "root c")
	messy := func() string {
		return "# root a, as an operator pasted it\n" + cas["root a"].Wrapped(76, "") + "\nroot b follows\n" + cas["root b"].PEM() + "end of bundle\n"
	}
	return features.New("bundles are merged as a set of certificates, each once, in canonical PEM").
		WithLabel("area", "trustbundles").WithLabel("source", "seed003").WithLabel("section", "clusterTrustBundle 投射卷").
		Setup(failed(err)).
		Setup(steps.CreateNamespace()).
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			ctx = signerBundle("norm", "messy", nil, messy())(ctx, t, cfg)
			return signerBundle("norm", "clean", nil, pki.Bundle(cas["root b"], cas["root c"]))(ctx, t, cfg)
		}).
		Setup(steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			s := steps.FeatureSigner(ctx, "norm")
			return steps.ProbePod(pod).Projected("ctb", dir, nil,
				bySigner(s, everything(), "all.pem", false),
				byName(steps.TrustBundleName(s, "messy"), "messy.pem", false))
		})).
		Setup(steps.WaitPodServing(pod)).
		Assess("all.pem is the union {a, b, c}: b, in both bundles, is written once", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			expectCertSet(ctx, t, pod, dir+"/all.pem", pki.SetOf(cas["root a"], cas["root b"], cas["root c"]))
			return ctx
		}).
		Assess("comments and text between blocks are dropped, base64 rewrapped at 64 columns, no headers", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			for _, p := range []string{dir + "/all.pem", dir + "/messy.pem"} {
				f, err := steps.ReadContent(ctx, t, pod, p)
				if err != nil {
					t.Error(err)
					continue
				}
				parsed := pki.Parse(f.Content)
				if parsed.Rest != "" {
					t.Errorf("%s keeps text outside the blocks: %q", p, parsed.Rest)
				}
				for i, b := range parsed.Blocks {
					if b.Type != "CERTIFICATE" || len(b.Headers) > 0 {
						t.Errorf("%s block %d: type %q, headers %v", p, i, b.Type, b.Headers)
					}
				}
				if !parsed.Canonical {
					t.Errorf("%s is not in encoding/pem's form (64-column base64, blocks back to back):\n%s", p, f.Content)
				}
			}
			expectCertSet(ctx, t, pod, dir+"/messy.pem", pki.SetOf(cas["root a"], cas["root b"]))
			return ctx
		}).Feature()
}

// bundleSelection: seed 003, "clusterTrustBundle 投射卷": a signerName
// projection selects the bundles of that signer whose labels match:
// labelSelector {} all of them, matchLabels and matchExpressions some, and a
// bundle of another signer with the same labels never. (No labelSelector at
// all is nilSelectorDefect's.) The API refuses name together with signerName,
// and labelSelector with name.
func bundleSelection() features.Feature {
	const pod, dir = "ctb-selection", "/sel"
	cas, err := newCAs("tier a", "tier b", "other signer tier a")
	return features.New("signerName and labelSelector select bundles; another signer's never match").
		WithLabel("area", "trustbundles").WithLabel("source", "seed003").WithLabel("section", "clusterTrustBundle 投射卷").
		Setup(failed(err)).
		Setup(steps.CreateNamespace()).
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			ctx = signerBundle("sel", "a", map[string]string{"tier": "a"}, cas["tier a"].PEM())(ctx, t, cfg)
			ctx = signerBundle("sel", "b", map[string]string{"tier": "b"}, cas["tier b"].PEM())(ctx, t, cfg)
			return signerBundle("other", "a", map[string]string{"tier": "a"}, cas["other signer tier a"].PEM())(ctx, t, cfg)
		}).
		Setup(steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			s := steps.FeatureSigner(ctx, "sel")
			return steps.ProbePod(pod).Projected("ctb", dir, nil,
				bySigner(s, everything(), "all.pem", false),
				bySigner(s, matchLabels("tier", "a"), "tier-a.pem", false),
				bySigner(s, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"a"}}}}, "not-a.pem", false),
				bySigner(s, matchLabels("tier", "c"), "tier-c.pem", true))
		})).
		Setup(steps.WaitPodServing(pod)).
		Assess("labelSelector {} selects every bundle of the signer, and no other signer's", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			expectCertSet(ctx, t, pod, dir+"/all.pem", pki.SetOf(cas["tier a"], cas["tier b"]))
			return ctx
		}).
		Assess("matchLabels tier=a selects the signer's tier a bundle only", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			expectCertSet(ctx, t, pod, dir+"/tier-a.pem", pki.SetOf(cas["tier a"]))
			return ctx
		}).
		Assess("matchExpressions tier NotIn (a) selects the tier b bundle", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			expectCertSet(ctx, t, pod, dir+"/not-a.pem", pki.SetOf(cas["tier b"]))
			return ctx
		}).
		Assess("a selector matching nothing, optional, gives an empty file", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			expectEmptyFile(ctx, t, pod, dir+"/tier-c.pem")
			return ctx
		}).
		Assess("the API refuses name with signerName, and labelSelector with name", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			s := steps.FeatureSigner(ctx, "sel")
			name := steps.TrustBundleName(s, "a")
			both := byName(name, "both.pem", false)
			both.ClusterTrustBundle.SignerName = &s
			withSel := byName(name, "sel.pem", false)
			withSel.ClusterTrustBundle.LabelSelector = everything()
			for _, c := range []struct {
				what string
				src  corev1.VolumeProjection
				want string
			}{
				{"name and signerName", both, "only one of name and signerName may be used"},
				{"name and labelSelector", withSel, "labelSelector must be unset if name is specified"},
			} {
				expectPodRefused(ctx, t, c.what, steps.ProbePod("refused").Projected("ctb", "/x", nil, c.src), c.want)
			}
			return ctx
		}).Feature()
}

// expectPodRefused creates the pod with a server-side dry run and requires
// the API to refuse it as invalid with a message containing want.
func expectPodRefused(ctx context.Context, t *testing.T, what string, b *steps.PodBuilder, want string) {
	t.Helper()
	err := dryRunPod(ctx, t, b)
	switch {
	case err == nil:
		t.Errorf("%s: the API accepted the pod", what)
	case !apierrors.IsInvalid(err):
		t.Errorf("%s: refused, but not as invalid: %v", what, err)
	case !strings.Contains(err.Error(), want):
		t.Errorf("%s: refused with %q, want a message containing %q", what, err, want)
	}
}

// nilSelectorDefect: a signerName projection without labelSelector matches no
// bundle (the API's documentation: "If unset, interpreted as match nothing";
// seed 003's "clusterTrustBundle 投射卷" claims the opposite, see
// kubernetes-behaviour.md section 0.2, and the API is what the kubelet
// implements). With optional the file is empty. The order matters for known
// defect kubelet-ctb-nil-selector-cache: a first pod shows the documented
// empty file while no {} projection of the signer has been evaluated on the
// node; a second pod projects the signer with {}; a third pod, with no
// selector again, must still get an empty file.
func nilSelectorDefect() features.Feature {
	const dir = "/nil"
	cas, err := newCAs("nil selector root")
	nilPod := func(ctx context.Context, name string) *steps.PodBuilder {
		return steps.ProbePod(name).Projected("ctb", dir, nil, bySigner(steps.FeatureSigner(ctx, "nil"), nil, "nil.pem", true))
	}
	return features.New("no labelSelector selects no bundle, also after a labelSelector {} projection of the signer").
		WithLabel("area", "trustbundles").WithLabel("source", "seed003").WithLabel("section", "clusterTrustBundle 投射卷").WithLabel("defect", defects.KubeletCTBNilSelector.ID).
		Setup(failed(err)).
		Setup(steps.CreateNamespace()).
		Setup(signerBundle("nil", "one", nil, cas["nil selector root"].PEM())).
		Setup(steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder { return nilPod(ctx, "nil-first") })).
		Setup(steps.WaitPodServing("nil-first")).
		Assess("before any {} projection of the signer, no labelSelector gives an empty file", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			expectEmptyFile(ctx, t, "nil-first", dir+"/nil.pem")
			return ctx
		}).
		Assess("labelSelector {} of the same signer gives its certificate", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			everyBundle := steps.ProbePod("everything").Projected("ctb", dir, nil, bySigner(steps.FeatureSigner(ctx, "nil"), everything(), "all.pem", false))
			if err := steps.CreatePodNow(ctx, t, everyBundle); err != nil {
				t.Error(err)
				return ctx
			}
			if err := steps.WaitPodServingFor(ctx, t, "everything", steps.PodStartTimeout); err != nil {
				t.Error(err)
				return ctx
			}
			expectCertSet(ctx, t, "everything", dir+"/all.pem", pki.SetOf(cas["nil selector root"]))
			return ctx
		}).
		Assess("after it, no labelSelector still gives an empty file (known defect "+defects.KubeletCTBNilSelector.ID+")", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if err := steps.CreatePodNow(ctx, t, nilPod(ctx, "nil-after")); err != nil {
				t.Error(err)
				return ctx
			}
			if err := steps.WaitPodServingFor(ctx, t, "nil-after", steps.PodStartTimeout); err != nil {
				t.Error(err)
				return ctx
			}
			version, err := steps.KubeletVersion(ctx, t, "nil-after")
			if err != nil {
				t.Error(err)
				return ctx
			}
			f, err := steps.ReadContent(ctx, t, "nil-after", dir+"/nil.pem")
			if err != nil {
				t.Error(err)
				return ctx
			}
			set, _, perr := pki.ParseCertSet(f.Content)
			o := defects.Observation{Version: version}
			switch {
			case perr != nil:
				o.Seen = fmt.Sprintf("nil.pem unreadable as certificates: %v", perr)
			case f.Exists && f.Size == 0:
				o.Documented, o.Seen = true, "nil.pem is empty"
			case set.Equal(pki.SetOf(cas["nil selector root"])):
				o.Defective, o.Seen = true, "nil.pem holds every certificate of the signer "+set.String()
			default:
				o.Seen = fmt.Sprintf("nil.pem: exists %v, %d bytes, %s", f.Exists, f.Size, set)
			}
			steps.CheckDefect(ctx, t, defects.KubeletCTBNilSelector, o)
			return ctx
		}).Feature()
}

// missingBundle: seed 003, "clusterTrustBundle 投射卷": by default a missing
// named bundle, or a signerName/labelSelector that matches none, keeps the
// pod from starting; with optional: true the pod starts with an empty file at
// path. The kubelet reports FailedMount naming the bundle (or the empty
// match), and a bundle created later lets the pod start.
func missingBundle() features.Feature {
	const dir = "/missing"
	cas, err := newCAs("late root")
	return features.New("a missing bundle blocks the pod unless optional; creating it later lets the pod start").
		WithLabel("area", "trustbundles").WithLabel("source", "seed003").WithLabel("section", "clusterTrustBundle 投射卷").
		Setup(failed(err)).
		Setup(steps.CreateNamespace()).
		Setup(steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			s := steps.FeatureSigner(ctx, "missing")
			return steps.ProbePod("optional").Projected("ctb", dir, nil,
				byName(steps.TrustBundleName(s, "absent"), "by-name.pem", true),
				bySigner(s, everything(), "by-signer.pem", true))
		})).
		Setup(steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			return steps.ProbePod("blocked-by-name").Projected("ctb", dir, nil, byName(steps.TrustBundleName(steps.FeatureSigner(ctx, "missing"), "late"), "late.pem", false))
		})).
		Setup(steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			return steps.ProbePod("blocked-by-signer").Projected("ctb", dir, nil, bySigner(steps.FeatureSigner(ctx, "missing"), everything(), "late.pem", false))
		})).
		Setup(steps.WaitPodServing("optional")).
		Assess("optional: the pod starts with empty files, by name and by signer", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			expectEmptyFile(ctx, t, "optional", dir+"/by-name.pem")
			expectEmptyFile(ctx, t, "optional", dir+"/by-signer.pem")
			return ctx
		}).
		Assess("not optional, by name: FailedMount names the bundle, the pod does not start", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			name := steps.TrustBundleName(steps.FeatureSigner(ctx, "missing"), "late")
			expectBlocked(ctx, t, "blocked-by-name", fmt.Sprintf("clustertrustbundle.certificates.k8s.io %q not found", name))
			return ctx
		}).
		Assess("not optional, by signer: FailedMount says the selector matched no bundle", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			expectBlocked(ctx, t, "blocked-by-signer", "combination of signerName and labelSelector matched zero ClusterTrustBundles")
			return ctx
		}).
		Assess("creating the bundle lets both pods start, with its certificate", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			s := steps.FeatureSigner(ctx, "missing")
			if err := steps.CreateTrustBundle(ctx, t, steps.TrustBundle(ctx, steps.TrustBundleName(s, "late"), s, nil, cas["late root"].PEM())); err != nil {
				t.Error(err)
				return ctx
			}
			start := time.Now()
			// The kubelet retries a failed mount with a back-off of up to
			// 2m2s.
			for _, p := range []string{"blocked-by-name", "blocked-by-signer"} {
				if err := steps.WaitPodServingFor(ctx, t, p, 3*time.Minute); err != nil {
					t.Error(err)
					continue
				}
				t.Logf("measured: %s started %s after the bundle was created", p, time.Since(start).Round(time.Second))
				expectCertSet(ctx, t, p, dir+"/late.pem", pki.SetOf(cas["late root"]))
			}
			return ctx
		}).Feature()
}

// expectBlocked requires a FailedMount event saying want, and the pod not
// running.
func expectBlocked(ctx context.Context, t *testing.T, pod, want string) {
	t.Helper()
	if _, err := steps.WaitPodEvent(ctx, t, pod, "FailedMount", want, steps.PodStartTimeout); err != nil {
		t.Error(err)
	}
	phase, ready, err := steps.PodPhase(ctx, t, pod)
	switch {
	case err != nil:
		t.Error(err)
	case phase != corev1.PodPending || ready:
		t.Errorf("pod %s is %s (ready %v), want Pending: its volume cannot be set up", pod, phase, ready)
	}
}

// bundleUpdates: seed 003, "clusterTrustBundle 投射卷": the kubelet keeps the
// file up to date when the selected bundles or their content change. Three
// projections of one change side by side: a bundle without signer by name, a
// signer's bundles by labelSelector {}, and the same signer-linked bundle by
// name; the delays are measured and reported. A by-name projection of a
// signer-linked bundle is not invalidated (known defect
// kubelet-ctb-by-name-stale) and waits for the kubelet's 5-minute cache. Then
// a certificate is removed, and deleting a bundle that is not optional leaves
// the file as it was.
func bundleUpdates() features.Feature {
	const pod, dir = "ctb-updates", "/upd"
	cas, err := newCAs("first", "second")
	first, both, second := pki.SetOf(cas["first"]), pki.SetOf(cas["first"], cas["second"]), pki.SetOf(cas["second"])
	var updated time.Time
	return features.New("updates reach the file; deleting a bundle that is not optional keeps the old content").
		WithLabel("area", "trustbundles").WithLabel("source", "seed003").WithLabel("section", "clusterTrustBundle 投射卷").WithLabel("speed", "slow").WithLabel("defect", defects.KubeletCTBByNameStale.ID).
		Setup(failed(err)).
		Setup(steps.CreateNamespace()).
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			ctx = signerBundle("upd", "linked", nil, cas["first"].PEM())(ctx, t, cfg)
			return createBundle(func(ctx context.Context) *certificatesv1.ClusterTrustBundle {
				return steps.TrustBundle(ctx, steps.ClusterObjectName(ctx, "plain"), "", nil, cas["first"].PEM())
			})(ctx, t, cfg)
		}).
		Setup(steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			s := steps.FeatureSigner(ctx, "upd")
			return steps.ProbePod(pod).Projected("ctb", dir, nil,
				byName(steps.ClusterObjectName(ctx, "plain"), "plain.pem", false),
				bySigner(s, everything(), "by-signer.pem", false),
				byName(steps.TrustBundleName(s, "linked"), "linked-by-name.pem", false))
		})).
		Setup(steps.WaitPodServing(pod)).
		Assess("adding a certificate reaches a bundle without signer by name, and a signer's bundles by selector", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			for _, p := range []string{"plain.pem", "by-signer.pem", "linked-by-name.pem"} {
				expectCertSet(ctx, t, pod, dir+"/"+p, first)
			}
			updated = time.Now()
			if err := steps.SetTrustBundle(ctx, t, steps.ClusterObjectName(ctx, "plain"), pki.Bundle(cas["first"], cas["second"])); err != nil {
				t.Error(err)
				return ctx
			}
			if err := steps.SetTrustBundle(ctx, t, steps.TrustBundleName(steps.FeatureSigner(ctx, "upd"), "linked"), pki.Bundle(cas["first"], cas["second"])); err != nil {
				t.Error(err)
				return ctx
			}
			took, err := steps.WaitCertSets(ctx, t, pod, map[string]pki.CertSet{dir + "/plain.pem": both, dir + "/by-signer.pem": both}, updated, bundleUpdateBound)
			if err != nil {
				t.Error(err)
			}
			for p, d := range took {
				t.Logf("measured: %s held the added certificate %.1f s after the update (bound %s)", p, d.Seconds(), bundleUpdateBound)
			}
			return ctx
		}).
		Assess("the signer-linked bundle by name is updated as promptly (known defect "+defects.KubeletCTBByNameStale.ID+")", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if updated.IsZero() {
				t.Error("the update did not happen (see the previous assessment)")
				return ctx
			}
			version, err := steps.KubeletVersion(ctx, t, pod)
			if err != nil {
				t.Error(err)
				return ctx
			}
			limit := bundleCacheTTL + bundleUpdateBound
			_, err = steps.WaitCertSet(ctx, t, pod, dir+"/linked-by-name.pem", both, limit-time.Since(updated))
			d := time.Since(updated)
			o := defects.Observation{Version: version}
			switch {
			case err != nil:
				o.Seen = fmt.Sprintf("not updated %s after the update: %v", d.Round(time.Second), err)
			case d <= bundleUpdateBound:
				o.Documented, o.Seen = true, fmt.Sprintf("updated %.1f s after the update, within %s", d.Seconds(), bundleUpdateBound)
			default:
				o.Defective, o.Seen = true, fmt.Sprintf("updated %.1f s after the update: only when the kubelet's %s cache entry expired", d.Seconds(), bundleCacheTTL)
			}
			t.Logf("measured: linked-by-name.pem held the added certificate %.1f s after the update", d.Seconds())
			steps.CheckDefect(ctx, t, defects.KubeletCTBByNameStale, o)
			return ctx
		}).
		Assess("removing a certificate reaches the signer's projection", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			start := time.Now()
			if err := steps.SetTrustBundle(ctx, t, steps.TrustBundleName(steps.FeatureSigner(ctx, "upd"), "linked"), cas["second"].PEM()); err != nil {
				t.Error(err)
				return ctx
			}
			if _, err := steps.WaitCertSet(ctx, t, pod, dir+"/by-signer.pem", second, bundleUpdateBound); err != nil {
				t.Error(err)
				return ctx
			}
			t.Logf("measured: by-signer.pem lost the removed certificate %.1f s after the update (bound %s)", time.Since(start).Seconds(), bundleUpdateBound)
			return ctx
		}).
		Assess("deleting the bundle without signer (not optional) leaves its last content in the file", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if err := steps.DeleteTrustBundle(ctx, t, steps.ClusterObjectName(ctx, "plain")); err != nil {
				t.Error(err)
				return ctx
			}
			// Longer than the bound an update takes: a deletion that were
			// written would show by then.
			err := wait.Holds(ctx, "plain.pem to keep both certificates after its bundle is deleted", wait.Options{Timeout: bundleUpdateBound, Interval: 5 * time.Second},
				func(ctx context.Context) (bool, string, error) {
					got, _, _, err := steps.ReadCertSet(ctx, t, pod, dir+"/plain.pem")
					if err != nil {
						return false, err.Error(), nil
					}
					return got.Equal(both), got.String(), nil
				})
			if err != nil {
				t.Error(err)
			}
			return ctx
		}).Feature()
}

// bundleAPIRules: seed 003, "clusterTrustBundle 投射卷" (bundles by name and
// by signer), and the API's rules for ClusterTrustBundles
// (kubernetes-behaviour.md section 6): a signer-linked bundle's name must
// carry the prefix "<signer with / as :>:", a bundle without signer has no
// ":" in its name; every block is a CA CERTIFICATE without PEM headers, and
// no certificate twice; creating a signer-linked bundle needs attest on the
// signer (ctbattest admission): a user allowed to create bundles but not to
// attest gets 403 for it, and may create one without signer.
func bundleAPIRules() features.Feature {
	cas, err := newCAs("rules root")
	leaf, lerr := pki.NewLeaf("not a CA")
	return features.New("the API validates bundle names and certificates, and requires attest for a signer's bundle").
		WithLabel("area", "trustbundles").WithLabel("source", "seed003").WithLabel("section", "clusterTrustBundle 投射卷").
		Setup(failed(errors.Join(err, lerr))).
		Setup(steps.CreateNamespace()).
		Assess("names, certificates, duplicates and headers are validated", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ctbs, err := steps.TrustBundles(ctx)
			if err != nil {
				t.Error(err)
				return ctx
			}
			s := steps.FeatureSigner(ctx, "rules")
			root := cas["rules root"]
			for _, c := range []struct {
				what         string
				name, signer string
				bundle       string
				want         string
			}{
				{"a signer's bundle without its prefix", steps.ClusterObjectName(ctx, "no-prefix"), s, root.PEM(), "must be named with prefix " + strings.ReplaceAll(s, "/", ":") + ":"},
				{"a bundle without signer, with ':' in its name", "kic:" + steps.ClusterObjectName(ctx, "colon"), "", root.PEM(), `must not have ":" in its name`},
				{"a certificate twice", steps.TrustBundleName(s, "dup"), s, root.PEM() + root.PEM(), "duplicate trust anchor"},
				{"a certificate that is not a CA", steps.TrustBundleName(s, "leaf"), s, leaf.PEM(), "does not have the CA bit set"},
				{"a PEM header", steps.TrustBundleName(s, "header"), s, root.Wrapped(64, "Comment: pasted"), "has PEM block headers"},
			} {
				_, err := ctbs.Create(ctx, steps.TrustBundle(ctx, c.name, c.signer, nil, c.bundle), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				switch {
				case err == nil:
					t.Errorf("%s: accepted", c.what)
				case !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), c.want):
					t.Errorf("%s: refused with %v, want invalid, saying %q", c.what, err, c.want)
				}
			}
			return ctx
		}).
		Assess("without attest on the signer, a signer's bundle is refused (403), one without signer is not", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			user := steps.ClusterObjectName(ctx, "no-attest")
			role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"clustertrustbundles"}, Verbs: []string{"create"}},
			}}
			if err := steps.CreateClusterRole(ctx, t, role); err != nil {
				t.Error(err)
				return ctx
			}
			if err := steps.BindClusterRole(ctx, t, user, user, rbacv1.Subject{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}); err != nil {
				t.Error(err)
				return ctx
			}
			imp, err := steps.Impersonating(ctx, t, user)
			if err != nil {
				t.Error(err)
				return ctx
			}
			cs, err := steps.TrustBundlesAs(ctx, imp)
			if err != nil {
				t.Error(err)
				return ctx
			}
			s := steps.FeatureSigner(ctx, "rules")
			dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
			// RBAC changes reach the authorizer's cache within moments.
			err = wait.For(ctx, user+" to be allowed to create a bundle without signer", wait.Options{Timeout: 30 * time.Second, Interval: time.Second},
				func(ctx context.Context) (bool, string, error) {
					_, err := cs.Create(ctx, steps.TrustBundle(ctx, steps.ClusterObjectName(ctx, "unlinked"), "", nil, cas["rules root"].PEM()), dry)
					if err != nil {
						return false, err.Error(), nil
					}
					return true, "", nil
				})
			if err != nil {
				t.Error(err)
				return ctx
			}
			_, err = cs.Create(ctx, steps.TrustBundle(ctx, steps.TrustBundleName(s, "attest"), s, nil, cas["rules root"].PEM()), dry)
			want := fmt.Sprintf("user not permitted to attest for signerName %q", s)
			switch {
			case err == nil:
				t.Errorf("%s, without attest on %s, created a bundle of that signer", user, s)
			case !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want):
				t.Errorf("refused with %v, want 403 saying %q", err, want)
			}
			return ctx
		}).Feature()
}

// builtinServingBundle: seed 003, "clusterTrustBundle 投射卷" (a signer's
// bundles by labelSelector): with the ClusterTrustBundle gate on, the
// controller manager publishes the API server's serving CA as a bundle of
// signer kubernetes.io/kube-apiserver-serving; projected with labelSelector
// {} it equals the namespace's kube-root-ca.crt ConfigMap as a set.
func builtinServingBundle() features.Feature {
	const pod, dir, signer = "ctb-builtin", "/builtin", "kubernetes.io/kube-apiserver-serving"
	return features.New("the built-in kube-apiserver-serving bundle equals kube-root-ca.crt").
		WithLabel("area", "trustbundles").WithLabel("source", "seed003").WithLabel("section", "clusterTrustBundle 投射卷").
		Setup(steps.CreateNamespace()).
		Setup(steps.CreatePod(steps.ProbePod(pod).Projected("ctb", dir, nil, bySigner(signer, everything(), "serving.pem", false)))).
		Setup(steps.WaitPodServing(pod)).
		Assess("a bundle kubernetes.io:kube-apiserver-serving:<hash> of that signer exists", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ctbs, err := steps.TrustBundles(ctx)
			if err != nil {
				t.Error(err)
				return ctx
			}
			list, err := ctbs.List(ctx, metav1.ListOptions{FieldSelector: "spec.signerName=" + signer})
			if err != nil {
				t.Error(err)
				return ctx
			}
			var names []string
			for _, b := range list.Items {
				names = append(names, b.Name)
			}
			if len(names) == 0 || !strings.HasPrefix(names[0], "kubernetes.io:kube-apiserver-serving:") {
				t.Errorf("bundles of %s: %v, want one named kubernetes.io:kube-apiserver-serving:<hash>", signer, names)
			}
			return ctx
		}).
		Assess("serving.pem equals kube-root-ca.crt's ca.crt as a set", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			cm, err := steps.Clientset(ctx, t).CoreV1().ConfigMaps(steps.Namespace(ctx)).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			if err != nil {
				t.Error(err)
				return ctx
			}
			want, _, err := pki.ParseCertSet([]byte(cm.Data["ca.crt"]))
			if err != nil || len(want) == 0 {
				t.Errorf("kube-root-ca.crt: %d certificates, %v", len(want), err)
				return ctx
			}
			expectCertSet(ctx, t, pod, dir+"/serving.pem", want)
			return ctx
		}).Feature()
}

// trustBundleFileModes: seed 003, "SecurityContext 交互" › "Linux" (the token
// file's mode and owner): a clusterTrustBundle file takes the mode and owner
// of a serviceAccountToken file (kubernetes-behaviour.md section 5): 0600 to
// the user all containers share, 0640 with an fsGroup and that group,
// defaultMode otherwise; the table is the projected area's.
func trustBundleFileModes() features.Feature {
	const dir = "/modes"
	rows := fileModeRows()
	cas, err := newCAs("modes root")
	b := features.New("clusterTrustBundle file modes and owners follow the securityContext").
		WithLabel("area", "trustbundles").WithLabel("source", "seed003").WithLabel("section", "Linux").
		Setup(failed(err)).
		Setup(steps.CreateNamespace()).
		Setup(signerBundle("modes", "one", nil, cas["modes root"].PEM()))
	for _, r := range rows {
		b = b.Setup(steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			return steps.ProbePod("ctb-modes-"+r.name).Projected("vol", dir, r.defaultMode,
				bySigner(steps.FeatureSigner(ctx, "modes"), everything(), "roots.pem", false)).Edit(r.edit)
		}))
	}
	for _, r := range rows {
		b = b.Setup(steps.WaitPodServing("ctb-modes-" + r.name))
	}
	for _, r := range rows {
		pod := "ctb-modes-" + r.name
		b = b.Assess(r.name, func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			got, err := steps.ReadFile(ctx, t, pod, dir+"/roots.pem")
			if err != nil {
				t.Error(err)
				return ctx
			}
			if got.Mode != r.token.mode || got.UID != r.token.uid || got.GID != r.token.gid {
				t.Errorf("roots.pem: %s %d:%d, want %s %d:%d", got.Mode, got.UID, got.GID, r.token.mode, r.token.uid, r.token.gid)
			}
			return ctx
		})
	}
	return b.Feature()
}
