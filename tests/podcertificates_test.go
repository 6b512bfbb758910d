package tests

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/defects"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/pki"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/signer"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// TestPodCertificates: seed 003, section "podCertificate 投射卷"
// (podCertificate projected volumes), with the kubelet's and the API's exact
// behaviour from kubernetes-behaviour.md sections 0 and 7. No in-tree
// signer issues pod certificates: each feature runs the suite's own
// (framework/signer) for a signer name of its own.
func TestPodCertificates(t *testing.T) { rt.Run(t, podCertificateCases()...) }

// podCertRefreshBound: with beginRefreshAt = notBefore + 10 min the kubelet
// starts a refresh within 5 min of jitter, its refresh pass runs every 1-2
// min, and the file is written at the next pod sync (kubernetes-behaviour.md
// section 7), at most about 18.5 min after notBefore; the signer backdates
// notBefore by 4m30s. Seen: 835 s and, with every area running, 968 s.
const podCertRefreshBound = 22 * time.Minute

func podCertificateCases() []runtime.Case {
	pc := func(f features.Feature) runtime.Case {
		return runtime.Default(f).Requires(podCertificates).Access(cluster.SignerAccess, cluster.TrustBundleAccess)
	}
	return []runtime.Case{
		pc(documentedPodCertificatePod()).Access(cluster.GetNodeAccess),
		pc(podCertificateKeyTypes()),
		pc(podCertificateSeparateFiles()),
		pc(podCertificateValidation()).Access(cluster.ImpersonateAccess, cluster.GetNodeAccess),
		pc(podCertificateDenied()).Access(cluster.GetNodeAccess),
		pc(podCertificateRefresh()).Slow(podCertRefreshBound),
		pc(podCertificateMutualTLS()),
		pc(podCertificateFileModes()),
	}
}

// podCert is a podCertificate source.
func podCert(signerName, keyType, bundlePath string) *corev1.PodCertificateProjection {
	return &corev1.PodCertificateProjection{SignerName: signerName, KeyType: keyType, CredentialBundlePath: bundlePath}
}

func podCertSource(p *corev1.PodCertificateProjection) corev1.VolumeProjection {
	return corev1.VolumeProjection{PodCertificate: p}
}

// startSigner is a setup step running the suite's signer for the feature's
// signer name(s) (steps.FeatureSigner(ctx, path)), or for name when path
// is empty; it puts the signer in the context.
func startSigner(name, path string, o signer.Options) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Helper()
		if path != "" {
			name = steps.FeatureSigner(ctx, path)
		}
		o.SignerNames = []string{name}
		sg, err := steps.StartSigner(ctx, t, o)
		if err != nil {
			t.Fatal(err)
		}
		return context.WithValue(ctx, signerKey{}, sg)
	}
}

type signerKey struct{}

// signerFrom returns the signer startSigner put in the context. Its absence
// is a programming error (a feature without the setup step: a failed
// startSigner stops the feature before any assessment), so it stays fatal.
func signerFrom(ctx context.Context, t *testing.T) *signer.Signer {
	t.Helper()
	sg, _ := ctx.Value(signerKey{}).(*signer.Signer)
	if sg == nil {
		t.Fatal("no signer in the context (a setup step starts it)")
	}
	return sg
}

// readCredentials reads a credential bundle file through the probe; on
// failure it reports (t.Error) and returns nil credentials.
func readCredentials(ctx context.Context, t *testing.T, pod, path string) (*pki.Credentials, *probe.FileReport) {
	t.Helper()
	f, err := steps.ReadContent(ctx, t, pod, path)
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	cr, err := pki.ParseCredentialBundle(f.Content)
	if err != nil {
		t.Errorf("%s in pod %s: %v", path, pod, err)
		return nil, f
	}
	return cr, f
}

// expectCredentials checks what a pod's credentials must be: a key of
// keyType matching the leaf, a chain verifying to the signer's root through
// its intermediate, and a leaf naming the pod as the signer names it.
func expectCredentials(ctx context.Context, t *testing.T, sg *signer.Signer, pod, keyType string, cr *pki.Credentials) {
	t.Helper()
	if cr == nil {
		return
	}
	leaf := cr.Chain[0]
	if got := pki.KeyType(cr.Key.Public()); got != keyType {
		t.Errorf("the private key is %s, want %s", got, keyType)
	}
	if !pki.SameKey(cr.Key.Public(), leaf.PublicKey) {
		t.Error("the private key does not belong to the leaf certificate")
	}
	if n, err := pki.VerifyChain(cr.Chain, sg.Roots()); err != nil {
		t.Errorf("the chain does not verify to the signer's root: %v", err)
	} else if n != 3 || len(cr.Chain) != 2 || !cr.Chain[1].Equal(sg.Intermediate()) {
		t.Errorf("chain of %d certificates, verified path %d long: want leaf then the signer's intermediate, verified up to its root", len(cr.Chain), n)
	}
	p, err := steps.Pod(ctx, steps.Clientset(ctx, t), pod)
	if err != nil {
		t.Error(err)
		return
	}
	ns, sa, name, ok := signer.Identity(leaf)
	uid, _ := signer.PodUID(leaf)
	if !ok || ns != p.Namespace || sa != p.Spec.ServiceAccountName || name != p.Name || uid != p.UID {
		t.Errorf("the leaf names %s/%s (sa %s, uid %s), want pod %s/%s (sa %s, uid %s): %s %v",
			ns, name, sa, uid, p.Namespace, p.Name, p.Spec.ServiceAccountName, p.UID, leaf.Subject, leaf.URIs)
	}
}

// documentedPodCertificatePod: seed 003, "podCertificate 投射卷": the
// documented podcertificate-pod asks signer coolcert.example.com/foo for an
// ED25519 key and writes the credential bundle to credentialbundle.pem: a
// PKCS#8 "PRIVATE KEY" block, then the CERTIFICATE chain, leaf first. The
// kubelet's PodCertificateRequest names the pod, its ServiceAccount and its
// node with their UIDs, and maxExpirationSeconds defaults to 86400.
func documentedPodCertificatePod() features.Feature {
	const pod, path = "podcertificate-pod", "/var/run/my-x509-credentials/credentialbundle.pem"
	return features.New("podcertificate-pod gets an ED25519 key and its certificate chain in one bundle").
		WithLabel("area", "podcertificates").WithLabel("source", "seed003").WithLabel("section", "podCertificate 投射卷").
		Setup(steps.CreateNamespace()).
		Setup(startSigner("coolcert.example.com/foo", "", signer.Options{})).
		Setup(steps.DeployFixture("seed003-projected-volumes/podcertificate-pod.yaml")).
		Setup(steps.WaitPodServing(pod)).
		Assess("credentialbundle.pem: a PRIVATE KEY block, then the chain, leaf first", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			f, err := steps.ReadContent(ctx, t, pod, path)
			if err != nil {
				t.Error(err)
				return ctx
			}
			var types []string
			for _, b := range pki.Parse(f.Content).Blocks {
				types = append(types, b.Type)
			}
			if want := []string{"PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"}; !slices.Equal(types, want) {
				t.Errorf("blocks %q, want %q (key, leaf, intermediate)", types, want)
			}
			return ctx
		}).
		Assess("the key is ED25519, the leaf's, and the chain verifies to the signer's root", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			cr, _ := readCredentials(ctx, t, pod, path)
			expectCredentials(ctx, t, signerFrom(ctx, t), pod, "ED25519", cr)
			return ctx
		}).
		Assess("the file is 0644 root:root (defaultMode 420): the private key is readable by every user of the container", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if f, err := steps.ReadFile(ctx, t, pod, path); err != nil {
				t.Error(err)
			} else if f.Mode != "0644" || f.UID != 0 || f.GID != 0 {
				t.Errorf("%s: %s %d:%d, want 0644 0:0", path, f.Mode, f.UID, f.GID)
			}
			return ctx
		}).
		Assess("the PodCertificateRequest names the live pod, ServiceAccount and node, maxExpirationSeconds 86400", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			res, err := signerFrom(ctx, t).WaitResult(ctx, steps.Namespace(ctx), pod, steps.APITimeout)
			if err != nil {
				t.Error(err)
				return ctx
			}
			live, err := liveIdentity(ctx, steps.Clientset(ctx, t), pod)
			if err != nil {
				t.Error(err)
				return ctx
			}
			r := res.Request
			got := fmt.Sprintf("pod %s/%s, sa %s/%s, node %s/%s", r.PodName, r.PodUID, r.ServiceAccountName, r.ServiceAccountUID, r.NodeName, r.NodeUID)
			want := fmt.Sprintf("pod %s/%s, sa %s/%s, node %s/%s", live.Pod.Name, live.Pod.UID, live.ServiceAccount.Name, live.ServiceAccount.UID, live.Node.Name, live.Node.UID)
			if got != want {
				t.Errorf("request %s names %s, want %s", r.Name, got, want)
			}
			if r.MaxExpirationSeconds != 86400 {
				t.Errorf("maxExpirationSeconds = %d, want the default 86400", r.MaxExpirationSeconds)
			}
			if !strings.HasPrefix(r.Name, "req-") {
				t.Errorf("request name %q: the kubelet names its requests req-<random>", r.Name)
			}
			return ctx
		}).Feature()
}

// allKeyTypes are the documented keyType values.
var allKeyTypes = []string{"ED25519", "ECDSAP256", "ECDSAP384", "ECDSAP521", "RSA3072", "RSA4096"}

// podCertificateKeyTypes: seed 003, "podCertificate 投射卷", lists the valid
// keyType values; for each the key in the bundle is of that type and size,
// belongs to the leaf, and the chain verifies to the signer's root.
func podCertificateKeyTypes() features.Feature {
	const dir = "/creds"
	b := features.New("every documented keyType gives a key of that type and size").
		WithLabel("area", "podcertificates").WithLabel("source", "seed003").WithLabel("section", "podCertificate 投射卷").
		Setup(steps.CreateNamespace()).
		Setup(startSigner("", "keys", signer.Options{}))
	for _, kt := range allKeyTypes {
		b = b.Setup(steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			return steps.ProbePod("key-"+strings.ToLower(kt)).Projected("creds", dir, nil, podCertSource(podCert(steps.FeatureSigner(ctx, "keys"), kt, "bundle.pem")))
		}))
	}
	for _, kt := range allKeyTypes {
		b = b.Setup(steps.WaitPodServing("key-" + strings.ToLower(kt)))
	}
	for _, kt := range allKeyTypes {
		pod := "key-" + strings.ToLower(kt)
		b = b.Assess(kt, func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			cr, _ := readCredentials(ctx, t, pod, dir+"/bundle.pem")
			expectCredentials(ctx, t, signerFrom(ctx, t), pod, kt, cr)
			return ctx
		})
	}
	return b.Feature()
}

// podCertificateSeparateFiles: seed 003, "podCertificate 投射卷": keyPath and
// certificateChainPath write the key and the chain to files of their own, and
// all three paths may be given at once; they hold one set of credentials.
func podCertificateSeparateFiles() features.Feature {
	const pod, dir = "separate-files", "/creds"
	return features.New("keyPath and certificateChainPath hold the same credentials as the bundle").
		WithLabel("area", "podcertificates").WithLabel("source", "seed003").WithLabel("section", "podCertificate 投射卷").
		Setup(steps.CreateNamespace()).
		Setup(startSigner("", "files", signer.Options{})).
		Setup(steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			s := steps.FeatureSigner(ctx, "files")
			all := podCert(s, "ECDSAP256", "bundle.pem")
			all.KeyPath, all.CertificateChainPath = "tls.key", "tls.crt"
			split := &corev1.PodCertificateProjection{SignerName: s, KeyType: "ED25519", KeyPath: "only.key", CertificateChainPath: "only.crt"}
			return steps.ProbePod(pod).Projected("creds", dir, nil, podCertSource(all), podCertSource(split))
		})).
		Setup(steps.WaitPodServing(pod)).
		Assess("keyPath holds only the key, certificateChainPath only the chain, and they belong together", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			kf, err := steps.ReadContent(ctx, t, pod, dir+"/only.key")
			if err != nil {
				t.Error(err)
				return ctx
			}
			key, err := pki.ParseKeyFile(kf.Content)
			if err != nil {
				t.Error(err)
				return ctx
			}
			cf, err := steps.ReadContent(ctx, t, pod, dir+"/only.crt")
			if err != nil {
				t.Error(err)
				return ctx
			}
			chain, err := pki.ParseChainFile(cf.Content)
			if err != nil {
				t.Error(err)
				return ctx
			}
			expectCredentials(ctx, t, signerFrom(ctx, t), pod, "ED25519", &pki.Credentials{Key: key, Chain: chain})
			return ctx
		}).
		Assess("with all three paths, the key and chain files equal the bundle's parts", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			cr, _ := readCredentials(ctx, t, pod, dir+"/bundle.pem")
			if cr == nil {
				return ctx
			}
			expectCredentials(ctx, t, signerFrom(ctx, t), pod, "ECDSAP256", cr)
			kf, kerr := steps.ReadContent(ctx, t, pod, dir+"/tls.key")
			cf, cerr := steps.ReadContent(ctx, t, pod, dir+"/tls.crt")
			if kerr != nil || cerr != nil {
				for _, err := range []error{kerr, cerr} {
					if err != nil {
						t.Error(err)
					}
				}
				return ctx
			}
			key, kerr := pki.ParseKeyFile(kf.Content)
			chain, cerr := pki.ParseChainFile(cf.Content)
			switch {
			case kerr != nil || cerr != nil:
				t.Errorf("tls.key: %v; tls.crt: %v", kerr, cerr)
			case !pki.SameKey(key.Public(), cr.Key.Public()):
				t.Error("tls.key is not the bundle's key")
			case len(chain) != len(cr.Chain) || !chain[0].Equal(cr.Chain[0]):
				t.Error("tls.crt is not the bundle's chain")
			}
			return ctx
		}).Feature()
}

// podCertificateValidation: seed 003, "podCertificate 投射卷", and the API
// (kubernetes-behaviour.md section 7): maxExpirationSeconds must be in [3600,
// 7862400], at most 86400 for a kubernetes.io signer; keyType must be a
// documented one; and only the pod's own node may ask for its certificate
// (NodeRestriction).
func podCertificateValidation() features.Feature {
	return features.New("the API validates podCertificate sources and who may request a pod's certificate").
		WithLabel("area", "podcertificates").WithLabel("source", "seed003").WithLabel("section", "podCertificate 投射卷").
		Setup(steps.CreateNamespace()).
		Setup(startSigner("", "valid", signer.Options{})).
		Assess("maxExpirationSeconds 3599, 7862401, 86401 for a kubernetes.io signer, and keyType DSA are refused", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			s := steps.FeatureSigner(ctx, "valid")
			withMax := func(signerName string, secs int32) *corev1.PodCertificateProjection {
				p := podCert(signerName, "ED25519", "bundle.pem")
				p.MaxExpirationSeconds = &secs
				return p
			}
			for _, c := range []struct {
				what string
				src  *corev1.PodCertificateProjection
				want string
			}{
				{"maxExpirationSeconds 3599", withMax(s, 3599), "must be >= 3600"},
				{"maxExpirationSeconds 7862401", withMax(s, 7862401), "must be <= 7862400"},
				{"maxExpirationSeconds 86401 for a kubernetes.io signer", withMax("kubernetes.io/kic-test", 86401), "must be <= 86400"},
				{"keyType DSA", podCert(s, "DSA", "bundle.pem"), "Unsupported value"},
			} {
				expectPodRefused(ctx, t, c.what, steps.ProbePod("refused").Projected("creds", "/creds", nil, podCertSource(c.src)), c.want)
			}
			return ctx
		}).
		Assess("maxExpirationSeconds 3600, 7862400 and 86400 for a kubernetes.io signer are accepted", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			s := steps.FeatureSigner(ctx, "valid")
			for _, c := range []struct {
				signer string
				secs   int32
			}{{s, 3600}, {s, 7862400}, {"kubernetes.io/kic-test", 86400}} {
				p := podCert(c.signer, "ED25519", "bundle.pem")
				p.MaxExpirationSeconds = &c.secs
				pod := steps.ProbePod("accepted").Projected("creds", "/creds", nil, podCertSource(p))
				if err := dryRunPod(ctx, t, pod); err != nil {
					t.Errorf("%s, maxExpirationSeconds %d: %v", c.signer, c.secs, err)
				}
			}
			return ctx
		}).
		Assess("a node may not request the certificate of a pod on another node", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			s := steps.FeatureSigner(ctx, "valid")
			if err := steps.CreatePodNow(ctx, t, steps.ProbePod("victim").Projected("creds", "/creds", nil, podCertSource(podCert(s, "ED25519", "bundle.pem")))); err != nil {
				t.Error(err)
				return ctx
			}
			if err := steps.WaitPodServingFor(ctx, t, "victim", steps.PodStartTimeout); err != nil {
				t.Error(err)
				return ctx
			}
			live, err := liveIdentity(ctx, steps.Clientset(ctx, t), "victim")
			if err != nil {
				t.Error(err)
				return ctx
			}
			other := "kic-other-node"
			node, err := steps.ImpersonatingNode(ctx, t, other)
			if err != nil {
				t.Error(err)
				return ctx
			}
			stub, err := stubRequest()
			if err != nil {
				t.Error(err)
				return ctx
			}
			pcr := &certificatesv1.PodCertificateRequest{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "req-", Namespace: steps.Namespace(ctx)},
				Spec: certificatesv1.PodCertificateRequestSpec{
					SignerName: s, PodName: live.Pod.Name, PodUID: types.UID(live.Pod.UID),
					ServiceAccountName: live.ServiceAccount.Name, ServiceAccountUID: types.UID(live.ServiceAccount.UID),
					NodeName: types.NodeName(live.Node.Name), NodeUID: types.UID(live.Node.UID), StubPKCS10Request: stub,
				},
			}
			err = steps.DryRunPodCertificateRequest(ctx, node, pcr)
			switch {
			case err == nil:
				t.Errorf("system:node:%s may request the certificate of pod %s on node %s", other, live.Pod.Name, live.Node.Name)
			case !apierrors.IsForbidden(err):
				t.Errorf("system:node:%s refused, but not with 403: %v", other, err)
			default:
				t.Logf("refused: %v", err)
			}
			return ctx
		}).Feature()
}

// dryRunPod creates the pod with a server-side dry run.
func dryRunPod(ctx context.Context, t *testing.T, b *steps.PodBuilder) error {
	t.Helper()
	s, err := steps.SuiteFrom(ctx)
	if err != nil {
		return err
	}
	p := b.Build(s, steps.Namespace(ctx))
	_, err = steps.Clientset(ctx, t).CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// podCertificateDenied: a signer may refuse (seed 003, "podCertificate
// 投射卷": "签名者 ... 可能拒绝向 你的 Pod 颁发证书"): a Denied or Failed
// request is terminal, the pod does not start, and the kubelet says why in a
// FailedMount event and a Warning event of reason Denied / Failed. The
// event's message is checked against known defect kubelet-pcr-event-format.
func podCertificateDenied() features.Feature {
	const dir = "/creds"
	decide := func(pod, decision string) features.Func {
		return steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			p := podCert(steps.FeatureSigner(ctx, "deny"), "ED25519", "bundle.pem")
			p.UserAnnotations = map[string]string{signer.DecisionAnnotation: decision}
			return steps.ProbePod(pod).Projected("creds", dir, nil, podCertSource(p))
		})
	}
	b := features.New("a denied or failed request keeps the pod from starting, and the kubelet says why").
		WithLabel("area", "podcertificates").WithLabel("source", "seed003").WithLabel("section", "podCertificate 投射卷").WithLabel("defect", defects.KubeletPCREventMessage.ID).
		Setup(steps.CreateNamespace()).
		Setup(startSigner("", "deny", signer.Options{})).
		Setup(decide("denied", "deny")).
		Setup(decide("failed", "fail"))
	// verb is the FailedMount error's word, event the event's
	// (podcertificatemanager.go: "was denied", but "failed").
	for _, c := range []struct{ pod, decision, verb, event string }{
		{"denied", signer.DecisionDenied, "denied", "was denied"},
		{"failed", signer.DecisionFailed, "failed", "failed"},
	} {
		b = b.Assess(c.decision+": the pod stays Pending, FailedMount says the request was permanently "+c.verb, func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			res, err := signerFrom(ctx, t).WaitResult(ctx, steps.Namespace(ctx), c.pod, steps.PodStartTimeout)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if res.Decision != c.decision {
				t.Errorf("the signer decided %s, want %s", res.Decision, c.decision)
			}
			expectBlocked(ctx, t, c.pod, fmt.Sprintf("PodCertificateRequest was permanently %s: reason=%q", c.verb, res.Reason))
			return ctx
		}).Assess(c.decision+": a Warning event of reason "+c.decision+" with the documented message (known defect "+defects.KubeletPCREventMessage.ID+")", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			res, err := signerFrom(ctx, t).WaitResult(ctx, steps.Namespace(ctx), c.pod, steps.PodStartTimeout)
			if err != nil {
				t.Error(err)
				return ctx
			}
			ev, err := steps.WaitPodEvent(ctx, t, c.pod, c.decision, "", steps.PodStartTimeout)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if ev.Type != corev1.EventTypeWarning {
				t.Errorf("event type %s, want Warning", ev.Type)
			}
			version, err := steps.KubeletVersion(ctx, t, c.pod)
			if err != nil {
				t.Error(err)
				return ctx
			}
			documented := fmt.Sprintf("PodCertificateRequest %s/%s %s, reason=%q, message=%q", res.Namespace, res.Name, c.event, res.Reason, res.Message)
			o := defects.Observation{Version: version, Seen: fmt.Sprintf("message %q", ev.Message)}
			switch {
			case ev.Message == documented:
				o.Documented = true
			case ev.Message == res.Reason+"%!(EXTRA string="+documented+")":
				o.Defective = true
			}
			steps.CheckDefect(ctx, t, defects.KubeletPCREventMessage, o)
			return ctx
		})
	}
	return b.Feature()
}

// podCertificateRefresh: seed 003, "podCertificate 投射卷": the kubelet
// refreshes the key and certificate before they expire. With notBefore as
// early as the API allows (now - 4m30s), a 1 h certificate and beginRefreshAt
// = notBefore + 10 min, a new key and certificate reach the file; until then
// the old credentials are served, never an empty or partial file. The delay
// after beginRefreshAt is measured and reported.
func podCertificateRefresh() features.Feature {
	const pod, path = "refresh", "/creds/bundle.pem"
	return features.New("the kubelet refreshes the key and certificate after beginRefreshAt").
		WithLabel("area", "podcertificates").WithLabel("source", "seed003").WithLabel("section", "podCertificate 投射卷").WithLabel("speed", "slow").
		Setup(steps.CreateNamespace()).
		Setup(startSigner("", "refresh", signer.Options{NotBeforeSkew: 4*time.Minute + 30*time.Second, Lifetime: time.Hour, RefreshAfter: 10 * time.Minute})).
		Setup(steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			return steps.ProbePod(pod).Projected("creds", "/creds", nil, podCertSource(podCert(steps.FeatureSigner(ctx, "refresh"), "ECDSAP256", "bundle.pem")))
		})).
		Setup(steps.WaitPodServing(pod)).
		Assess("a new key and certificate replace the old ones after beginRefreshAt; the old ones are served until then", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			sg := signerFrom(ctx, t)
			first, err := sg.WaitResult(ctx, steps.Namespace(ctx), pod, steps.APITimeout)
			if err != nil {
				t.Error(err)
				return ctx
			}
			old, _ := readCredentials(ctx, t, pod, path)
			if old == nil {
				return ctx
			}
			if !old.Chain[0].Equal(first.Leaf) {
				t.Error("the file does not hold the certificate the signer issued")
				return ctx
			}
			var changed time.Time
			var last string
			err = wait.For(ctx, "the credentials to be refreshed", wait.Options{Timeout: time.Until(first.NotBefore.Add(podCertRefreshBound)), Interval: 5 * time.Second,
				Due: fmt.Sprintf("after beginRefreshAt %s + up to 5 min jitter", first.BeginRefreshAt.Format(time.TimeOnly))},
				func(ctx context.Context) (bool, string, error) {
					f, err := steps.Probe(ctx, t).Contents(ctx, steps.Namespace(ctx), pod, path)
					if err != nil {
						return false, err.Error(), nil
					}
					r, err := f.File(path)
					if err != nil {
						return false, err.Error(), nil
					}
					cr, err := pki.ParseCredentialBundle(r.Content)
					if err != nil {
						return false, "", fmt.Errorf("the file was unreadable as credentials during the refresh: %w", err)
					}
					if cr.Chain[0].Equal(old.Chain[0]) {
						if time.Now().Before(first.BeginRefreshAt) {
							last = "old credentials, before beginRefreshAt"
						} else {
							last = fmt.Sprintf("old credentials, %s after beginRefreshAt", time.Since(first.BeginRefreshAt).Round(time.Second))
						}
						return false, last, nil
					}
					changed = time.Now()
					if pki.SameKey(cr.Key.Public(), old.Key.Public()) {
						t.Error("the refreshed credentials keep the old key: a refresh generates a new key")
					}
					expectCredentials(ctx, t, sg, pod, "ECDSAP256", cr)
					return true, "", nil
				})
			if err != nil {
				t.Error(err)
				return ctx
			}
			if changed.Before(first.BeginRefreshAt) {
				t.Errorf("refreshed at %s, before beginRefreshAt %s", changed.Format(time.TimeOnly), first.BeginRefreshAt.Format(time.TimeOnly))
			}
			t.Logf("measured: credentials refreshed %.0f s after beginRefreshAt (%.0f s after notBefore)", changed.Sub(first.BeginRefreshAt).Seconds(), changed.Sub(first.NotBefore).Seconds())
			return ctx
		}).Feature()
}

// podCertificateMutualTLS: seed 003, "podCertificate 投射卷" (the key and
// chain are client or server credentials): the credentials work: two pods of
// different ServiceAccounts complete a mutual-TLS handshake with their pod
// certificates, each verifying the other's chain against the signer's trust
// bundle, projected into it through clusterTrustBundle; each sees the other's
// SPIFFE identity.
func podCertificateMutualTLS() features.Feature {
	const dir, port = "/creds", 8443
	tlsPod := func(name, sa string) features.Func {
		return steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			s := steps.FeatureSigner(ctx, "mtls")
			return steps.ProbePod(name).ServiceAccount(sa).Projected("creds", dir, nil,
				podCertSource(podCert(s, "ECDSAP256", "bundle.pem")),
				bySigner(s, everything(), "trust.pem", false))
		})
	}
	return features.New("two pods complete mutual TLS with their pod certificates").
		WithLabel("area", "podcertificates").WithLabel("source", "seed003").WithLabel("section", "podCertificate 投射卷").
		Setup(steps.CreateNamespace()).
		Setup(startSigner("", "mtls", signer.Options{})).
		Setup(steps.CreateServiceAccount("server")).
		Setup(steps.CreateServiceAccount("client")).
		Setup(tlsPod("tls-server", "server")).
		Setup(tlsPod("tls-client", "client")).
		Setup(steps.WaitPodServing("tls-server")).
		Setup(steps.WaitPodServing("tls-client")).
		Assess("the handshake succeeds and each side sees the other's identity", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := steps.Namespace(ctx)
			pc := steps.Probe(ctx, t)
			creds := probe.TLSCredentials{Bundle: dir + "/bundle.pem"}
			if err := pc.ServeTLS(ctx, ns, "tls-server", creds, dir+"/trust.pem", port); err != nil {
				t.Error(err)
				return ctx
			}
			server, err := steps.Pod(ctx, steps.Clientset(ctx, t), "tls-server")
			if err != nil {
				t.Error(err)
				return ctx
			}
			d, err := pc.DialTLS(ctx, ns, "tls-client", creds, dir+"/trust.pem", net.JoinHostPort(server.Status.PodIP, fmt.Sprint(port)), "", true)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if !d.OK {
				t.Errorf("the client's handshake failed: %s", d.Error)
				return ctx
			}
			if want := signer.SPIFFEID(ns, "server"); d.Server == nil || !slices.Equal(d.Server.URIs, []string{want}) {
				t.Errorf("the client saw server identity %+v, want %s", d.Server, want)
			}
			served, err := pc.ServedTLS(ctx, ns, "tls-server", port)
			if err != nil {
				t.Error(err)
				return ctx
			}
			want := signer.SPIFFEID(ns, "client")
			ok := slices.ContainsFunc(served.Handshakes, func(h probe.TLSHandshake) bool {
				return h.OK && h.Peer != nil && slices.Equal(h.Peer.URIs, []string{want}) && h.Peer.SHA256 == d.ClientSHA256
			})
			if !ok {
				t.Errorf("the server recorded no verified handshake from %s: %+v", want, served.Handshakes)
			}
			return ctx
		}).
		Assess("a certificate of another CA is refused", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := steps.Namespace(ctx)
			pc := steps.Probe(ctx, t)
			server, err := steps.Pod(ctx, steps.Clientset(ctx, t), "tls-server")
			if err != nil {
				t.Error(err)
				return ctx
			}
			// The client trusts only the cluster's CA (kube-api-access):
			// the server's pod certificate must not verify.
			d, err := pc.DialTLS(ctx, ns, "tls-client", probe.TLSCredentials{Bundle: dir + "/bundle.pem"},
				"/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", net.JoinHostPort(server.Status.PodIP, fmt.Sprint(port)), "", true)
			switch {
			case err != nil:
				t.Error(err)
			case d.OK:
				t.Error("a client trusting only the cluster CA accepted the pod certificate")
			case !strings.Contains(d.Error, "unknown authority"):
				t.Errorf("refused with %q, want an unknown-authority error", d.Error)
			}
			return ctx
		}).Feature()
}

// podCertificateFileModes: seed 003, "SecurityContext 交互" › "Linux" (the
// token file's mode and owner): podCertificate files take the mode and owner
// of a serviceAccountToken file (kubernetes-behaviour.md section 5), the
// projected area's table: by default the private key is 0644.
func podCertificateFileModes() features.Feature {
	const dir = "/modes"
	rows := fileModeRows()
	b := features.New("podCertificate file modes and owners follow the securityContext").
		WithLabel("area", "podcertificates").WithLabel("source", "seed003").WithLabel("section", "Linux").
		Setup(steps.CreateNamespace()).
		Setup(startSigner("", "modes", signer.Options{}))
	for _, r := range rows {
		b = b.Setup(steps.CreatePodFrom(func(ctx context.Context) *steps.PodBuilder {
			return steps.ProbePod("pc-modes-"+r.name).Projected("vol", dir, r.defaultMode,
				podCertSource(podCert(steps.FeatureSigner(ctx, "modes"), "ED25519", "bundle.pem"))).Edit(r.edit)
		}))
	}
	for _, r := range rows {
		b = b.Setup(steps.WaitPodServing("pc-modes-" + r.name))
	}
	for _, r := range rows {
		pod := "pc-modes-" + r.name
		b = b.Assess(r.name, func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			got, err := steps.ReadFile(ctx, t, pod, dir+"/bundle.pem")
			if err != nil {
				t.Error(err)
				return ctx
			}
			if got.Mode != r.token.mode || got.UID != r.token.uid || got.GID != r.token.gid {
				t.Errorf("bundle.pem: %s %d:%d, want %s %d:%d", got.Mode, got.UID, got.GID, r.token.mode, r.token.uid, r.token.gid)
			}
			return ctx
		})
	}
	return b.Feature()
}

// stubRequest is a PKCS#10 request as a 1.36+ kubelet makes it: an empty
// template signed by a fresh key.
func stubRequest() ([]byte, error) {
	ca, err := pki.NewLeaf("stub")
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{}, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("stub PKCS#10 request: %w", err)
	}
	return der, nil
}
