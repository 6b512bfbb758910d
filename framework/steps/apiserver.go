package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/wait"
)

// APIServerManifest is kube-apiserver's static pod manifest on a kubeadm
// control-plane node; the kubelet restarts the API server when it changes.
const APIServerManifest = "/etc/kubernetes/manifests/kube-apiserver.yaml"

// APIServerRestartTimeout bounds a restart of kube-apiserver after its
// manifest changed: the kubelet notices the file (inotify, or its 20 s
// fileCheckFrequency), stops the old server, and the new one must pass its
// readiness checks.
const APIServerRestartTimeout = 4 * time.Minute

// NodeCommand runs a program in the cluster's control-plane node container
// (docker exec, through gexe), with stdin when given, and returns its
// standard output. Only kind clusters made by the suite have a node.
func NodeCommand(ctx context.Context, c *Cluster, stdin []byte, args ...string) (string, error) {
	if c.Node == "" {
		return "", fmt.Errorf("cluster %s has no node container the suite can reach (not a kind cluster of this run)", c.Name)
	}
	var out, errOut bytes.Buffer
	cmd := hostexec.Command("docker", append([]string{"exec", "-i", c.Node}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(ctx); err != nil {
		return out.String(), fmt.Errorf("on node %s: %w: %s", c.Node, err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// ReadNodeFile reads a file of the control-plane node.
func ReadNodeFile(ctx context.Context, c *Cluster, file string) ([]byte, error) {
	out, err := NodeCommand(ctx, c, nil, "cat", file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return []byte(out), nil
}

// WriteNodeFile replaces a file of the control-plane node atomically: it is
// written beside its directory under a dot name (which the kubelet's static
// pod source ignores) and renamed into place, so the kubelet never reads half
// a manifest.
func WriteNodeFile(ctx context.Context, c *Cluster, file string, data []byte, mode os.FileMode) error {
	tmp := path.Join(path.Dir(path.Dir(file)), ".kic-"+path.Base(file)+".tmp")
	if _, err := NodeCommand(ctx, c, data, "tee", tmp); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if _, err := NodeCommand(ctx, c, nil, "chmod", fmt.Sprintf("%o", mode.Perm()), tmp); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if _, err := NodeCommand(ctx, c, nil, "mv", "-f", tmp, file); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// APIServerPod reads kube-apiserver's static pod manifest from the node.
func APIServerPod(ctx context.Context, c *Cluster) (*corev1.Pod, error) {
	data, err := ReadNodeFile(ctx, c, APIServerManifest)
	if err != nil {
		return nil, err
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(data, &pod); err != nil {
		return nil, fmt.Errorf("%s on node %s: %w", APIServerManifest, c.Node, err)
	}
	if len(pod.Spec.Containers) == 0 || pod.Spec.Containers[0].Name != "kube-apiserver" {
		return nil, fmt.Errorf("%s on node %s has no kube-apiserver container first", APIServerManifest, c.Node)
	}
	return &pod, nil
}

// FlagValues returns every value of --name=... in a command line, in order.
func FlagValues(command []string, name string) []string {
	var vs []string
	for _, a := range command {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// SetFlag returns the command with every --name=... replaced by one flag
// per value, in order, where the first of them was (at the end when there
// was none). No values removes the flag.
func SetFlag(command []string, name string, values ...string) []string {
	var out []string
	at := -1
	for _, a := range command {
		if strings.HasPrefix(a, "--"+name+"=") {
			if at < 0 {
				at = len(out)
			}
			continue
		}
		out = append(out, a)
	}
	if at < 0 {
		at = len(out)
	}
	flags := make([]string, 0, len(values))
	for _, v := range values {
		flags = append(flags, "--"+name+"="+v)
	}
	return slices.Insert(out, at, flags...)
}

// Restart is how a change of kube-apiserver's flags went.
type Restart struct {
	// Command is the API server's command line after the change, as its
	// mirror pod reports it.
	Command []string
	// Took is from writing the manifest to the new API server ready.
	Took time.Duration
	// Unreachable is how long the API server did not answer in between (0
	// when no poll saw it down).
	Unreachable time.Duration
}

func (r Restart) String() string {
	return fmt.Sprintf("ready %s after the manifest changed (unreachable for %s)", r.Took.Round(100*time.Millisecond), r.Unreachable.Round(100*time.Millisecond))
}

// ChangeAPIServerFlags edits kube-apiserver's static pod manifest in the
// node (change gets the current command and returns the new one), then
// waits for the API server to restart with it: the mirror pod reports the
// new command and a container started after the write, Ready, and /readyz
// answers ok. It fails, with what it last saw, if that takes longer than
// APIServerRestartTimeout.
func ChangeAPIServerFlags(ctx context.Context, c *Cluster, change func([]string) []string) (Restart, error) {
	old, want, wrote, err := writeAPIServerCommand(ctx, c, change)
	if err != nil {
		return Restart{}, err
	}
	r, err := WaitAPIServerRestarted(ctx, c, wrote, want)
	if err != nil {
		return r, fmt.Errorf("kube-apiserver with %s: %w", strings.Join(diffFlags(old, want), " "), err)
	}
	return r, nil
}

// APIServerRefuses makes the change of kube-apiserver's flags and waits, up
// to timeout, until the log of a kube-apiserver container started after it
// contains want: the way to show a setting kube-apiserver refuses to start
// with, since the API cannot be asked then. Whatever it saw, it then puts the
// previous command back and waits for the API server to be ready again, so
// the cluster is left as it was found. It returns how long the refusal took
// to show, and the restart that restored the API server.
func APIServerRefuses(ctx context.Context, c *Cluster, change func([]string) []string, want string, timeout time.Duration) (time.Duration, Restart, error) {
	_, before, err := APIServerLogs(ctx, c, nil)
	if err != nil {
		return 0, Restart{}, err
	}
	old, _, wrote, err := writeAPIServerCommand(ctx, c, change)
	if err != nil {
		return 0, Restart{}, err
	}
	var took time.Duration
	refused := wait.For(ctx, fmt.Sprintf("a new kube-apiserver to log %q", want), wait.Options{Timeout: timeout, Interval: 2 * time.Second}, func(ctx context.Context) (bool, string, error) {
		logs, _, err := APIServerLogs(ctx, c, before)
		if err != nil {
			return false, err.Error(), nil
		}
		if strings.Contains(logs, want) {
			took = time.Since(wrote)
			return true, "", nil
		}
		lines := strings.Split(strings.TrimSpace(logs), "\n")
		return false, fmt.Sprintf("the last line of the new kube-apiserver logs: %q", lines[len(lines)-1]), nil
	})
	r, err := ChangeAPIServerFlags(ctx, c, func([]string) []string { return old })
	if err != nil {
		err = fmt.Errorf("restoring kube-apiserver's flags: %w", err)
	}
	return took, r, errors.Join(refused, err)
}

// writeAPIServerCommand writes the changed command into the manifest and
// returns the old and new commands and when it wrote them.
func writeAPIServerCommand(ctx context.Context, c *Cluster, change func([]string) []string) (old, want []string, wrote time.Time, err error) {
	pod, err := APIServerPod(ctx, c)
	if err != nil {
		return nil, nil, wrote, err
	}
	old = pod.Spec.Containers[0].Command
	want = change(slices.Clone(old))
	if slices.Equal(old, want) {
		return nil, nil, wrote, errors.New("kube-apiserver flags: the change leaves the command as it is, so the API server would not restart")
	}
	pod.Spec.Containers[0].Command = want
	data, err := yaml.Marshal(pod)
	if err != nil {
		return nil, nil, wrote, fmt.Errorf("kube-apiserver manifest: %w", err)
	}
	// Whole seconds: container start times are reported to the second.
	wrote = time.Now().Truncate(time.Second)
	if err := WriteNodeFile(ctx, c, APIServerManifest, data, 0o600); err != nil {
		return nil, nil, wrote, err
	}
	return old, want, wrote, nil
}

// WaitAPIServerRestarted waits until the API server runs the command,
// started at or after since, and is ready.
func WaitAPIServerRestarted(ctx context.Context, c *Cluster, since time.Time, want []string) (Restart, error) {
	mirror := "kube-apiserver-" + c.Node
	var down, up time.Time
	var unreachable time.Duration
	var r Restart
	err := wait.For(ctx, "kube-apiserver to restart with its new flags", wait.Options{Timeout: APIServerRestartTimeout}, func(ctx context.Context) (bool, string, error) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		p, err := c.Clientset.CoreV1().Pods("kube-system").Get(rctx, mirror, metav1.GetOptions{})
		if err != nil {
			if down.IsZero() || !up.IsZero() {
				down, up = time.Now(), time.Time{}
			}
			return false, fmt.Sprintf("API server does not answer: %v", err), nil
		}
		if !down.IsZero() && up.IsZero() {
			up = time.Now()
			unreachable += up.Sub(down)
		}
		got := p.Spec.Containers[0].Command
		if !slices.Equal(got, want) {
			return false, fmt.Sprintf("mirror pod %s still reports %s", mirror, strings.Join(diffFlags(want, got), " ")), nil
		}
		var started time.Time
		for _, s := range p.Status.ContainerStatuses {
			if s.Name == "kube-apiserver" && s.State.Running != nil {
				started = s.State.Running.StartedAt.Time
			}
		}
		if started.Before(since) {
			return false, fmt.Sprintf("mirror pod %s: the running container started %s, before the change", mirror, started.UTC().Format(time.RFC3339)), nil
		}
		ready := false
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady {
				ready = cond.Status == corev1.ConditionTrue
			}
		}
		if !ready {
			return false, fmt.Sprintf("mirror pod %s: the new API server (started %s) is not Ready", mirror, started.UTC().Format(time.RFC3339)), nil
		}
		body, err := c.Clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		if err != nil || strings.TrimSpace(string(body)) != "ok" {
			return false, fmt.Sprintf("/readyz: %q %v", body, err), nil
		}
		r = Restart{Command: got, Took: time.Since(since), Unreachable: unreachable}
		return true, "", nil
	})
	return r, err
}

// APIServerLogs returns the logs of kube-apiserver containers on the node
// whose log files are not in before (a set from an earlier call), with the
// files it read: the way to see why a new API server does not start, since
// the API cannot be asked then.
func APIServerLogs(ctx context.Context, c *Cluster, before map[string]bool) (logs string, files map[string]bool, err error) {
	out, err := NodeCommand(ctx, c, nil, "find", "/var/log/pods", "-path", "*/kube-system_kube-apiserver-*/kube-apiserver/*", "-name", "*.log")
	if err != nil {
		return "", nil, fmt.Errorf("list kube-apiserver logs: %w", err)
	}
	files = map[string]bool{}
	var b strings.Builder
	for _, f := range strings.Fields(out) {
		files[f] = true
		if before[f] {
			continue
		}
		data, err := ReadNodeFile(ctx, c, f)
		if err != nil {
			return "", nil, err
		}
		b.Write(data)
	}
	return b.String(), files, nil
}

// diffFlags names the flags of b that a does not have, and those of a
// that b lacks, for messages.
func diffFlags(a, b []string) []string {
	var out []string
	for _, f := range b {
		if !slices.Contains(a, f) {
			out = append(out, "+"+f)
		}
	}
	for _, f := range a {
		if !slices.Contains(b, f) {
			out = append(out, "-"+f)
		}
	}
	if len(out) == 0 {
		return []string{"(the same flags in another order)"}
	}
	return out
}
