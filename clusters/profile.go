// Package clusters defines the suite's cluster profiles: what a cluster IS
// (Kubernetes version, feature gates, API server flags) as kind v1alpha4
// configuration, written in Go and rendered to YAML checked in beside this file.
//
// A profile is data: it imports nothing of the suite. Settings that only some
// hosts need (cgroup v1) are applied from a Host description, so that a host
// that does not need them never gets them; the checked-in YAML shows both
// renderings.
package clusters

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// NodeRepository is where scripts/nodeimage puts node images; a profile's
// node image is NodeRepository:<KubernetesVersion>.
const NodeRepository = "kic.local/node"

// Profile is one cluster configuration the suite can run against.
type Profile struct {
	// Name identifies the profile (--profile=NAME) and prefixes cluster names.
	Name string
	// Description says what the profile is for.
	Description string
	// KubernetesVersion is the node image's release, e.g. "v1.37.2".
	KubernetesVersion string
	// FeatureGates are set on every component (kind's top-level featureGates).
	FeatureGates map[string]bool
	// APIServerArgs are extra kube-apiserver flags, in order. A name may repeat
	// (--service-account-issuer); see Cluster for how that is rendered.
	APIServerArgs []Arg
	// Base, when set, names the profile whose features this one runs: a
	// variant (the default profile on an older release) has no features of
	// its own.
	Base string
}

// KubeadmIssuer is the service-account issuer kubeadm configures when no
// --service-account-issuer is given: https://kubernetes.default.svc.<dns domain>,
// and kind keeps the cluster.local domain.
const KubeadmIssuer = "https://kubernetes.default.svc.cluster.local"

// ServiceAccountIssuer is the issuer a cluster of the profile signs tokens
// with: the first --service-account-issuer flag, or kubeadm's default.
func (p Profile) ServiceAccountIssuer() string {
	for _, a := range p.APIServerArgs {
		if a.Name == "service-account-issuer" {
			return a.Value
		}
	}
	return KubeadmIssuer
}

// Arg returns the value of a kube-apiserver flag the profile sets, and
// whether it sets it.
func (p Profile) Arg(name string) (string, bool) {
	for _, a := range p.APIServerArgs {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// FeatureBase is the profile whose features run on this one.
func (p Profile) FeatureBase() string {
	if p.Base != "" {
		return p.Base
	}
	return p.Name
}

// Arg is one command-line flag: --Name=Value.
type Arg struct{ Name, Value string }

// Host describes what the Docker host needs of a cluster.
type Host struct {
	// CgroupV1 is true when the Docker engine runs containers on cgroup v1.
	CgroupV1 bool
}

// NodeImage returns the node image of a Kubernetes version.
func NodeImage(version string) string { return NodeRepository + ":" + version }

// NodeImage returns the profile's node image.
func (p Profile) NodeImage() string { return NodeImage(p.KubernetesVersion) }

var versionRE = regexp.MustCompile(`^v1\.(\d+)\.(\d+)$`)

// Minor returns the Kubernetes minor version (37 for v1.37.2).
func (p Profile) Minor() (int, error) {
	m := versionRE.FindStringSubmatch(p.KubernetesVersion)
	if m == nil {
		return 0, fmt.Errorf("profile %s: kubernetes version %q is not of the form v1.MINOR.PATCH", p.Name, p.KubernetesVersion)
	}
	return strconv.Atoi(m[1])
}

// RuntimeConfig returns the API groups the profile's gates need served on its
// release: ClusterTrustBundle and PodCertificateRequest are beta (off by
// default) before 1.37 and served at certificates.k8s.io/v1 from 1.37.
func (p Profile) RuntimeConfig() (map[string]string, error) {
	minor, err := p.Minor()
	if err != nil {
		return nil, err
	}
	rc := map[string]string{}
	if p.FeatureGates["ClusterTrustBundle"] && minor < 37 {
		rc["certificates.k8s.io/v1beta1/clustertrustbundles"] = "true"
	}
	if p.FeatureGates["PodCertificateRequest"] {
		switch {
		case minor == 34:
			rc["certificates.k8s.io/v1alpha1/podcertificaterequests"] = "true"
		case minor == 35 || minor == 36:
			rc["certificates.k8s.io/v1beta1/podcertificaterequests"] = "true"
		}
	}
	if len(rc) == 0 {
		return nil, nil
	}
	return rc, nil
}

// Cluster returns the kind configuration of the profile on a host.
//
// kind generates kubeadm v1beta3 below Kubernetes 1.36 and v1beta4 from 1.36.
// API server flags are written as a merge patch in map form, which kind
// converts for either API version; but merge patches update flags by name, so
// a repeated flag would collapse to its last value. Repeated flags are
// therefore added with JSON 6902 patches appending to v1beta4's extraArgs
// list, and refused below 1.36, where extraArgs is a map.
func (p Profile) Cluster(h Host) (*v1alpha4.Cluster, error) {
	minor, err := p.Minor()
	if err != nil {
		return nil, err
	}
	rc, err := p.RuntimeConfig()
	if err != nil {
		return nil, err
	}
	c := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Nodes: []v1alpha4.Node{{
			Role:  v1alpha4.ControlPlaneRole,
			Image: p.NodeImage(),
		}},
		// The node image ships a static CNI configuration (no kindnetd image).
		Networking:    v1alpha4.Networking{DisableDefaultCNI: true},
		FeatureGates:  p.FeatureGates,
		RuntimeConfig: rc,
	}
	if h.CgroupV1 && minor >= 35 {
		// kubelet >= 1.35 refuses to start on cgroup v1 unless told otherwise.
		c.KubeadmConfigPatches = append(c.KubeadmConfigPatches, "kind: KubeletConfiguration\nfailCgroupV1: false\n")
	}
	if h.CgroupV1 && minor < 36 {
		// Where kind still runs kubeadm's preflight (v1beta3), its
		// SystemVerification check fails on cgroup v1.
		c.KubeadmConfigPatches = append(c.KubeadmConfigPatches, "kind: InitConfiguration\nnodeRegistration:\n  ignorePreflightErrors:\n  - SystemVerification\n")
	}
	single, repeated := splitArgs(p.APIServerArgs)
	if len(single) > 0 {
		var b strings.Builder
		b.WriteString("kind: ClusterConfiguration\napiServer:\n  extraArgs:\n")
		for _, a := range single {
			fmt.Fprintf(&b, "    %s: %q\n", a.Name, a.Value)
		}
		c.KubeadmConfigPatches = append(c.KubeadmConfigPatches, b.String())
	}
	if len(repeated) > 0 {
		if minor < 36 {
			return nil, fmt.Errorf("profile %s: repeated kube-apiserver flag --%s needs kubeadm v1beta4 (Kubernetes >= 1.36); %s uses v1beta3", p.Name, repeated[0].Name, p.KubernetesVersion)
		}
		var b strings.Builder
		for _, a := range repeated {
			fmt.Fprintf(&b, "- op: add\n  path: /apiServer/extraArgs/-\n  value:\n    name: %s\n    value: %q\n", a.Name, a.Value)
		}
		c.KubeadmConfigPatchesJSON6902 = append(c.KubeadmConfigPatchesJSON6902, v1alpha4.PatchJSON6902{
			Group: "kubeadm.k8s.io", Version: "v1beta4", Kind: "ClusterConfiguration", Patch: b.String(),
		})
	}
	return c, nil
}

// splitArgs separates flags given once from flags given several times.
func splitArgs(args []Arg) (single, repeated []Arg) {
	count := map[string]int{}
	for _, a := range args {
		count[a.Name]++
	}
	for _, a := range args {
		if count[a.Name] > 1 {
			repeated = append(repeated, a)
		} else {
			single = append(single, a)
		}
	}
	return single, repeated
}

// Render returns the profile's kind configuration as YAML.
func (p Profile) Render(h Host) ([]byte, error) {
	c, err := p.Cluster(h)
	if err != nil {
		return nil, err
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("profile %s: render: %w", p.Name, err)
	}
	return out, nil
}

// Lookup returns the named profile, or an error listing the known ones.
func Lookup(name string) (Profile, error) {
	for _, p := range All() {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("unknown profile %q (known profiles: %s)", name, strings.Join(Names(), ", "))
}

// Names lists the known profiles, sorted.
func Names() []string {
	var names []string
	for _, p := range All() {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}
