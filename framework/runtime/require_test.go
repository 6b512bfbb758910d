package runtime

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

func TestParseRequireSplitsTrimsAndDropsRepeats(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"trustBundles", []string{"trustBundles"}},
		{"trustBundles, podCertificates ,trustBundles,", []string{"trustBundles", "podCertificates"}},
	} {
		if got := ParseRequire(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("ParseRequire(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func unmet(key string) Requirement {
	return Requirement{Key: key, Name: "the " + key + " thing", Profile: "default",
		Holds: func(context.Context, *steps.Cluster) (bool, string, error) { return false, key + " absent", nil }}
}

func requireAreas(reqs ...Requirement) []Area {
	return []Area{{Test: "TestA", Cases: func() []Case {
		var cs []Case
		for _, r := range reqs {
			cs = append(cs, Default(feature("needs "+r.Key, nil, nil)).Requires(r))
		}
		return cs
	}}}
}

func TestRequirementKeysAreSortedAndChecked(t *testing.T) {
	keys, err := RequirementKeys(requireAreas(unmet("b"), unmet("a"), unmet("b")))
	if err != nil || !slices.Equal(keys, []string{"a", "b"}) {
		t.Errorf("keys %q, %v; want [a b]", keys, err)
	}
	noKey := unmet("x")
	noKey.Key = ""
	if _, err := RequirementKeys(requireAreas(noKey)); err == nil {
		t.Error("a requirement without a key was accepted")
	}
	other := unmet("a")
	other.Name = "something else"
	if _, err := RequirementKeys(requireAreas(unmet("a"), other)); err == nil || !strings.Contains(err.Error(), "names both") {
		t.Errorf("one key for two requirements: %v", err)
	}
}

func TestNewRefusesUnknownRequireNamesListingTheKnownOnes(t *testing.T) {
	o := Options{
		Provider: &fakeProvider{}, Existing: true, Require: []string{"trustBundles", "nope"},
		Env:  func(*steps.Cluster) types.Environment { return env.NewWithConfig(envconf.New()) },
		Idle: env.NewWithConfig(envconf.New()), Progress: &bytes.Buffer{},
	}
	_, err := New(o, requireAreas(unmet("trustBundles"), unmet("podCertificates")))
	if err == nil {
		t.Fatal("--require=nope was accepted")
	}
	for _, want := range []string{"unknown requirement nope;", "known requirements: podCertificates, trustBundles"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	o.Require = []string{"trustBundles"}
	if _, err := New(o, requireAreas(unmet("trustBundles"))); err != nil {
		t.Errorf("a known name was refused: %v", err)
	}
}

func TestRequirementVerdict(t *testing.T) {
	req := unmet("trustBundles")
	boom := errors.New("discovery: boom")
	for _, tc := range []struct {
		name               string
		existing, required bool
		ok                 bool
		err                error
		want               string
		msg                []string
		lacks              string
	}{
		{"holds", true, true, true, nil, verdictHolds, []string{"holds: seen"}, ""},
		{"existing, unmet", true, false, false, nil, verdictSkip, []string{"needs the trustBundles thing (the cluster shows: seen): kind profile default"}, ""},
		{"existing, unmet, required", true, true, false, nil, verdictFail, []string{"needs the trustBundles thing (the cluster shows: seen)", "--require=trustBundles asked for it"}, ""},
		{"existing, check failed", true, false, false, boom, verdictSkip, []string{"could not be checked on cluster c1: discovery: boom"}, ""},
		{"existing, check failed, required", true, true, false, boom, verdictFail, []string{"could not be checked", "boom", "--require=trustBundles"}, ""},
		{"kind, unmet", false, false, false, nil, verdictFail, []string{"profile default should give the trustBundles thing, but cluster c1 shows: seen"}, ""},
		{"kind, check failed", false, true, false, boom, verdictFail, []string{"checking requirement", "boom"}, ""},
		// The check's answer counts only without an error.
		{"existing, error with ok", true, false, true, boom, verdictSkip, []string{"boom"}, ""},
		// A kind profile that says it cannot give the requirement skips,
		// naming why; one that gives it anyway runs.
		{"kind, unmet, profile lacks it", false, false, false, nil, verdictSkip, []string{"which profile default does not give: v1alpha1 only", "shows: seen"}, "v1alpha1 only"},
		{"kind, holds, profile lacks it", false, false, true, nil, verdictHolds, []string{"holds"}, "v1alpha1 only"},
	} {
		got, msg := requirementVerdict(requirementCheck{Req: req, Profile: "default", Cluster: "c1",
			Existing: tc.existing, Required: tc.required, OK: tc.ok, Seen: "seen", Err: tc.err, Lacks: tc.lacks})
		if got != tc.want {
			t.Errorf("%s: verdict %s, want %s (%s)", tc.name, got, tc.want, msg)
		}
		for _, w := range tc.msg {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q lacks %q", tc.name, msg, w)
			}
		}
		if !tc.required && strings.Contains(msg, "--require") {
			t.Errorf("%s: message %q names --require", tc.name, msg)
		}
	}
}
