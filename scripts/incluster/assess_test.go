package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
)

// stream writes test2json events: action test [output].
func stream(t *testing.T, events ...[3]string) string {
	t.Helper()
	var b strings.Builder
	for _, e := range events {
		m := map[string]any{"Action": e[0], "Package": "p"}
		if e[1] != "" {
			m["Test"] = e[1]
		}
		if e[2] != "" {
			m["Output"] = e[2] + "\n"
		}
		data, _ := json.Marshal(m)
		b.Write(append(data, '\n'))
	}
	return b.String()
}

var disruptiveLine = "    runtime.go:340: " + runtime.DisruptiveSkip + ": runs on a kind cluster of its own, profile issuers; pass --allow-disruptive to run it on this cluster"

func passing(t *testing.T) string {
	return stream(t,
		[3]string{"start", "", ""},
		[3]string{"output", "", "conformance: mode: existing cluster"},
		[3]string{"run", "TestProbe", ""},
		[3]string{"run", "TestProbe/probe_answers", ""},
		[3]string{"run", "TestProbe/probe_answers/reads", ""},
		[3]string{"pass", "TestProbe/probe_answers/reads", ""},
		[3]string{"pass", "TestProbe/probe_answers", ""},
		[3]string{"run", "TestProbe/rotation", ""},
		[3]string{"output", "TestProbe/rotation", disruptiveLine},
		[3]string{"output", "TestProbe/rotation", "--- SKIP: TestProbe/rotation (0.00s)"},
		[3]string{"skip", "TestProbe/rotation", ""},
		[3]string{"pass", "TestProbe", ""},
	)
}

func TestAssessPassing(t *testing.T) {
	a, err := Assess(strings.NewReader("entry: starting\n"+passing(t)+"entry: done\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Problems) > 0 {
		t.Fatalf("problems: %v", a.Problems)
	}
	if a.FeaturesPassed != 1 || len(a.Skipped) != 1 || len(a.Disruptive) != 1 || len(a.Failed) != 0 {
		t.Errorf("assessment %+v", a)
	}
	if r := a.SkipReasons["TestProbe/rotation"]; !strings.HasPrefix(r, runtime.DisruptiveSkip) {
		t.Errorf("skip reason %q", r)
	}
	var b strings.Builder
	a.Summary(&b)
	if !strings.Contains(b.String(), "0 failed") || !strings.Contains(b.String(), "skipped (1): "+runtime.DisruptiveSkip) {
		t.Errorf("summary:\n%s", b.String())
	}
}

func problems(t *testing.T, log string, wantDisruptive bool, want ...string) {
	t.Helper()
	a, err := Assess(strings.NewReader(log), wantDisruptive)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(a.Problems, "\n")
	if len(want) == 0 && all != "" {
		t.Errorf("problems:\n%s", all)
	}
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("problems lack %q:\n%s", w, all)
		}
	}
}

func TestAssessFailing(t *testing.T) {
	log := stream(t,
		[3]string{"run", "TestTokens", ""},
		[3]string{"run", "TestTokens/audience", ""},
		[3]string{"output", "TestTokens/audience", "    tokens_test.go:12: wrong audience"},
		[3]string{"fail", "TestTokens/audience", ""},
		[3]string{"run", "TestTokens/expiry", ""},
		[3]string{"pass", "TestTokens/expiry", ""},
		[3]string{"fail", "TestTokens", ""},
	)
	problems(t, log, false, "TestTokens/audience failed", "wrong audience")
	// The parent's failure is its child's: named once.
	a, _ := Assess(strings.NewReader(log), false)
	if strings.Contains(strings.Join(a.Problems, "\n"), "TestTokens failed") {
		t.Errorf("the parent is reported too: %v", a.Problems)
	}
}

func TestAssessSkipWithoutReason(t *testing.T) {
	log := stream(t,
		[3]string{"run", "TestProbe", ""},
		[3]string{"run", "TestProbe/a", ""},
		[3]string{"pass", "TestProbe/a", ""},
		[3]string{"run", "TestProbe/b", ""},
		[3]string{"output", "TestProbe/b", "--- SKIP: TestProbe/b (0.00s)"},
		[3]string{"skip", "TestProbe/b", ""},
		[3]string{"pass", "TestProbe", ""},
	)
	problems(t, log, false, "TestProbe/b was skipped without a reason")
	// The whole suite has disruptive features: none skipped as such is a
	// problem.
	problems(t, log, true, "no feature was skipped as disruptive")
}

func TestAssessNoTests(t *testing.T) {
	log := stream(t, [3]string{"start", "", ""}, [3]string{"output", "", "conformance: mode"}) +
		"conformance: --in-cluster: $KUBERNETES_SERVICE_HOST not set\nentry: the suite ran no test (exit status 2)\n"
	problems(t, log, false, "the run did not start", "KUBERNETES_SERVICE_HOST not set")
	problems(t, "", false, "the run did not start")
}

func TestAssessNoFeaturePassed(t *testing.T) {
	log := stream(t,
		[3]string{"run", "TestProbe", ""},
		[3]string{"run", "TestProbe/a", ""},
		[3]string{"output", "TestProbe/a", "    runtime.go:340: not selected: -run"},
		[3]string{"skip", "TestProbe/a", ""},
		[3]string{"pass", "TestProbe", ""},
	)
	problems(t, log, false, "no feature passed")
}

func TestAssessUnfinished(t *testing.T) {
	log := passing(t) + stream(t, [3]string{"run", "TestTokens", ""})
	problems(t, log, true, "TestTokens has no result")
}

// TestAssessLeftBehind: a passing run whose suite left its --in-cluster
// kubeconfig in the pod's temporary directory fails the check.
func TestAssessLeftBehind(t *testing.T) {
	a, err := Assess(strings.NewReader(passing(t)+"entry: left behind by the suite: /tmp/kic-in-cluster-1\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.Problems, "\n"); !strings.Contains(got, "/tmp/kic-in-cluster-1") {
		t.Errorf("problems %q do not name the left-behind directory", got)
	}
}
