package steps

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// RolloutTimeout bounds a Deployment rollout: the new pod scheduled,
// started and serving, the old one gone.
const RolloutTimeout = 3 * time.Minute

// CreateDeployment creates a one-replica Deployment in the feature's
// namespace whose pods are b's (the run's probe in every container), and
// waits for its pod to serve. It returns the pod's name.
func CreateDeployment(ctx context.Context, t *testing.T, name string, b *PodBuilder) (string, error) {
	t.Helper()
	s, err := SuiteFrom(ctx)
	if err != nil {
		return "", err
	}
	ns := Namespace(ctx)
	pod := b.Build(s, ns)
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod.Spec},
		},
	}
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	if _, err := Clientset(ctx, t).AppsV1().Deployments(ns).Create(cctx, d, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create deployment %s: %w", name, err)
	}
	return WaitRollout(ctx, t, name)
}

// RolloutRestart restarts a Deployment's pods as `kubectl rollout restart`
// does (a new restartedAt annotation on the pod template), waits for the
// rollout and returns the new pod's name.
func RolloutRestart(ctx context.Context, t *testing.T, name string) (string, error) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().UTC().Format(time.RFC3339Nano))
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	if _, err := Clientset(ctx, t).AppsV1().Deployments(Namespace(ctx)).Patch(cctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return "", fmt.Errorf("restart deployment %s: %w", name, err)
	}
	return WaitRollout(ctx, t, name)
}

// WaitRollout waits until the Deployment's current generation is rolled out
// to one pod that serves, and no pod of an older template is left; it
// returns that pod's name.
func WaitRollout(ctx context.Context, t *testing.T, name string) (string, error) {
	t.Helper()
	cs := Clientset(ctx, t)
	ns := Namespace(ctx)
	var podName string
	err := wait.For(ctx, "deployment "+name+" to roll out", wait.Options{Timeout: RolloutTimeout}, func(ctx context.Context) (bool, string, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		st := d.Status
		seen := fmt.Sprintf("generation %d observed %d, replicas %d updated %d available %d", d.Generation, st.ObservedGeneration, st.Replicas, st.UpdatedReplicas, st.AvailableReplicas)
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != 1 || st.Replicas != 1 || st.AvailableReplicas != 1 {
			return false, seen, nil
		}
		sel := metav1.FormatLabelSelector(d.Spec.Selector)
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err.Error(), nil
		}
		var live []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				live = append(live, p.Name)
			}
		}
		sort.Strings(live)
		if len(live) != 1 || len(pods.Items) != 1 {
			return false, fmt.Sprintf("%s; %d pods (%s live)", seen, len(pods.Items), strings.Join(live, ", ")), nil
		}
		podName = live[0]
		return true, "", nil
	})
	if err != nil {
		return "", err
	}
	return podName, waitPodServing(ctx, cs, Probe(ctx, t), ns, podName, PodStartTimeout)
}
