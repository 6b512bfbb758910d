package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
)

// FieldManager owns what the check applies.
const FieldManager = "kic-incluster-check"

type kube struct {
	rest   *rest.Config
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	// objects are what was applied, for the clean-up.
	objects []*unstructured.Unstructured
}

func connect(kubeconfig, kubeContext string) (*kube, error) {
	cfg, err := cluster.RESTConfig(kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))
	return &kube{rest: cfg, cs: cs, dyn: dyn, mapper: mapper}, nil
}

func (k *kube) resource(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := u.GroupVersionKind()
	m, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return k.dyn.Resource(m.Resource).Namespace(u.GetNamespace()), nil
	}
	return k.dyn.Resource(m.Resource), nil
}

// applyAll applies rbac.yaml, then the Job (replacing a Job a kept run
// left: its template cannot change), and returns what it applied as
// kind/name.
func (k *kube) applyAll(ctx context.Context, job *batchv1.Job) ([]string, error) {
	objs, err := decodeAll(rbacYAML)
	if err != nil {
		return nil, fmt.Errorf("rbac.yaml: %w", err)
	}
	uj, err := toUnstructured(job, "batch/v1", "Job")
	if err != nil {
		return nil, err
	}
	if err := k.deleteJob(ctx); err != nil {
		return nil, err
	}
	var names []string
	for _, u := range append(objs, uj) {
		r, err := k.resource(u)
		if err != nil {
			return names, err
		}
		if _, err := r.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return names, fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		k.objects = append(k.objects, u)
		names = append(names, strings.ToLower(u.GetKind())+"/"+u.GetName())
	}
	fmt.Printf("incluster: applied %s\n", strings.Join(names, ", "))
	return names, nil
}

// deleteJob deletes the Job and waits until its pod is gone: a running
// suite gets SIGTERM and removes its namespaces first, for which it still
// needs its ServiceAccount's rights.
func (k *kube) deleteJob(ctx context.Context) error {
	fg := metav1.DeletePropagationForeground
	err := k.cs.BatchV1().Jobs(Namespace).Delete(ctx, JobName, metav1.DeleteOptions{PropagationPolicy: &fg})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete Job %s/%s: %w", Namespace, JobName, err)
	}
	return wait.PollUntilContextTimeout(ctx, 2*time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := k.cs.BatchV1().Jobs(Namespace).Get(ctx, JobName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			pods, err := k.jobPods(ctx)
			return err == nil && len(pods) == 0, nil
		}
		return false, nil
	})
}

// cleanup removes what was applied: the Job first (and with it the running
// suite, which cleans up after itself), then the rest in reverse order.
func (k *kube) cleanup(ctx context.Context) error {
	var errs []error
	if err := k.deleteJob(ctx); err != nil {
		errs = append(errs, err)
	}
	var deleted []string
	for i := len(k.objects) - 1; i >= 0; i-- {
		u := k.objects[i]
		if u.GetKind() == "Job" {
			continue
		}
		r, err := k.resource(u)
		if err == nil {
			err = r.Delete(ctx, u.GetName(), metav1.DeleteOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s %s: %w", u.GetKind(), u.GetName(), err))
			continue
		}
		deleted = append(deleted, strings.ToLower(u.GetKind())+"/"+u.GetName())
	}
	if len(deleted) > 0 {
		fmt.Printf("incluster: deleted job/%s, %s\n", JobName, strings.Join(deleted, ", "))
	}
	return errors.Join(errs...)
}

func (k *kube) jobPods(ctx context.Context) ([]corev1.Pod, error) {
	l, err := k.cs.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + JobName})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// waitJob waits until the Job completed or failed and returns its pod. On
// the deadline it reports what the pod was doing.
func (k *kube) waitJob(ctx context.Context, timeout time.Duration) (*corev1.Pod, error) {
	start := time.Now()
	lastPhase := ""
	var done *batchv1.Job
	err := wait.PollUntilContextTimeout(ctx, 5*time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		j, err := k.cs.BatchV1().Jobs(Namespace).Get(ctx, JobName, metav1.GetOptions{})
		if err != nil {
			return false, nil // the API server may be busy: poll again
		}
		if pods, err := k.jobPods(ctx); err == nil && len(pods) > 0 {
			if p := describePhase(pods[0]); p != lastPhase {
				fmt.Printf("incluster: %s pod %s: %s\n", time.Since(start).Round(time.Second), pods[0].Name, p)
				lastPhase = p
			}
		}
		if j.Status.Succeeded > 0 || j.Status.Failed > 0 || finished(j) {
			done = j
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("the Job did not end within %s (%v):%s", timeout, err, k.describe(context.Background()))
	}
	pods, err := k.jobPods(ctx)
	if err != nil || len(pods) == 0 {
		return nil, fmt.Errorf("the Job ended (succeeded %d, failed %d) but its pod is gone (%v)", done.Status.Succeeded, done.Status.Failed, err)
	}
	p := pods[0]
	fmt.Printf("incluster: the Job ended after %s (succeeded %d, failed %d): pod %s %s\n",
		time.Since(start).Round(time.Second), done.Status.Succeeded, done.Status.Failed, p.Name, describePhase(p))
	return &p, nil
}

func finished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// describePhase is the pod's phase and its container's state.
func describePhase(p corev1.Pod) string {
	s := string(p.Status.Phase)
	for _, c := range p.Status.ContainerStatuses {
		switch {
		case c.State.Waiting != nil:
			s += fmt.Sprintf(", %s waiting: %s %s", c.Name, c.State.Waiting.Reason, c.State.Waiting.Message)
		case c.State.Running != nil:
			s += fmt.Sprintf(", %s running", c.Name)
		case c.State.Terminated != nil:
			s += fmt.Sprintf(", %s terminated: exit code %d %s %s", c.Name, c.State.Terminated.ExitCode, c.State.Terminated.Reason, c.State.Terminated.Message)
		}
	}
	return strings.TrimSpace(s)
}

// describe reports the Job's pods and their last events, for a Job that
// did not end.
func (k *kube) describe(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pods, err := k.jobPods(ctx)
	if err != nil {
		return "\n  listing its pods: " + err.Error()
	}
	if len(pods) == 0 {
		return "\n  it has no pod"
	}
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "\n  pod %s: %s", p.Name, describePhase(p))
		evs, err := k.cs.CoreV1().Events(Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name})
		if err != nil {
			fmt.Fprintf(&b, "\n    events: %v", err)
			continue
		}
		items := evs.Items
		sort.Slice(items, func(i, j int) bool { return items[i].LastTimestamp.Before(&items[j].LastTimestamp) })
		if len(items) > 10 {
			items = items[len(items)-10:]
		}
		for _, e := range items {
			fmt.Fprintf(&b, "\n    %s %s: %s", e.Type, e.Reason, e.Message)
		}
	}
	return b.String()
}

// podLog is the suite container's whole log.
func (k *kube) podLog(ctx context.Context, p *corev1.Pod) ([]byte, error) {
	rc, err := k.cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: Container}).Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("log of pod %s: %w", p.Name, err)
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
