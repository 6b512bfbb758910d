package tests

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/token"
)

// TestProbe checks the suite's own probe, live, through the API server's pod
// proxy: it runs in the cluster under test (often a vendor's), so it must
// leak nothing there. Not a documented behaviour of Kubernetes: a promise of
// this suite (README, "The probe").
func TestProbe(t *testing.T) { rt.Run(t, probeCases()...) }

func probeCases() []runtime.Case {
	return []runtime.Case{runtime.Default(probeLeaksNothing())}
}

// probeLeaksNothing: the probe answers only requests with the run's secret,
// only about paths under the pod's own volume mounts, and sends a file's
// bytes only when asked for them.
func probeLeaksNothing() features.Feature {
	const pod, dir, aud = "probe-safety", "/var/run/safety", "kic-probe-safety"
	path := dir + "/token"
	const scratch = "/scratch"
	b := steps.ProbePod(pod).ProjectedToken("safety", dir, "token", aud, 3600).Edit(func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}).Mount(0, "scratch", scratch, "")
	return features.New("the probe answers only the run, only about the pod's volume mounts").
		WithLabel("area", "probe").
		Setup(steps.CreateNamespace()).
		Setup(steps.CreatePod(b)).
		Setup(steps.WaitPodServing(pod)).
		Assess("a request without the run's secret, or with another, is refused", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			cs := steps.Clientset(ctx, t)
			for _, secret := range []string{"", "0123456789abcdef-not-this-run"} {
				pc := probe.NewClient(cs, secret)
				if err := pc.Healthy(ctx, steps.Namespace(ctx), pod); err == nil || !strings.Contains(err.Error(), "X-Kic-Probe-Secret") {
					t.Errorf("GET /healthz with secret %q: %v, want the probe's refusal", secret, err)
				}
				if r, err := pc.Contents(ctx, steps.Namespace(ctx), pod, path); err == nil {
					t.Errorf("GET /files with secret %q answered %d files, want a refusal", secret, len(r.Files))
				}
			}
			return ctx
		}).
		Assess("paths outside the pod's volume mounts are refused: /proc, the root file system, escapes by ..", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			pc := steps.Probe(ctx, t)
			for _, p := range []string{"/proc/1/environ", "/proc/self/environ", "/probe", "/etc/hostname", dir + "/../../../proc/1/environ"} {
				if r, err := pc.Contents(ctx, steps.Namespace(ctx), pod, p); !apierrors.IsForbidden(err) {
					t.Errorf("GET /files?path=%s: %v (report %v), want 403", p, err, r)
				}
			}
			return ctx
		}).
		Assess("a file's bytes are sent only when asked for; its digest always", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			f, err := steps.ReadFile(ctx, t, pod, path)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if len(f.Content) != 0 || f.SHA256 == "" || f.Size == 0 {
				t.Errorf("%s without content: %d bytes, sha256 %q, size %d; want the digest and size only", path, len(f.Content), f.SHA256, f.Size)
			}
			c, err := steps.ReadContent(ctx, t, pod, path)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if got := token.Fingerprint(string(c.Content)); "sha256:"+f.SHA256[:12] != got {
				t.Errorf("%s: content %s does not match the digest sha256:%.12s", path, got, f.SHA256)
			}
			return ctx
		}).
		Assess("the write test tells a writable emptyDir from the read-only projected volume, and leaves nothing", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			pc := steps.Probe(ctx, t)
			ns := steps.Namespace(ctx)
			if wt, err := pc.WriteTest(ctx, ns, pod, scratch); err != nil || !wt.Wrote || wt.Error != "" {
				t.Errorf("write test in the emptyDir %s: %+v, %v; want a file created and removed", scratch, wt, err)
			}
			if f, err := steps.ReadFile(ctx, t, pod, scratch); err != nil {
				t.Error(err) // the projected volume is still checked
			} else if len(f.Entries) != 0 {
				t.Errorf("%s holds %v after the write test, want nothing", scratch, f.Entries)
			}
			if wt, err := pc.WriteTest(ctx, ns, pod, dir); err != nil || wt.Wrote || wt.Errno != "EROFS" {
				t.Errorf("write test in the projected volume %s: %+v, %v; want EROFS", dir, wt, err)
			}
			return ctx
		}).Feature()
}
