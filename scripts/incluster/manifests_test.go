package main

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/cluster"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/steps"
)

func TestManifestsDecodeAndCarryTheSuiteLabel(t *testing.T) {
	if LabelKey != steps.LabelSuite {
		t.Fatalf("LabelKey %s, steps.LabelSuite %s", LabelKey, steps.LabelSuite)
	}
	var kinds []string
	for _, data := range [][]byte{rbacYAML, jobYAML} {
		objs, err := decodeAll(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			kinds = append(kinds, o.GetKind())
			if o.GetLabels()[steps.LabelSuite] != "true" {
				t.Errorf("%s %s lacks %s=true (make clean-existing finds it by it)", o.GetKind(), o.GetName(), steps.LabelSuite)
			}
			if ns := o.GetNamespace(); ns != "" && ns != Namespace {
				t.Errorf("%s %s in namespace %s, want %s", o.GetKind(), o.GetName(), ns, Namespace)
			}
		}
	}
	want := []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Job"}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	// The cluster-scoped kinds are swept by clean-existing.
	swept := map[string]bool{}
	for _, sw := range steps.ClusterSweeps {
		swept[sw.Kind] = true
	}
	for _, k := range []string{"clusterrole", "clusterrolebinding"} {
		if !swept[k] {
			t.Errorf("clean-existing does not sweep %ss: rbac.yaml's would stay behind", k)
		}
	}
}

func TestPluginDefinition(t *testing.T) {
	var p struct {
		Config struct {
			Driver       string `json:"driver"`
			PluginName   string `json:"plugin-name"`
			ResultFormat string `json:"result-format"`
		} `json:"sonobuoy-config"`
		Spec struct {
			Image        string   `json:"image"`
			Command      []string `json:"command"`
			VolumeMounts []struct {
				MountPath string `json:"mountPath"`
			} `json:"volumeMounts"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(pluginYAML, &p); err != nil {
		t.Fatal(err)
	}
	if p.Config.Driver != "Job" || p.Config.PluginName != "kube-identity-conformance" || p.Config.ResultFormat != "gojson" {
		t.Errorf("sonobuoy-config %+v", p.Config)
	}
	job, err := jobFor(JobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := job.Spec.Template.Spec.Containers[0]; p.Spec.Image != c.Image {
		t.Errorf("plugin image %s, Job image %s", p.Spec.Image, c.Image)
	}
	if !slices.Equal(p.Spec.Command, []string{"/kic/entry"}) || len(p.Spec.VolumeMounts) != 1 || p.Spec.VolumeMounts[0].MountPath != "/tmp/sonobuoy/results" {
		t.Errorf("plugin spec %+v", p.Spec)
	}
}

func TestJobFromFlags(t *testing.T) {
	job, err := jobFor(JobOptions{SuiteImage: "reg/suite:1", ProbeImage: "reg/probe:1", Run: "TestProbe", Timeout: "30m0s", ExtraArgs: "--strict"})
	if err != nil {
		t.Fatal(err)
	}
	s := job.Spec.Template.Spec
	c := s.Containers[0]
	if c.Image != "reg/suite:1" || c.ImagePullPolicy != "IfNotPresent" {
		t.Errorf("image %s, pull policy %s", c.Image, c.ImagePullPolicy)
	}
	for k, v := range map[string]string{"PROBE_IMAGE": "reg/probe:1", "E2E_FOCUS": "TestProbe", "E2E_TIMEOUT": "30m0s", "E2E_EXTRA_ARGS": "--strict"} {
		if got := envValue(c, k); got != v {
			t.Errorf("%s=%q, want %q", k, got, v)
		}
	}
	if s.ServiceAccountName != "kic-suite" || s.RestartPolicy != "Never" || job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 {
		t.Errorf("service account %s, restart %s, backoffLimit %v", s.ServiceAccountName, s.RestartPolicy, job.Spec.BackoffLimit)
	}
	if len(s.Volumes) != 1 || s.Volumes[0].EmptyDir == nil {
		t.Errorf("results volume %+v, want an emptyDir", s.Volumes)
	}
	u, err := toUnstructured(job, "batch/v1", "Job")
	if err != nil {
		t.Fatal(err)
	}
	if u.GetName() != JobName || u.GetNamespace() != Namespace || u.Object["status"] != nil {
		t.Errorf("unstructured Job %s/%s, status %v", u.GetNamespace(), u.GetName(), u.Object["status"])
	}

	d, err := jobFor(JobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := d.Spec.Template.Spec.Containers[0]; c.Image != "kic.local/suite:dev" || envValue(c, "PROBE_IMAGE") != "kic.local/probe:dev" {
		t.Errorf("defaults: image %s, probe %s", c.Image, envValue(c, "PROBE_IMAGE"))
	}
}

// TestClusterRoleCoversTheSuite checks rbac.yaml's ClusterRole against the
// rights the suite checks for (framework/cluster/access.go).
func TestClusterRoleCoversTheSuite(t *testing.T) {
	objs, err := decodeAll(rbacYAML)
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &role); err != nil {
				t.Fatal(err)
			}
		}
	}
	var all []cluster.Access
	for _, l := range [][]cluster.Access{
		cluster.RunAccess, cluster.VerifyAccess, cluster.GetNodeAccess, cluster.TokenRequestAccess, cluster.TokenReviewAccess,
		cluster.GrantAccess, cluster.CreateServiceAccountAccess, cluster.DeleteServiceAccountAccess, cluster.PatchServiceAccountAccess,
		cluster.GetSecretAccess, cluster.DeleteSecretAccess, cluster.CreateConfigMapAccess, cluster.PatchPodAccess,
		cluster.EphemeralContainerAccess, cluster.ListNodesAccess, cluster.TrustBundleAccess, cluster.ReadTrustBundleAccess,
		cluster.ImpersonateAccess, cluster.RoleAccess, cluster.SignerAccess,
		// tests/issuers_test.go migrationCases.
		{{Verb: "create", Group: "apps", Resource: "deployments"}, {Verb: "patch", Group: "apps", Resource: "deployments"}, {Verb: "get", Group: "apps", Resource: "deployments"}},
	} {
		all = append(all, l...)
	}
	for _, a := range all {
		if !covers(role.Rules, a) {
			t.Errorf("rbac.yaml's ClusterRole lacks %s (%s)", a, a.Why)
		}
	}
}

func covers(rules []rbacv1.PolicyRule, a cluster.Access) bool {
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	for _, r := range rules {
		if len(r.ResourceNames) > 0 || !slices.Contains(r.Verbs, a.Verb) {
			continue
		}
		if a.NonResourceURL != "" {
			if slices.ContainsFunc(r.NonResourceURLs, func(u string) bool {
				return u == a.NonResourceURL || strings.HasSuffix(u, "*") && strings.HasPrefix(a.NonResourceURL, strings.TrimSuffix(u, "*"))
			}) {
				return true
			}
			continue
		}
		if slices.Contains(r.APIGroups, a.Group) && slices.Contains(r.Resources, res) {
			return true
		}
	}
	return false
}
