package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
)

func TestPlainRunProfilesOfAVersion(t *testing.T) {
	ps := []clusters.Profile{
		{Name: "default", KubernetesVersion: "v1.37.2"},
		{Name: "old", KubernetesVersion: "v1.35.4"},
		{Name: "variant", KubernetesVersion: "v1.36.3", Base: "default"},
		{Name: "other", KubernetesVersion: "v1.37.2"},
	}
	for v, want := range map[string][]string{"": {"default", "old", "other"}, "v1.37.2": {"default", "other"}, "v1.35.4": {"old"}} {
		got, err := plainRunProfiles(ps, v)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %v, %v; want %v", v, got, err, want)
		}
	}
	_, err := plainRunProfiles(ps, "v1.36.3")
	if err == nil || !strings.Contains(err.Error(), "they use v1.37.2, v1.35.4") || !strings.Contains(err.Error(), "--profile: variant") {
		t.Errorf("a version of variants only: %v; want the versions there are and the variant", err)
	}
	_, err = plainRunProfiles(ps, "1.37.2")
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "e.g. v1.35.4") {
		t.Errorf("a version without v: %v; want a usage error with an example", err)
	}
}

// TestProfilesLabels: the --labels form selects the profiles by the label
// the runtime puts on every feature.
func TestProfilesLabels(t *testing.T) {
	var out bytes.Buffer
	if err := runProfiles([]string{"--kubernetes-version", clusters.Default().KubernetesVersion, "--labels"}, &out); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(out.String())
	if !strings.HasPrefix(line, "profile=default,") || strings.Contains(line, " ") {
		t.Errorf("--labels printed %q; want profile=default,profile=...", line)
	}
	if err := runProfiles([]string{"extra"}, &out); !errors.As(err, new(usageError)) {
		t.Errorf("an argument: %v; want a usage error", err)
	}
}

// TestWorkflowMatrixIsTheProfilesVersions: CI's conformance job runs once
// per Kubernetes version of a plain run's profiles; a profile of a new
// version must not go untested, nor a removed version linger.
func TestWorkflowMatrixIsTheProfilesVersions(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", ".github", "workflows", "conformance.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Strategy struct {
				Matrix struct {
					Kubernetes []string `json:"kubernetes"`
				} `json:"matrix"`
			} `json:"strategy"`
		} `json:"jobs"`
	}
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatalf("conformance.yml: %v", err)
	}
	job, ok := wf.Jobs["conformance"]
	if !ok {
		t.Fatal("conformance.yml has no job conformance")
	}
	want, err := versions("", false)
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(job.Strategy.Matrix.Kubernetes)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("conformance.yml's matrix.kubernetes is %v; the profiles use %v (go run ./scripts/cluster versions)", job.Strategy.Matrix.Kubernetes, want)
	}
}
