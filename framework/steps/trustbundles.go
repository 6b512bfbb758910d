package steps

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/defects"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/pki"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// FeatureSigner returns a signer name no other feature uses: the kubelet
// caches trust anchors per signer and node, and features of one cluster run
// side by side, so each feature's bundles belong to a signer of its own
// (<namespace>.kic.example/<path>).
func FeatureSigner(ctx context.Context, path string) string {
	return Namespace(ctx) + ".kic.example/" + path
}

// TrustBundleName is the name of a signer-linked bundle: the API requires
// the prefix "<signer with / as :>:".
func TrustBundleName(signer, suffix string) string {
	return strings.ReplaceAll(signer, "/", ":") + ":" + suffix
}

// TrustBundle builds a ClusterTrustBundle (signer "" = not linked to one),
// labelled with the run so that a stopped run's bundles are found.
func TrustBundle(ctx context.Context, name, signer string, labels map[string]string, bundle string) *certificatesv1.ClusterTrustBundle {
	l := map[string]string{LabelSuite: "true"}
	if s, err := SuiteFrom(ctx); err == nil {
		l[LabelRun] = s.RunID
	}
	for k, v := range labels {
		l[k] = v
	}
	return &certificatesv1.ClusterTrustBundle{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Spec:       certificatesv1.ClusterTrustBundleSpec{SignerName: signer, TrustBundle: bundle},
	}
}

// CreateTrustBundle creates a cluster-scoped bundle and removes it when the
// test ends (t.Cleanup, whatever happened). A bundle of that name that
// exists already is an error: it is not the test's to use or remove.
func CreateTrustBundle(ctx context.Context, t *testing.T, ctb *certificatesv1.ClusterTrustBundle) error {
	t.Helper()
	cs, err := TrustBundles(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	if _, err := cs.Create(cctx, ctb, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("ClusterTrustBundle %s exists already (another run's, or left over: `make clean-existing` or delete it): %w", ctb.Name, err)
		}
		return fmt.Errorf("create ClusterTrustBundle %s: %w", ctb.Name, err)
	}
	name := ctb.Name
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), APITimeout)
		defer cancel()
		if err := cs.Delete(dctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete ClusterTrustBundle %s: %v", name, err)
		}
	})
	return nil
}

// SetTrustBundle replaces a bundle's certificates.
func SetTrustBundle(ctx context.Context, t *testing.T, name, bundle string) error {
	t.Helper()
	cs, err := TrustBundles(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	ctb, err := cs.Get(cctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get ClusterTrustBundle %s: %w", name, err)
	}
	ctb.Spec.TrustBundle = bundle
	if _, err := cs.Update(cctx, ctb, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update ClusterTrustBundle %s: %w", name, err)
	}
	return nil
}

// DeleteTrustBundle deletes a bundle now (the cleanup then finds it gone).
func DeleteTrustBundle(ctx context.Context, t *testing.T, name string) error {
	t.Helper()
	cs, err := TrustBundles(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	if err := cs.Delete(cctx, name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete ClusterTrustBundle %s: %w", name, err)
	}
	return nil
}

// ReadCertSet reads a trust-bundle file in pod as a certificate set; dups
// counts certificates written more than once, text is the file.
func ReadCertSet(ctx context.Context, t *testing.T, pod, path string) (set pki.CertSet, dups int, text []byte, err error) {
	t.Helper()
	pc := Probe(ctx, t)
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	r, err := pc.Contents(cctx, Namespace(ctx), pod, path)
	if err != nil {
		return nil, 0, nil, err
	}
	f, err := r.File(path)
	if err != nil {
		return nil, 0, nil, err
	}
	set, dups, err = pki.ParseCertSet(f.Content)
	if err != nil {
		return nil, 0, f.Content, fmt.Errorf("%s in pod %s: %w", path, pod, err)
	}
	return set, dups, f.Content, nil
}

// WaitCertSet waits until the file in pod holds exactly want and returns how
// long that took; on timeout it says what the file last held.
func WaitCertSet(ctx context.Context, t *testing.T, pod, path string, want pki.CertSet, timeout time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	err := wait.For(ctx, fmt.Sprintf("%s in pod %s to hold %s", path, pod, want), wait.Options{Timeout: timeout, Interval: 2 * time.Second},
		func(ctx context.Context) (bool, string, error) {
			got, _, _, err := ReadCertSet(ctx, t, pod, path)
			if err != nil {
				return false, seenUnlessDeadline(ctx, err), nil
			}
			return got.Equal(want), got.String(), nil
		})
	return time.Since(start), err
}

// CheckDefect judges an observation of a known defect with the run's
// registry (steps.Suite.Defects).
func CheckDefect(ctx context.Context, t *testing.T, d defects.Defect, o defects.Observation) defects.Result {
	t.Helper()
	s, err := SuiteFrom(ctx)
	if err != nil || s.Defects == nil {
		t.Errorf("known defect %s: the run has no defect registry (TestMain sets Suite.Defects)", d.ID)
		return defects.Unexpected
	}
	return s.Defects.Check(t, d, o)
}

// KubeletVersion is the kubelet version of the node pod runs on.
func KubeletVersion(ctx context.Context, t *testing.T, pod string) (string, error) {
	t.Helper()
	cs := Clientset(ctx, t)
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	p, err := cs.CoreV1().Pods(Namespace(ctx)).Get(cctx, pod, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("get pod %s: %w", pod, err)
	}
	n, err := cs.CoreV1().Nodes().Get(cctx, p.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("get node %s of pod %s: %w", p.Spec.NodeName, pod, err)
	}
	return n.Status.NodeInfo.KubeletVersion, nil
}

// WaitCertSets waits until every file of want (path -> set) in pod holds its
// set, reading them all at each poll, and returns when each first did,
// after start; on timeout it says what each file last held.
func WaitCertSets(ctx context.Context, t *testing.T, pod string, want map[string]pki.CertSet, start time.Time, timeout time.Duration) (map[string]time.Duration, error) {
	t.Helper()
	took := map[string]time.Duration{}
	err := wait.For(ctx, fmt.Sprintf("%d files in pod %s to change", len(want), pod), wait.Options{Timeout: timeout, Interval: 2 * time.Second},
		func(ctx context.Context) (bool, string, error) {
			var seen []string
			for path, set := range want {
				if _, ok := took[path]; ok {
					continue
				}
				got, _, _, err := ReadCertSet(ctx, t, pod, path)
				switch {
				case err != nil && ctx.Err() != nil:
					return false, "", nil // the deadline: keep what the last poll saw
				case err != nil:
					seen = append(seen, path+": "+err.Error())
				case got.Equal(set):
					took[path] = time.Since(start)
				default:
					seen = append(seen, path+" holds "+got.String())
				}
			}
			return len(took) == len(want), strings.Join(seen, "; "), nil
		})
	return took, err
}

// seenUnlessDeadline is what a poll reports for err: nothing when the
// wait's own deadline caused it, so that the timeout shows what the poll
// before saw.
func seenUnlessDeadline(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return ""
	}
	return err.Error()
}
