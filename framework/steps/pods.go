package steps

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient/decoder"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kube-identity-conformance/kube-identity-conformance/fixtures"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// PodStartTimeout bounds the wait for an example pod to run and its probe to
// answer (the probe image is preloaded; nothing is pulled).
const PodStartTimeout = 2 * time.Minute

// DeployFixture creates the objects of a documented example (fixtures/) in
// the feature's namespace, with the probe image in place of the example's.
func DeployFixture(name string) features.Func { return deployFixture(name) }

// DeployUnnamedFixture is DeployFixture for an example the document gives
// without a name: its object is called objectName.
func DeployUnnamedFixture(name, objectName string) features.Func {
	return deployFixture(name, fixtures.NameIfUnnamed(objectName))
}

func deployFixture(name string, more ...decoder.DecodeOption) features.Func {
	return func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
		t.Helper()
		s, err := SuiteFrom(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ns := Namespace(ctx)
		if ns == "" {
			t.Fatal("DeployFixture needs CreateNamespace first")
		}
		objs, err := fixtures.Load(ctx, name, append([]decoder.DecodeOption{fixtures.ForProbe(s.ProbeImage, ns)}, more...)...)
		if err != nil {
			t.Fatalf("load fixture: %v", err)
		}
		c, err := cfg.NewClient()
		if err != nil {
			t.Fatalf("client: %v", err)
		}
		src, _ := fixtures.Source(name)
		t.Logf("fixture %s (%s)", name, src)
		for _, o := range objs {
			if pod, ok := o.(*corev1.Pod); ok {
				WireProbe(&pod.Spec)
			}
			if err := c.Resources(ns).Create(ctx, o); err != nil {
				t.Fatalf("create %T %s from fixture %s: %v", o, o.GetName(), name, err)
			}
		}
		return ctx
	}
}

// WaitPodServing is a setup step waiting until the pod runs and its probe
// answers; it stops the feature when the pod does not. An assessment calls
// WaitPodServingFor.
func WaitPodServing(name string) features.Func {
	return func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
		t.Helper()
		if err := waitPodServing(ctx, Clientset(ctx, t), Probe(ctx, t), Namespace(ctx), name, PodStartTimeout); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
}

func waitPodServing(ctx context.Context, cs kubernetes.Interface, pc *probe.Client, ns, name string, timeout time.Duration) error {
	return wait.For(ctx, fmt.Sprintf("pod %s/%s to run and its probe to answer", ns, name), wait.Options{Timeout: timeout, Interval: time.Second},
		func(ctx context.Context) (bool, string, error) {
			pod, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, "get pod: " + err.Error(), nil
			}
			if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
				return false, describePod(ctx, cs, pod), fmt.Errorf("pod %s/%s ended: %s", ns, name, describePod(ctx, cs, pod))
			}
			if pod.Status.Phase != corev1.PodRunning {
				return false, describePod(ctx, cs, pod), nil
			}
			if err := pc.Healthy(ctx, ns, name); err != nil {
				return false, "running; probe: " + err.Error(), nil
			}
			return true, "", nil
		})
}

// describePod summarises a pod's state and its recent events for a timeout.
func describePod(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod) string {
	var parts []string
	parts = append(parts, "phase "+string(pod.Status.Phase))
	for _, c := range pod.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			parts = append(parts, fmt.Sprintf("%s: %s", c.Type, c.Message))
		}
	}
	for _, s := range pod.Status.ContainerStatuses {
		switch {
		case s.State.Waiting != nil:
			parts = append(parts, fmt.Sprintf("container %s waiting: %s %s", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message))
		case s.State.Terminated != nil:
			parts = append(parts, fmt.Sprintf("container %s terminated: %s (exit %d) %s", s.Name, s.State.Terminated.Reason, s.State.Terminated.ExitCode, s.State.Terminated.Message))
		}
	}
	events, err := cs.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod.Name})
	if err == nil {
		sort.Slice(events.Items, func(i, j int) bool { return events.Items[i].LastTimestamp.Before(&events.Items[j].LastTimestamp) })
		items := events.Items
		if len(items) > 5 {
			items = items[len(items)-5:]
		}
		for _, e := range items {
			parts = append(parts, fmt.Sprintf("event %s %s: %s", e.Type, e.Reason, e.Message))
		}
	}
	return strings.Join(parts, "; ")
}

// Pod returns the live pod.
func Pod(ctx context.Context, cs kubernetes.Interface, name string) (*corev1.Pod, error) {
	pod, err := cs.CoreV1().Pods(Namespace(ctx)).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get pod %s/%s: %w", Namespace(ctx), name, err)
	}
	return pod, nil
}

// ReadFile returns what the probe in pod sees at path: metadata, size and
// SHA-256, not the bytes. It returns an error when the probe cannot be asked
// or the file is missing or unreadable: an assessment reports it (t.Error)
// and returns, so that the feature's other assessments still run.
func ReadFile(ctx context.Context, t *testing.T, pod, path string) (*probe.FileReport, error) {
	t.Helper()
	return readFile(ctx, t, pod, path, false)
}

// ReadContent is ReadFile with the file's bytes, for an assertion that needs
// them; secret bytes must not be logged (use token.Fingerprint).
func ReadContent(ctx context.Context, t *testing.T, pod, path string) (*probe.FileReport, error) {
	t.Helper()
	return readFile(ctx, t, pod, path, true)
}

func readFile(ctx context.Context, t *testing.T, pod, path string, content bool) (*probe.FileReport, error) {
	t.Helper()
	pc := Probe(ctx, t)
	ctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	read := pc.Files
	if content {
		read = pc.Contents
	}
	r, err := read(ctx, Namespace(ctx), pod, path)
	if err != nil {
		return nil, fmt.Errorf("read %s in pod %s: %w", path, pod, err)
	}
	f, err := r.File(path)
	if err != nil {
		return nil, err // names the pod and the path
	}
	if !f.Exists {
		return nil, fmt.Errorf("pod %s sees no file at %s (%s)", pod, path, f.Error)
	}
	if f.Error != "" {
		return nil, fmt.Errorf("pod %s cannot read %s: %s", pod, path, f.Error)
	}
	return f, nil
}

// WaitPodEvent waits for an event of the pod with the given reason whose
// message contains want, and returns it; on timeout it lists the pod's
// events last seen.
func WaitPodEvent(ctx context.Context, t *testing.T, pod, reason, want string, timeout time.Duration) (*corev1.Event, error) {
	t.Helper()
	cs := Clientset(ctx, t)
	ns := Namespace(ctx)
	var found *corev1.Event
	err := wait.For(ctx, fmt.Sprintf("a %s event of pod %s/%s saying %q", reason, ns, pod, want), wait.Options{Timeout: timeout, Interval: time.Second},
		func(ctx context.Context) (bool, string, error) {
			events, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod})
			if err != nil {
				if ctx.Err() != nil {
					return false, "", nil // the deadline: keep what the last list saw
				}
				return false, "list events: " + err.Error(), nil
			}
			var seen []string
			for i, e := range events.Items {
				if e.Reason == reason && strings.Contains(e.Message, want) {
					found = &events.Items[i]
					return true, "", nil
				}
				seen = append(seen, e.Reason+": "+e.Message)
			}
			return false, strings.Join(seen, "; "), nil
		})
	return found, err
}

// PodPhase returns the pod's phase and whether its containers are ready.
func PodPhase(ctx context.Context, t *testing.T, pod string) (corev1.PodPhase, bool, error) {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	p, err := Clientset(ctx, t).CoreV1().Pods(Namespace(ctx)).Get(cctx, pod, metav1.GetOptions{})
	if err != nil {
		return "", false, fmt.Errorf("get pod %s: %w", pod, err)
	}
	ready := false
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.ContainersReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	return p.Status.Phase, ready, nil
}

// WaitPodServingFor is WaitPodServing as a call with its own timeout, for a
// pod the test expects to start late.
func WaitPodServingFor(ctx context.Context, t *testing.T, pod string, timeout time.Duration) error {
	t.Helper()
	return waitPodServing(ctx, Clientset(ctx, t), Probe(ctx, t), Namespace(ctx), pod, timeout)
}
