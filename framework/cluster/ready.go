package cluster

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// RESTConfig loads a kubeconfig file, with a clear error for a missing or
// malformed one.
func RESTConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	cfg, _, err := restConfig(kubeconfig, kubeContext)
	return cfg, err
}

// restConfig is RESTConfig, also returning the name of the context used.
func restConfig(kubeconfig, kubeContext string) (*rest.Config, string, error) {
	if _, err := os.Stat(kubeconfig); err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s is not a valid kubeconfig: %w", kubeconfig, err)
	}
	used := kubeContext
	if used == "" {
		used = raw.CurrentContext
	}
	if _, ok := raw.Contexts[used]; !ok {
		names := make([]string, 0, len(raw.Contexts))
		for n := range raw.Contexts {
			names = append(names, n)
		}
		sort.Strings(names)
		if kubeContext == "" {
			return nil, "", fmt.Errorf("kubeconfig %s has no current-context %q: pass --context (it has %s)", kubeconfig, used, strings.Join(names, ", "))
		}
		return nil, "", fmt.Errorf("kubeconfig %s has no context %q (--context); it has %s", kubeconfig, kubeContext, strings.Join(names, ", "))
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*raw, &clientcmd.ConfigOverrides{CurrentContext: used}).ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s, context %s: %w", kubeconfig, used, err)
	}
	return cfg, used, nil
}

// Info is what the suite prints about the cluster under test.
type Info struct {
	// Context is the kubeconfig context used.
	Context, Server, Version string
}

// Reach checks that the cluster of a kubeconfig's context (kubeContext, or
// the current-context when empty) answers, within timeout.
func Reach(ctx context.Context, kubeconfig, kubeContext string, timeout time.Duration) (Info, error) {
	cfg, used, err := restConfig(kubeconfig, kubeContext)
	if err != nil {
		return Info{}, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = timeout
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Info{}, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return Info{}, fmt.Errorf("API server %s (kubeconfig %s, context %s) does not answer: %w", cfg.Host, kubeconfig, used, err)
	}
	return Info{Context: used, Server: cfg.Host, Version: v.GitVersion}, nil
}

// WaitUsable waits until a new cluster can run the suite's pods: every node
// Ready, every CoreDNS pod Ready, and the default ServiceAccount of the
// default namespace present (kind returns before it exists, and a pod
// created without it is rejected).
func WaitUsable(ctx context.Context, kubeconfig string, timeout time.Duration) error {
	cfg, err := RESTConfig(kubeconfig, "")
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	return wait.For(ctx, "the cluster to become usable (nodes Ready, CoreDNS Ready, default ServiceAccount)", wait.Options{Timeout: timeout, Interval: time.Second},
		func(ctx context.Context) (bool, string, error) {
			var notes []string
			nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, "list nodes: " + err.Error(), nil
			}
			ready := 0
			for _, n := range nodes.Items {
				if condition(n.Status.Conditions, corev1.NodeReady) {
					ready++
				}
			}
			notes = append(notes, fmt.Sprintf("%d/%d nodes Ready", ready, len(nodes.Items)))
			pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
			if err != nil {
				return false, "list CoreDNS pods: " + err.Error(), nil
			}
			dnsReady := 0
			var phases []string
			for _, p := range pods.Items {
				if podReady(&p) {
					dnsReady++
				}
				phases = append(phases, p.Name+"="+string(p.Status.Phase))
			}
			sort.Strings(phases)
			notes = append(notes, fmt.Sprintf("%d/%d CoreDNS pods Ready [%s]", dnsReady, len(pods.Items), strings.Join(phases, " ")))
			_, err = cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			saOK := err == nil
			if err != nil && !apierrors.IsNotFound(err) {
				return false, "get default ServiceAccount: " + err.Error(), nil
			}
			notes = append(notes, fmt.Sprintf("default ServiceAccount present: %v", saOK))
			done := len(nodes.Items) > 0 && ready == len(nodes.Items) && len(pods.Items) > 0 && dnsReady == len(pods.Items) && saOK
			return done, strings.Join(notes, "; "), nil
		})
}

func condition(conds []corev1.NodeCondition, t corev1.NodeConditionType) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
