package tests

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// TestProjectedVolumes: seed 003 (投射卷 / Projected Volumes): the
// documented examples and the file modes and owners of projected files.
func TestProjectedVolumes(t *testing.T) { rt.Run(t, projectedVolumeCases()...) }

func projectedVolumeCases() []runtime.Case {
	return []runtime.Case{
		runtime.Default(allInOne()).Access(cluster.CreateConfigMapAccess, cluster.GetNodeAccess),
		runtime.Default(twoSecretsMode511()),
		runtime.Default(fileModes()).Access(cluster.CreateConfigMapAccess),
		runtime.Default(ephemeralContainers()).Slow(10 * time.Minute).Access(cluster.EphemeralContainerAccess),
		runtime.Default(windowsOwnership()).Access(cluster.ListNodesAccess),
	}
}

// allInOne: seed 003, section "包含 Secret、DownwardAPI 和 ConfigMap
// 的示例配置": the pod volume-test projects a Secret item, the pod's labels
// and its container's cpu limit (downward API) and a ConfigMap item into one
// directory; each file holds exactly its source's value.
func allInOne() features.Feature {
	const pod, dir = "volume-test", "/projected-volume"
	return features.New("volume-test projects a Secret, downward API fields and a ConfigMap into one directory").
		WithLabel("area", "projected").WithLabel("source", "seed003").WithLabel("section", "包含 Secret、DownwardAPI 和 ConfigMap 的示例配置").
		Setup(steps.CreateNamespace()).
		Setup(createSecretData("mysecret", map[string]string{"username": "admin-kic"})).
		Setup(createConfigMap("myconfigmap", map[string]string{"config": "log-level=debug\n"})).
		Setup(steps.DeployFixture("seed003-projected-volumes/volume-test-secret-downwardapi-configmap.yaml")).
		Setup(steps.WaitPodServing(pod)).
		Assess("my-group/my-username is the Secret's username", expectContent(pod, dir+"/my-group/my-username", "admin-kic")).
		Assess("my-group/my-config is the ConfigMap's config", expectContent(pod, dir+"/my-group/my-config", "log-level=debug\n")).
		Assess("labels are the pod's labels", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			p, err := steps.Pod(ctx, steps.Clientset(ctx, t), pod)
			if err != nil {
				t.Error(err)
				return ctx
			}
			return expectContent(pod, dir+"/labels", formatLabels(p.Labels))(ctx, t, cfg)
		}).
		Assess("cpu_limit is the node's allocatable CPU (the container sets no limit)", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := steps.Clientset(ctx, t)
			p, err := steps.Pod(ctx, cs, pod)
			if err != nil {
				t.Error(err)
				return ctx
			}
			node, err := cs.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
			if err != nil {
				t.Error(err)
				return ctx
			}
			cpu := node.Status.Allocatable[corev1.ResourceCPU]
			want := fmt.Sprint(int64(math.Ceil(float64(cpu.MilliValue()) / 1000)))
			return expectContent(pod, dir+"/cpu_limit", want)(ctx, t, cfg)
		}).Feature()
}

// twoSecretsMode511: seed 003, section "示例配置:设置了非默认权限模式的
// Secret": two Secrets projected into one directory, the second item with
// mode: 511 (0777 in octal): that file is 0777, the other keeps the default
// 0644.
func twoSecretsMode511() features.Feature {
	const pod, dir = "volume-test", "/projected-volume"
	return features.New("two Secrets projected together; the item with mode 511 is 0777").
		WithLabel("area", "projected").WithLabel("source", "seed003").WithLabel("section", "示例配置:设置了非默认权限模式的 Secret").
		Setup(steps.CreateNamespace()).
		Setup(createSecretData("mysecret", map[string]string{"username": "admin-kic"})).
		Setup(createSecretData("mysecret2", map[string]string{"password": "s3cr3t-kic"})).
		Setup(steps.DeployFixture("seed003-projected-volumes/volume-test-secrets-nondefault-mode.yaml")).
		Setup(steps.WaitPodServing(pod)).
		Assess("my-username is mysecret's username, mode 0644", expectFile(pod, dir+"/my-group/my-username", "admin-kic", "0644", 0, 0)).
		Assess("my-password is mysecret2's password, mode 0777", expectFile(pod, dir+"/my-group/my-password", "s3cr3t-kic", "0777", 0, 0)).
		Assess("the volume is mounted read-only", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if f, err := steps.ReadFile(ctx, t, pod, dir+"/my-group/my-password"); err != nil {
				t.Error(err) // the write test is still made
			} else if !f.ReadOnlyMount {
				t.Errorf("%s is on mount %s, not read-only", f.Path, f.MountPoint)
			}
			expectReadOnly(ctx, t, pod, dir+"/my-group")
			return ctx
		}).Feature()
}

// modeRow is one row of the file-mode table (kubernetes-behaviour.md
// section 5; seed 003, "与 serviceAccountToken 一起使用 securityContext"):
// what stat -L shows inside the container for the token, a Secret item
// without mode and one with mode 511.
type modeRow struct {
	name        string
	edit        func(*corev1.Pod)
	defaultMode *int32
	token       modeWant
	plain, m511 modeWant
}

type modeWant struct {
	mode     string
	uid, gid uint32
}

func fileModeRows() []modeRow {
	runAs := func(uid int64) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &uid} }
	}
	fsGroup := func(gid int64) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: &gid} }
	}
	return []modeRow{
		{name: "none", edit: func(*corev1.Pod) {}, token: modeWant{"0644", 0, 0}, plain: modeWant{"0644", 0, 0}, m511: modeWant{"0777", 0, 0}},
		{name: "defaultmode-0400", edit: func(*corev1.Pod) {}, defaultMode: ptr(int32(0o400)), token: modeWant{"0400", 0, 0}, plain: modeWant{"0400", 0, 0}, m511: modeWant{"0777", 0, 0}},
		{name: "runasuser-1000", edit: runAs(1000), token: modeWant{"0600", 1000, 0}, plain: modeWant{"0644", 0, 0}, m511: modeWant{"0777", 0, 0}},
		{name: "fsgroup-2000", edit: fsGroup(2000), token: modeWant{"0640", 0, 2000}, plain: modeWant{"0644", 0, 2000}, m511: modeWant{"0777", 0, 2000}},
		{name: "runasuser-fsgroup", edit: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(1000)), FSGroup: ptr(int64(2000))}
		}, token: modeWant{"0640", 1000, 2000}, plain: modeWant{"0644", 0, 2000}, m511: modeWant{"0777", 0, 2000}},
		// runAsUser 0 is a shared user too: 0600 and defaultMode ignored
		// (kubernetes#129475).
		{name: "runasuser-0-defaultmode-0444", edit: runAs(0), defaultMode: ptr(int32(0o444)), token: modeWant{"0600", 0, 0}, plain: modeWant{"0444", 0, 0}, m511: modeWant{"0777", 0, 0}},
		// An init container without runAsUser: no user is shared by all.
		{name: "containers-differ", edit: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr(int64(1000))}
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Command: []string{"sleep", "0"}}}
		}, token: modeWant{"0644", 0, 0}, plain: modeWant{"0644", 0, 0}, m511: modeWant{"0777", 0, 0}},
	}
}

// fileModes: seed 003, "SecurityContext 交互" › "Linux": a projected token's
// mode and owner follow the pod's securityContext (0600 to the user all
// containers share, 0640 with an fsGroup, the fsGroup as group), while Secret
// items keep their mode (item mode, else defaultMode) and only take the
// fsGroup; seed 003 says the token file is owned by the shared runAsUser with
// mode 0600.
func fileModes() features.Feature {
	rows := fileModeRows()
	b := features.New("projected file modes and owners follow the securityContext").
		WithLabel("area", "projected").WithLabel("source", "seed003").WithLabel("section", "Linux").
		Setup(steps.CreateNamespace()).
		Setup(createSecretData("modes", map[string]string{"plain": "p", "mode511": "m"}))
	for _, r := range rows {
		pod := steps.ProbePod("modes-"+r.name).Projected("vol", "/modes", r.defaultMode,
			corev1.VolumeProjection{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "api", ExpirationSeconds: ptr(int64(3600))}},
			corev1.VolumeProjection{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "modes"},
				Items: []corev1.KeyToPath{{Key: "plain", Path: "plain"}, {Key: "mode511", Path: "mode511", Mode: ptr(int32(511))}}}},
		).Edit(r.edit)
		b = b.Setup(steps.CreatePod(pod))
	}
	for _, r := range rows {
		b = b.Setup(steps.WaitPodServing("modes-" + r.name))
	}
	for _, r := range rows {
		pod := "modes-" + r.name
		b = b.Assess(r.name, func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			for _, f := range []struct {
				path string
				want modeWant
			}{{"/modes/token", r.token}, {"/modes/plain", r.plain}, {"/modes/mode511", r.m511}} {
				got, err := steps.ReadFile(ctx, t, pod, f.path)
				if err != nil {
					t.Error(err)
					continue
				}
				if got.Mode != f.want.mode || got.UID != f.want.uid || got.GID != f.want.gid {
					t.Errorf("%s: %s %d:%d, want %s %d:%d", f.path, got.Mode, got.UID, got.GID, f.want.mode, f.want.uid, f.want.gid)
				}
				if !got.ReadOnlyMount {
					t.Errorf("%s: mount %s is not read-only (readOnly unset; the kubelet mounts projected volumes read-only)", f.path, got.MountPoint)
				}
			}
			expectReadOnly(ctx, t, pod, "/modes")
			return ctx
		})
	}
	return b.Feature()
}

// expectReadOnly checks that creating a file in dir fails with EROFS: the
// kubelet mounts projected volumes read-only whatever the volumeMount's
// readOnly says (kubernetes-behaviour.md section 5), and EROFS is what the
// kernel answers for a read-only mount before any permission check.
func expectReadOnly(ctx context.Context, t *testing.T, pod, dir string) {
	t.Helper()
	wt, err := steps.Probe(ctx, t).WriteTest(ctx, steps.Namespace(ctx), pod, dir)
	switch {
	case err != nil:
		t.Error(err)
	case wt.Wrote:
		t.Errorf("a file could be created in %s: the projected volume is writable", dir)
	case wt.Errno != "EROFS":
		t.Errorf("creating a file in %s failed with %q (%s), want EROFS", dir, wt.Errno, wt.Error)
	}
}

func createSecretData(name string, data map[string]string) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Helper()
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}
		if _, err := steps.Clientset(ctx, t).CoreV1().Secrets(steps.Namespace(ctx)).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create Secret %s: %v", name, err)
		}
		return ctx
	}
}

func createConfigMap(name string, data map[string]string) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		t.Helper()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}
		if _, err := steps.Clientset(ctx, t).CoreV1().ConfigMaps(steps.Namespace(ctx)).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create ConfigMap %s: %v", name, err)
		}
		return ctx
	}
}

func expectContent(pod, path, want string) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		if f, err := steps.ReadContent(ctx, t, pod, path); err != nil {
			t.Error(err)
		} else if string(f.Content) != want {
			t.Errorf("%s holds %q, want %q", path, f.Content, want)
		}
		return ctx
	}
}

func expectFile(pod, path, content, mode string, uid, gid uint32) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		f, err := steps.ReadContent(ctx, t, pod, path)
		if err != nil {
			t.Error(err)
			return ctx
		}
		if string(f.Content) != content || f.Mode != mode || f.UID != uid || f.GID != gid {
			t.Errorf("%s: %q %s %d:%d, want %q %s %d:%d", path, f.Content, f.Mode, f.UID, f.GID, content, mode, uid, gid)
		}
		return ctx
	}
}

// formatLabels renders labels as the downward API does: key="value"
// lines, sorted, joined by newlines.
func formatLabels(l map[string]string) string {
	var lines []string
	for k, v := range l {
		lines = append(lines, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// ephemeralContainers: seed 003, "SecurityContext 交互" › "Linux", its note:
// "在 Pod 创建后添加的临时容器不会改变 Pod 创建时设置的卷权限" (an ephemeral
// container added later does not change the permissions set at pod creation);
// with a 0600 token owned by the shared runAsUser, an ephemeral container
// must use the same runAsUser to read it. Checked: one with runAsUser 1000
// reads the token, one with 2000 cannot. The seed's claim holds only until
// the kubelet next writes the volume: the kubelet computes the shared user
// again (FsUserFrom counts ephemeral containers), and with two users no
// longer shared it writes the rotated token with the volume's defaultMode,
// owned by root (kubernetes-behaviour.md section 5).
func ephemeralContainers() features.Feature {
	const (
		pod  = "ephemeral"
		path = "/var/run/eph/token"
		aud  = "kic-ephemeral"
	)
	b := steps.ProbePod(pod).ProjectedToken("eph", "/var/run/eph", "token", aud, 600).Edit(func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr(int64(1000))}
	})
	mount := []corev1.VolumeMount{{Name: "eph", MountPath: "/var/run/eph"}}
	ephemeral := func(name string, uid int64) corev1.EphemeralContainer {
		return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: name, VolumeMounts: mount, SecurityContext: &corev1.SecurityContext{RunAsUser: &uid},
		}}
	}
	return features.New("an ephemeral container needs the pod's runAsUser to read the token, until the next write changes the mode").
		WithLabel("area", "projected").WithLabel("source", "seed003").WithLabel("section", "Linux").WithLabel("speed", "slow").
		Setup(steps.CreateNamespace()).
		Setup(steps.CreatePod(b)).
		Setup(steps.WaitPodServing(pod)).
		Assess("before: the token is 0600, owned by the shared runAsUser 1000", expectMode(pod, probe.Port, path, "0600", 1000, 0)).
		Assess("an ephemeral container with runAsUser 1000 reads it", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if err := steps.AddEphemeralContainer(ctx, t, pod, ephemeral("same-user", 1000), 8081); err != nil {
				t.Error(err)
				return ctx
			}
			f, err := probeFileAt(ctx, t, pod, 8081, path)
			if err != nil || f.Error != "" || f.Size == 0 {
				t.Errorf("same-user reads %s: %v %+v, want the token", path, err, f)
			}
			return ctx
		}).
		Assess("an ephemeral container with runAsUser 2000 cannot", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if err := steps.AddEphemeralContainer(ctx, t, pod, ephemeral("other-user", 2000), 8082); err != nil {
				t.Error(err)
				return ctx
			}
			f, err := probeFileAt(ctx, t, pod, 8082, path)
			if err != nil {
				t.Error(err)
			} else if !strings.Contains(f.Error, "permission denied") || f.SHA256 != "" {
				t.Errorf("other-user reading %s: error %q, sha256 %q; want permission denied and nothing read", path, f.Error, f.SHA256)
			}
			return ctx
		}).
		Assess("right after: the mode is unchanged, as the seed says", expectMode(pod, probe.Port, path, "0600", 1000, 0)).
		Assess("after the next write (rotation): the token is 0644 root:root, readable by both", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			pc := steps.Probe(ctx, t)
			ns := steps.Namespace(ctx)
			first, err := steps.ReadFile(ctx, t, pod, path)
			if err != nil {
				t.Error(err)
				return ctx
			}
			err = wait.For(ctx, "the kubelet to rewrite the token", wait.Options{Timeout: 11 * time.Minute, Interval: 5 * time.Second, Due: "due 470-570 s after the token's iat"},
				func(ctx context.Context) (bool, string, error) {
					r, err := pc.Files(ctx, ns, pod, path)
					if err != nil {
						return false, err.Error(), nil
					}
					f, _ := r.File(path)
					return f.SHA256 != first.SHA256, fmt.Sprintf("%s %s %d:%d", f.Generation, f.Mode, f.UID, f.GID), nil
				})
			if err != nil {
				t.Error(err)
				return ctx
			}
			expectMode(pod, probe.Port, path, "0644", 0, 0)(ctx, t, nil)
			if f, err := probeFileAt(ctx, t, pod, 8082, path); err != nil || f.Error != "" {
				t.Errorf("other-user after the write: %v %+v, want it readable", err, f)
			}
			return ctx
		}).Feature()
}

// windowsOwnership: seed 003, "Windows": ownership of projected files is not
// enforced on Windows nodes (RunAsUsername, the container's own SAM
// database). Reported as skipped, never as passed, on Linux-only clusters.
func windowsOwnership() features.Feature {
	return features.New("Windows: projected file ownership is not enforced").
		WithLabel("area", "projected").WithLabel("source", "seed003").WithLabel("section", "Windows").
		Setup(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			nodes, err := steps.Clientset(ctx, t).CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/os=windows"})
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes.Items) == 0 {
				t.Skip("Windows nodes only: the cluster has no node labelled kubernetes.io/os=windows")
			}
			t.Skipf("Windows nodes only: %d Windows nodes, but the suite's probe is a Linux program; not checked", len(nodes.Items))
			return ctx
		}).
		Assess("RunAsUsername does not set file ownership", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			return ctx // never reached: the setup skips
		}).Feature()
}

func expectMode(pod string, port int, path, mode string, uid, gid uint32) features.Func {
	return func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		f, err := probeFileAt(ctx, t, pod, port, path)
		if err != nil {
			t.Error(err)
			return ctx
		}
		if f.Mode != mode || f.UID != uid || f.GID != gid {
			t.Errorf("%s: %s %d:%d, want %s %d:%d", path, f.Mode, f.UID, f.GID, mode, uid, gid)
		}
		return ctx
	}
}
