package steps

import (
	"context"
	"fmt"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ClusterObjectName names a cluster-scoped object of the feature:
// kic-<run>-<purpose>-<the namespace's suffix>, unique per feature and found
// by the run's sweep.
func ClusterObjectName(ctx context.Context, purpose string) string {
	s, _ := SuiteFrom(ctx)
	return "kic-" + s.RunID + "-" + purpose + "-" + strings.TrimPrefix(Namespace(ctx), "kic-"+s.RunID+"-")
}

func runLabels(ctx context.Context) map[string]string {
	s, _ := SuiteFrom(ctx)
	return map[string]string{LabelSuite: "true", LabelRun: s.RunID}
}

// CreateClusterRole creates a ClusterRole for the feature, labelled with the
// run and removed when the test ends.
func CreateClusterRole(ctx context.Context, t *testing.T, role *rbacv1.ClusterRole) error {
	t.Helper()
	cs := Clientset(ctx, t)
	role = role.DeepCopy()
	role.Labels = mergeLabels(role.Labels, runLabels(ctx))
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	if _, err := cs.RbacV1().ClusterRoles().Create(cctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
	}
	name := role.Name
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), APITimeout)
		defer cancel()
		if err := cs.RbacV1().ClusterRoles().Delete(dctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("remove ClusterRole %s: %v", name, err)
		}
	})
	return nil
}

// BindClusterRole binds a ClusterRole to subjects cluster-wide for the
// feature; the binding carries the run's labels and is removed when the
// test ends.
func BindClusterRole(ctx context.Context, t *testing.T, name, role string, subjects ...rbacv1.Subject) error {
	t.Helper()
	cs := Clientset(ctx, t)
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: runLabels(ctx)},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
	cctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(cctx, crb, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("bind ClusterRole %s: %w", role, err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), APITimeout)
		defer cancel()
		if err := cs.RbacV1().ClusterRoleBindings().Delete(dctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("remove ClusterRoleBinding %s: %v", name, err)
		}
	})
	return nil
}

// Impersonating returns a clientset acting as user (in group
// system:authenticated only), to show what a user without a right is
// refused.
func Impersonating(ctx context.Context, t *testing.T, user string) (kubernetes.Interface, error) {
	t.Helper()
	return impersonate(ctx, user, "system:authenticated")
}

func mergeLabels(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// ImpersonatingNode returns a clientset acting as node name
// (system:node:<name>, group system:nodes).
func ImpersonatingNode(ctx context.Context, t *testing.T, name string) (kubernetes.Interface, error) {
	t.Helper()
	return impersonate(ctx, "system:node:"+name, "system:nodes", "system:authenticated")
}

func impersonate(ctx context.Context, user string, groups ...string) (kubernetes.Interface, error) {
	c := ClusterFrom(ctx)
	if c == nil || c.REST == nil {
		return nil, fmt.Errorf("impersonate %s: no cluster in the context", user)
	}
	cfg := rest.CopyConfig(c.REST)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("impersonate %s: %w", user, err)
	}
	return cs, nil
}
