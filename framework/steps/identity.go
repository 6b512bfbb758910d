package steps

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/token"
)

// Identity is what a pod-bound token must name: the live objects' names and UIDs.
type Identity struct {
	Namespace                 string
	Pod, ServiceAccount, Node token.Ref
}

// LiveIdentity reads the pod's ServiceAccount and node from the API server.
func LiveIdentity(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod) (Identity, error) {
	sa, err := cs.CoreV1().ServiceAccounts(pod.Namespace).Get(ctx, pod.Spec.ServiceAccountName, metav1.GetOptions{})
	if err != nil {
		return Identity{}, fmt.Errorf("get ServiceAccount %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err)
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		return Identity{}, fmt.Errorf("get node %s: %w", pod.Spec.NodeName, err)
	}
	return Identity{
		Namespace:      pod.Namespace,
		Pod:            token.Ref{Name: pod.Name, UID: string(pod.UID)},
		ServiceAccount: token.Ref{Name: sa.Name, UID: string(sa.UID)},
		Node:           token.Ref{Name: node.Name, UID: string(node.UID)},
	}, nil
}
