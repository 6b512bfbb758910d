package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/results"
)

// logTail is how many lines of each container's log a failure file keeps.
const logTail int64 = 40

// writeFailureFile writes, for a failed feature, what its namespace held
// when it ended: each pod's state and events, the namespace's events, the
// tail of every container's log and the probes' last answers (without file
// bytes), into <artifacts>/failures/<feature>.txt (results.FailureFile),
// which the report links. It returns the file's path.
func writeFailureFile(ctx context.Context, dir, feature, cluster, ns string, cs kubernetes.Interface, pc *probe.Client) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "feature %s\ncluster %s, namespace %s, at %s\n", feature, cluster, ns, time.Now().UTC().Format(time.RFC3339))
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(&b, "\nlist pods: %v\n", err)
	} else {
		fmt.Fprintf(&b, "\n== pods (%d)\n", len(pods.Items))
		for i := range pods.Items {
			p := &pods.Items[i]
			fmt.Fprintf(&b, "- %s on %s: %s\n", p.Name, orDash(p.Spec.NodeName), describePod(ctx, cs, p))
		}
	}
	events, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(&b, "\nlist events: %v\n", err)
	} else {
		items := events.Items
		sort.SliceStable(items, func(i, j int) bool { return eventTime(items[i]).Before(eventTime(items[j])) })
		fmt.Fprintf(&b, "\n== events (%d)\n", len(items))
		for _, e := range items {
			fmt.Fprintf(&b, "%s %s %s/%s %s: %s\n", eventTime(e).UTC().Format(time.TimeOnly), e.Type, strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	if pods != nil {
		for _, p := range pods.Items {
			for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
				tail := logTail
				raw, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, TailLines: &tail}).DoRaw(ctx)
				fmt.Fprintf(&b, "\n== log of %s/%s (last %d lines)\n", p.Name, c.Name, logTail)
				if err != nil {
					fmt.Fprintf(&b, "(no log: %v)\n", err)
					continue
				}
				b.Write(raw)
			}
		}
	}
	if pc != nil {
		answers := pc.LastAnswers(ns)
		fmt.Fprintf(&b, "\n== the probes' last answers (%d; file bytes not kept)\n", len(answers))
		for _, a := range answers {
			out, err := json.MarshalIndent(a, "", "  ")
			if err != nil {
				return "", fmt.Errorf("encode the probe answer of %s: %w", a.Pod, err)
			}
			b.Write(out)
			b.WriteByte('\n')
		}
	}
	path := filepath.Join(dir, filepath.FromSlash(results.FailureFile(feature)))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("write the failure file of %s: %w", feature, err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("write the failure file of %s: %w", feature, err)
	}
	return path, nil
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// recordFailure is the part of a feature's namespace clean-up that runs
// first when the feature failed: the failure file, named in the log.
func recordFailure(t *testing.T, s Suite, cluster string, cs kubernetes.Interface, pc *probe.Client, ns string) {
	if !t.Failed() || s.ArtifactsDir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path, err := writeFailureFile(ctx, s.ArtifactsDir, t.Name(), cluster, ns, cs, pc)
	if err != nil {
		t.Logf("failure file: %v", err)
		return
	}
	t.Logf("failure file: %s (pods, events, logs, the probes' last answers)", path)
}
