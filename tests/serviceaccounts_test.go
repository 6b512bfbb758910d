package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// TestServiceAccounts: seed 001 (为 Pod 配置服务账户 / Configure Service
// Accounts for Pods), what it states of ServiceAccounts themselves.
func TestServiceAccounts(t *testing.T) { rt.Run(t, serviceAccountCases()...) }

func serviceAccountCases() []runtime.Case {
	return []runtime.Case{
		runtime.Default(defaultServiceAccount()).Access(cluster.VerifyAccess, cluster.CreateServiceAccountAccess, cluster.PatchPodAccess),
		runtime.Default(automount()).Access(cluster.CreateServiceAccountAccess),
		runtime.Default(missingServiceAccount()),
		runtime.Default(tokenSecret()).Access(cluster.TokenReviewAccess, cluster.CreateServiceAccountAccess, cluster.GetSecretAccess, cluster.DeleteServiceAccountAccess),
		runtime.Default(imagePullSecrets()).Access(cluster.PatchServiceAccountAccess),
	}
}

// defaultServiceAccount: seed 001, "使用默认的服务账户访问 API 服务器": every
// namespace has a ServiceAccount named default, and a pod that names none
// runs as it; a pod's serviceAccountName cannot be changed once it exists.
// The document's older statement that each new ServiceAccount gets a token
// Secret is outdated (no longer since Kubernetes 1.24): today none appears.
func defaultServiceAccount() features.Feature {
	return features.New("every namespace has a default ServiceAccount, set on pods that name none, fixed for the pod's life").
		WithLabel("area", "serviceaccounts").WithLabel("source", "seed001").WithLabel("section", "使用默认的服务账户访问 API 服务器").
		Setup(steps.CreateNamespace()).
		Setup(steps.CreatePod(steps.ProbePod("plain"))).
		Setup(steps.WaitPodServing("plain")).
		Assess("the pod's serviceAccountName is default", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if p, err := steps.Pod(ctx, steps.Clientset(ctx, t), "plain"); err != nil {
				t.Error(err)
			} else if p.Spec.ServiceAccountName != "default" {
				t.Errorf("serviceAccountName %q, want default", p.Spec.ServiceAccountName)
			}
			return ctx
		}).
		Assess("its token authenticates as the default ServiceAccount", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			aud, err := apiAudience(ctx)
			if err != nil {
				t.Error(err)
				return ctx
			}
			vt, err := steps.ReadToken(ctx, t, "plain", kubeAPIAccess, aud)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if want := "system:serviceaccount:" + steps.Namespace(ctx) + ":default"; vt.Claims.Subject != want {
				t.Errorf("sub %q, want %q", vt.Claims.Subject, want)
			}
			return ctx
		}).
		Assess("serviceAccountName of a live pod cannot be changed", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			cs := steps.Clientset(ctx, t)
			patch := []byte(`{"spec":{"serviceAccountName":"build-robot"}}`)
			_, err := cs.CoreV1().Pods(steps.Namespace(ctx)).Patch(ctx, "plain", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "pod updates may not change fields") {
				t.Errorf("changing serviceAccountName: %v, want Invalid: pod updates may not change fields ...", err)
			}
			return ctx
		}).
		Assess("outdated: a new ServiceAccount gets no token Secret (since 1.24)", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if err := steps.CreateServiceAccountNow(ctx, t, "build-robot"); err != nil {
				t.Error(err)
				return ctx
			}
			cs := steps.Clientset(ctx, t)
			// The token controller used to add one within a second or two.
			err := wait.Holds(ctx, "build-robot has no token Secret", wait.Options{Timeout: 5 * time.Second, Interval: time.Second},
				func(ctx context.Context) (bool, string, error) {
					sa, err := cs.CoreV1().ServiceAccounts(steps.Namespace(ctx)).Get(ctx, "build-robot", metav1.GetOptions{})
					if err != nil {
						return false, "", err
					}
					var secrets []string
					for _, r := range sa.Secrets {
						secrets = append(secrets, r.Name)
					}
					list, err := cs.CoreV1().Secrets(steps.Namespace(ctx)).List(ctx, metav1.ListOptions{FieldSelector: "type=kubernetes.io/service-account-token"})
					if err != nil {
						return false, "", err
					}
					return len(secrets) == 0 && len(list.Items) == 0, fmt.Sprintf("secrets %v, %d token Secrets in the namespace", secrets, len(list.Items)), nil
				})
			if err != nil {
				t.Error(err)
			}
			return ctx
		}).Feature()
}

// automount: seed 001, "使用默认的服务账户访问 API 服务器":
// automountServiceAccountToken: false on the ServiceAccount
// (build-robot-automount-false.yaml) or on the pod (the my-pod form, built
// from its three documented fields) keeps the API token out of the pod, and
// the pod's own setting wins over the ServiceAccount's: all four
// combinations, checked by what is mounted.
func automount() features.Feature {
	type combo struct {
		name, sa string
		pod      *bool
		mounted  bool
	}
	combos := []combo{
		{"sa-false-pod-unset", "build-robot", nil, false},
		{"sa-false-pod-true", "build-robot", ptr(true), true},
		{"sa-unset-pod-false", "default", ptr(false), false},
		{"sa-unset-pod-unset", "default", nil, true},
	}
	b := features.New("automountServiceAccountToken: the pod's setting wins over the ServiceAccount's").
		WithLabel("area", "serviceaccounts").WithLabel("source", "seed001").WithLabel("section", "使用默认的服务账户访问 API 服务器").
		Setup(steps.CreateNamespace()).
		Setup(steps.DeployFixture("seed001-configure-service-accounts/build-robot-automount-false.yaml"))
	for _, c := range combos {
		b = b.Setup(steps.CreatePod(steps.ProbePod(c.name).ServiceAccount(c.sa).Edit(func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = c.pod })))
	}
	for _, c := range combos {
		b = b.Setup(steps.WaitPodServing(c.name))
	}
	for _, c := range combos {
		b = b.Assess(fmt.Sprintf("%s: token mounted %v", c.name, c.mounted), func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			cs := steps.Clientset(ctx, t)
			r, err := probeFileAt(ctx, t, c.name, probe.Port, kubeAPIAccess)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if r.Exists != c.mounted {
				t.Errorf("%s exists %v, want %v (ServiceAccount %s, pod automount %v)", kubeAPIAccess, r.Exists, c.mounted, c.sa, fmtBool(c.pod))
			}
			p, err := steps.Pod(ctx, cs, c.name)
			if err != nil {
				t.Error(err)
				return ctx
			}
			has := false
			for _, v := range p.Spec.Volumes {
				has = has || strings.HasPrefix(v.Name, "kube-api-access-")
			}
			if has != c.mounted {
				t.Errorf("pod spec has a kube-api-access volume: %v, want %v", has, c.mounted)
			}
			return ctx
		})
	}
	return b.Feature()
}

// missingServiceAccount: seed 001, "使用多个服务账户": a pod's ServiceAccount
// must exist when the pod is created; the API says which one is missing.
func missingServiceAccount() features.Feature {
	return features.New("a pod naming a missing ServiceAccount is rejected").
		WithLabel("area", "serviceaccounts").WithLabel("source", "seed001").WithLabel("section", "使用多个服务账户").
		Setup(steps.CreateNamespace()).
		Assess("rejected with serviceaccount \"missing\" not found", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			s, _ := steps.SuiteFrom(ctx)
			pod := steps.ProbePod("orphan").ServiceAccount("missing").Build(s, steps.Namespace(ctx))
			_, err := steps.Clientset(ctx, t).CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
			if err == nil || !strings.Contains(err.Error(), `serviceaccount "missing" not found`) {
				t.Errorf("create: %v, want a refusal saying serviceaccount \"missing\" not found", err)
			}
			return ctx
		}).Feature()
}

// tokenSecret: seed 001, "手动创建服务账户 API 令牌": a Secret of type
// kubernetes.io/service-account-token annotated with a ServiceAccount gets
// ca.crt, namespace and token filled in; the token authenticates as that
// ServiceAccount (a legacy token: issuer kubernetes/serviceaccount, no
// expiry); the Secret is removed when its ServiceAccount is deleted.
func tokenSecret() features.Feature {
	return features.New("a service-account-token Secret is filled in, authenticates, and goes with its ServiceAccount").
		WithLabel("area", "serviceaccounts").WithLabel("source", "seed001").WithLabel("section", "手动创建服务账户 API 令牌").
		Setup(steps.CreateNamespace()).
		Setup(steps.CreateServiceAccount("build-robot")).
		Setup(steps.DeployFixture("seed001-configure-service-accounts/build-robot-secret.yaml")).
		Assess("ca.crt, namespace and token are filled in; the token authenticates as build-robot", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			cs := steps.Clientset(ctx, t)
			ns := steps.Namespace(ctx)
			sec, err := steps.WaitTokenSecret(ctx, cs, ns, "build-robot-secret", 30*time.Second)
			if err != nil {
				t.Error(err)
				return ctx
			}
			if string(sec.Data["namespace"]) != ns {
				t.Errorf("namespace %q, want %q", sec.Data["namespace"], ns)
			}
			st, err := steps.ReviewToken(ctx, steps.ClusterFrom(ctx), string(sec.Data["token"]))
			if err != nil || !st.Authenticated || st.User.Username != "system:serviceaccount:"+ns+":build-robot" {
				t.Errorf("TokenReview of the Secret's token: %v %+v, want build-robot", err, st)
			}
			return ctx
		}).
		Assess("the Secret is removed when build-robot is deleted", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			cs := steps.Clientset(ctx, t)
			ns := steps.Namespace(ctx)
			if err := cs.CoreV1().ServiceAccounts(ns).Delete(ctx, "build-robot", metav1.DeleteOptions{}); err != nil {
				t.Error(err)
				return ctx
			}
			err := wait.For(ctx, "build-robot-secret to be removed", wait.Options{Timeout: time.Minute, Interval: time.Second},
				func(ctx context.Context) (bool, string, error) {
					_, err := cs.CoreV1().Secrets(ns).Get(ctx, "build-robot-secret", metav1.GetOptions{})
					return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err), nil
				})
			if err != nil {
				t.Error(err)
			}
			return ctx
		}).Feature()
}

// imagePullSecrets: seed 001, "为服务账户添加 ImagePullSecrets": after the
// documented patch of the default ServiceAccount, new pods get its
// imagePullSecrets; pods created before do not.
func imagePullSecrets() features.Feature {
	return features.New("a ServiceAccount's imagePullSecrets are added to new pods only").
		WithLabel("area", "serviceaccounts").WithLabel("source", "seed001").WithLabel("section", "为服务账户添加 ImagePullSecrets").
		Setup(steps.CreateNamespace()).
		Setup(steps.CreatePod(steps.ProbePod("before"))).
		Setup(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			cs := steps.Clientset(ctx, t)
			ns := steps.Namespace(ctx)
			patch := []byte(`{"imagePullSecrets": [{"name": "myregistrykey"}]}`)
			if _, err := cs.CoreV1().ServiceAccounts(ns).Patch(ctx, "default", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Fatalf("kubectl patch serviceaccount default: %v", err)
			}
			// Admission reads ServiceAccounts from an informer: wait until a
			// dry-run pod shows the patch, then create the real one.
			s, _ := steps.SuiteFrom(ctx)
			dryRun := steps.ProbePod("dry-run").Build(s, ns)
			err := wait.For(ctx, "admission to see the patched ServiceAccount", wait.Options{Timeout: 10 * time.Second, Interval: 200 * time.Millisecond},
				func(ctx context.Context) (bool, string, error) {
					p, err := cs.CoreV1().Pods(ns).Create(ctx, dryRun, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
					if err != nil {
						return false, err.Error(), nil
					}
					return len(p.Spec.ImagePullSecrets) > 0, fmt.Sprintf("dry-run pod imagePullSecrets %v", p.Spec.ImagePullSecrets), nil
				})
			if err != nil {
				t.Fatal(err)
			}
			return ctx
		}).
		Setup(steps.CreatePod(steps.ProbePod("after"))).
		Assess("the new pod has imagePullSecrets myregistrykey", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			p, err := steps.Pod(ctx, steps.Clientset(ctx, t), "after")
			if err != nil {
				t.Error(err)
				return ctx
			}
			if len(p.Spec.ImagePullSecrets) != 1 || p.Spec.ImagePullSecrets[0].Name != "myregistrykey" {
				t.Errorf("imagePullSecrets %v, want [myregistrykey]", p.Spec.ImagePullSecrets)
			}
			return ctx
		}).
		Assess("the pod created before has none", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if p, err := steps.Pod(ctx, steps.Clientset(ctx, t), "before"); err != nil {
				t.Error(err)
			} else if len(p.Spec.ImagePullSecrets) != 0 {
				t.Errorf("imagePullSecrets %v, want none", p.Spec.ImagePullSecrets)
			}
			return ctx
		}).Feature()
}

func fmtBool(b *bool) string {
	if b == nil {
		return "unset"
	}
	return fmt.Sprint(*b)
}
