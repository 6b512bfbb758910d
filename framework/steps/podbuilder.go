package steps

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// PodBuilder builds the probe pods of cases the documents do not spell out
// as manifests (the securityContext table, the extension controls, ...).
// The image and namespace are filled in when the pod is created.
type PodBuilder struct{ pod corev1.Pod }

// ProbePod starts a pod running the probe in one container, "probe".
func ProbePod(name string) *PodBuilder {
	return &PodBuilder{pod: corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "probe"}},
			TerminationGracePeriodSeconds: ptr(int64(2)),
		},
	}}
}

func ptr[T any](v T) *T { return &v }

// ServiceAccount sets spec.serviceAccountName.
func (b *PodBuilder) ServiceAccount(sa string) *PodBuilder {
	b.pod.Spec.ServiceAccountName = sa
	return b
}

// ProjectedToken adds a projected volume with one serviceAccountToken source
// (audience "" = none, seconds 0 = the API default) mounted at dir.
func (b *PodBuilder) ProjectedToken(volume, dir, path, audience string, seconds int64) *PodBuilder {
	src := &corev1.ServiceAccountTokenProjection{Path: path, Audience: audience}
	if seconds > 0 {
		src.ExpirationSeconds = &seconds
	}
	return b.Projected(volume, dir, nil, corev1.VolumeProjection{ServiceAccountToken: src})
}

// Projected adds a projected volume of the given sources mounted at dir in
// the first container.
func (b *PodBuilder) Projected(volume, dir string, defaultMode *int32, sources ...corev1.VolumeProjection) *PodBuilder {
	b.pod.Spec.Volumes = append(b.pod.Spec.Volumes, corev1.Volume{Name: volume, VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{Sources: sources, DefaultMode: defaultMode},
	}})
	return b.Mount(0, volume, dir, "")
}

// Mount mounts a volume in container i at dir (subPath "" = whole volume).
func (b *PodBuilder) Mount(i int, volume, dir, subPath string) *PodBuilder {
	c := &b.pod.Spec.Containers[i]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: volume, MountPath: dir, SubPath: subPath})
	return b
}

// Container adds another probe container.
func (b *PodBuilder) Container(name string) *PodBuilder {
	b.pod.Spec.Containers = append(b.pod.Spec.Containers, corev1.Container{Name: name})
	return b
}

// Edit changes the pod in any other way.
func (b *PodBuilder) Edit(f func(*corev1.Pod)) *PodBuilder {
	f(&b.pod)
	return b
}

// Build returns the pod in namespace, every container running the run's
// probe (WireProbe).
func (b *PodBuilder) Build(s Suite, namespace string) *corev1.Pod {
	p := b.pod.DeepCopy()
	p.Namespace = namespace
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			cs[i].Image = s.ProbeImage
			cs[i].ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
	WireProbe(&p.Spec)
	return p
}

// WireProbe gives every container of spec what the probe needs to serve
// (probe.Env): the run's secret from the namespace's ProbeSecretName Secret,
// and the container's own volume mounts as its allow-list. Every pod the
// suite creates goes through it.
func WireProbe(spec *corev1.PodSpec) {
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			cs[i].Env = append(cs[i].Env, probe.Env(ProbeSecretName, cs[i].VolumeMounts)...)
		}
	}
}

// CreatePod is a setup step creating the built pod in the feature's
// namespace; it stops the feature when the pod cannot be created.
func CreatePod(b *PodBuilder) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Helper()
		if err := CreatePodNow(ctx, t, b); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
}

// CreatePodNow is CreatePod as a call, for an assessment: it returns the
// error for the assessment to report (t.Error) rather than stopping the
// feature.
func CreatePodNow(ctx context.Context, t *testing.T, b *PodBuilder) error {
	t.Helper()
	s, err := SuiteFrom(ctx)
	if err != nil {
		return err
	}
	pod := b.Build(s, Namespace(ctx))
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	if _, err := Clientset(ctx, t).CoreV1().Pods(pod.Namespace).Create(cctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create pod %s: %w", pod.Name, err)
	}
	return nil
}

// CreateServiceAccount is a setup step creating a ServiceAccount in the
// feature's namespace; it stops the feature when that fails.
func CreateServiceAccount(name string) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Helper()
		if err := CreateServiceAccountNow(ctx, t, name); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
}

// CreateServiceAccountNow is CreateServiceAccount as a call, for an
// assessment: it returns the error for the assessment to report.
func CreateServiceAccountNow(ctx context.Context, t *testing.T, name string) error {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := Clientset(ctx, t).CoreV1().ServiceAccounts(Namespace(ctx)).Create(cctx, sa, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ServiceAccount %s: %w", name, err)
	}
	return nil
}

// DeletePod deletes a pod of the feature's namespace and waits until it is
// gone.
func DeletePod(ctx context.Context, t *testing.T, name string) error {
	t.Helper()
	cs := Clientset(ctx, t)
	ns := Namespace(ctx)
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	if err := cs.CoreV1().Pods(ns).Delete(cctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", ns, name, err)
	}
	return waitGone(ctx, fmt.Sprintf("pod %s/%s to be gone", ns, name), func(ctx context.Context) error {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err
	})
}

// EphemeralStartTimeout bounds the wait for an ephemeral container to run.
// It allows one failed start: seen in a matrix run (three clusters on two
// cores), runc failed the container's first start ("unable to freeze"),
// and the kubelet started it again 1m49s later; PodStartTimeout (2 min)
// ended the wait 11 s before that.
const EphemeralStartTimeout = 4 * time.Minute

// AddEphemeralContainer adds a probe as an ephemeral container (what
// kubectl debug does) listening on port, and waits until it runs.
func AddEphemeralContainer(ctx context.Context, t *testing.T, pod string, ec corev1.EphemeralContainer, port int) error {
	t.Helper()
	s, err := SuiteFrom(ctx)
	if err != nil {
		return err
	}
	cs := Clientset(ctx, t)
	ns := Namespace(ctx)
	p, err := cs.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get pod %s/%s: %w", ns, pod, err)
	}
	ec.Image, ec.ImagePullPolicy = s.ProbeImage, corev1.PullIfNotPresent
	ec.Env = append(ec.Env, corev1.EnvVar{Name: probe.PortEnv, Value: fmt.Sprint(port)})
	ec.Env = append(ec.Env, probe.Env(ProbeSecretName, ec.VolumeMounts)...)
	p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, ec)
	if _, err := cs.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, pod, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("add ephemeral container %s to %s/%s: %w", ec.Name, ns, pod, err)
	}
	return wait.For(ctx, fmt.Sprintf("ephemeral container %s of %s/%s to run", ec.Name, ns, pod), wait.Options{Timeout: EphemeralStartTimeout, Interval: time.Second},
		func(ctx context.Context) (bool, string, error) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			for _, st := range p.Status.EphemeralContainerStatuses {
				if st.Name == ec.Name {
					if st.State.Running != nil {
						if err := probe.NewClient(cs, s.ProbeSecret).OnPort(port).Healthy(ctx, ns, pod); err != nil {
							return false, "running; probe: " + err.Error(), nil
						}
						return true, "running, probe answers", nil
					}
					return false, fmt.Sprintf("state %+v", st.State), nil
				}
			}
			return false, "no status yet", nil
		})
}

// CreatePodFrom is a setup step creating a pod whose spec depends on the
// feature's context (its namespace's signer names, for example). An
// assessment calls CreatePodNow(ctx, t, build(ctx)) instead.
func CreatePodFrom(build func(ctx context.Context) *PodBuilder) features.Func {
	return func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
		t.Helper()
		return CreatePod(build(ctx))(ctx, t, cfg)
	}
}
