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
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

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
	// Lacks names the requirements (tests' runtime.Requirement keys) the
	// profile's release cannot give the suite, each with the reason: a
	// feature needing one is skipped on it with that reason instead of
	// failing (for example 1.34's PodCertificateRequest API is v1alpha1,
	// which the suite's client libraries no longer have).
	Lacks map[string]string
	// ServiceAccountKey, when set, is the type of a service-account signing
	// key the suite generates for the profile (never committed; see
	// NodeFiles): kube-apiserver signs with it instead of kubeadm's sa.key,
	// and verifies with its public key and kubeadm's sa.pub (with which
	// kube-controller-manager still signs legacy Secret tokens).
	ServiceAccountKey KeyType
	// NodeImageOverride, when set, runs the profile on another node image
	// than NodeRepository:KubernetesVersion (--node-image). The caller has
	// checked that the image's Kubernetes minor is the profile's.
	NodeImageOverride *NodeImageOverride
}

// NodeImageOverride is a node image given for a run instead of the
// profile's default.
type NodeImageOverride struct {
	// Ref is the image reference, present on the Docker host.
	Ref string
	// KindCNI is set for an image that is not one of the project's (an
	// official kindest/node): it lacks the project's CNI configuration and
	// ships kind's default CNI instead, so the cluster keeps kind's default
	// CNI enabled.
	KindCNI bool
}

// KeyType is the type of a suite-generated service-account signing key.
type KeyType string

// The key types a profile can ask for: RS256 and ES256 tokens.
const (
	KeyRSA2048   KeyType = "RSA-2048"
	KeyECDSAP256 KeyType = "ECDSA-P256"
)

// Algorithm is the JWS algorithm of tokens signed with the key type.
func (k KeyType) Algorithm() string {
	switch k {
	case KeyRSA2048:
		return "RS256"
	case KeyECDSAP256:
		return "ES256"
	}
	return ""
}

// Node files: a profile that needs files on its node (a suite-generated key,
// kubeadm patches) gets a host directory mounted at NodeFilesPath. The path
// lies inside /etc/kubernetes/pki, which kubeadm mounts into the
// kube-apiserver pod, so the API server reads the keys from there.
const (
	NodeFilesPath = "/etc/kubernetes/pki/kic"
	// SigningKeyFile and PublicKeyFile are the suite-generated key pair
	// (PKCS#8 and PKIX PEM), named in the files directory and on the node.
	SigningKeyFile = "sa.key"
	PublicKeyFile  = "sa.pub"
	// KubeadmPublicKeyFile is kubeadm's own service-account public key.
	KubeadmPublicKeyFile = "/etc/kubernetes/pki/sa.pub"
	// PatchesDir holds kubeadm patches of the static pod manifests (below
	// Kubernetes 1.36, how repeated kube-apiserver flags are added).
	PatchesDir = "patches"
)

// DefaultFilesDir is where Host.FilesDir points when it is empty: the
// state directory's files/, relative to the checkout. The checked-in
// renderings show it.
const DefaultFilesDir = "_build/clusters/files"

// KubeadmIssuer is the service-account issuer kubeadm configures when no
// --service-account-issuer is given: https://kubernetes.default.svc.<dns domain>,
// and kind keeps the cluster.local domain.
const KubeadmIssuer = "https://kubernetes.default.svc.cluster.local"

// ServiceAccountIssuer is the issuer a cluster of the profile signs tokens
// with: the first --service-account-issuer flag, or kubeadm's default.
func (p Profile) ServiceAccountIssuer() string {
	return p.ServiceAccountIssuers()[0]
}

// ServiceAccountIssuers is every issuer the cluster accepts, the signing one
// first: the --service-account-issuer flags in order, or kubeadm's default.
func (p Profile) ServiceAccountIssuers() []string {
	if is := p.ArgValues("service-account-issuer"); len(is) > 0 {
		return is
	}
	return []string{KubeadmIssuer}
}

// Arg returns the value of a kube-apiserver flag the profile sets, and
// whether it sets it.
func (p Profile) Arg(name string) (string, bool) {
	if vs := p.ArgValues(name); len(vs) > 0 {
		return vs[0], true
	}
	return "", false
}

// ArgValues returns every value of a kube-apiserver flag the profile sets
// (the key files of ServiceAccountKey included), in order.
func (p Profile) ArgValues(name string) []string {
	var vs []string
	for _, a := range p.Args() {
		if a.Name == name {
			vs = append(vs, a.Value)
		}
	}
	return vs
}

// Args is every extra kube-apiserver flag of the profile: APIServerArgs,
// then the key flags of ServiceAccountKey.
func (p Profile) Args() []Arg {
	args := append([]Arg(nil), p.APIServerArgs...)
	if p.ServiceAccountKey != "" {
		args = append(args,
			Arg{"service-account-signing-key-file", NodeFilesPath + "/" + SigningKeyFile},
			Arg{"service-account-key-file", NodeFilesPath + "/" + PublicKeyFile},
			Arg{"service-account-key-file", KubeadmPublicKeyFile},
		)
	}
	return args
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
	// FilesDir is the host directory whose <profile>/ subdirectory holds the
	// profile's node files (empty: DefaultFilesDir). The cluster lifecycle
	// writes them there before creating the cluster.
	FilesDir string
}

// FilesDir is the host directory mounted at NodeFilesPath in the profile's
// node.
func (p Profile) FilesDir(h Host) string {
	dir := h.FilesDir
	if dir == "" {
		dir = DefaultFilesDir
	}
	return dir + "/" + p.Name
}

// NodeImage returns the node image of a Kubernetes version.
func NodeImage(version string) string { return NodeRepository + ":" + version }

// NodeImage returns the profile's node image: the override when set, else
// the default image of its Kubernetes version.
func (p Profile) NodeImage() string {
	if p.NodeImageOverride != nil {
		return p.NodeImageOverride.Ref
	}
	return NodeImage(p.KubernetesVersion)
}

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
// list; below 1.36, where extraArgs is a map, the first value goes there and
// the others are appended to the static pod's command by a kubeadm patch
// (NodeFiles), read from the files directory mounted in the node.
func (p Profile) Cluster(h Host) (*v1alpha4.Cluster, error) {
	minor, err := p.Minor()
	if err != nil {
		return nil, err
	}
	rc, err := p.RuntimeConfig()
	if err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	c := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Nodes: []v1alpha4.Node{{
			Role:  v1alpha4.ControlPlaneRole,
			Image: p.NodeImage(),
		}},
		// The project's node image ships a static CNI configuration (no
		// kindnetd image); an official one keeps kind's default CNI.
		Networking:    v1alpha4.Networking{DisableDefaultCNI: p.NodeImageOverride == nil || !p.NodeImageOverride.KindCNI},
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
	single, repeated := splitArgs(p.Args())
	if minor < 36 {
		// v1beta3's extraArgs is a map: the first value of a repeated flag
		// goes there, the others into a kubeadm patch (NodeFiles).
		single, repeated = firstOfEach(p.Args())
	}
	if len(single) > 0 {
		var b strings.Builder
		b.WriteString("kind: ClusterConfiguration\napiServer:\n  extraArgs:\n")
		for _, a := range single {
			fmt.Fprintf(&b, "    %s: %q\n", a.Name, a.Value)
		}
		c.KubeadmConfigPatches = append(c.KubeadmConfigPatches, b.String())
	}
	if len(repeated) > 0 && minor >= 36 {
		var b strings.Builder
		for _, a := range repeated {
			fmt.Fprintf(&b, "- op: add\n  path: /apiServer/extraArgs/-\n  value:\n    name: %s\n    value: %q\n", a.Name, a.Value)
		}
		c.KubeadmConfigPatchesJSON6902 = append(c.KubeadmConfigPatchesJSON6902, v1alpha4.PatchJSON6902{
			Group: "kubeadm.k8s.io", Version: "v1beta4", Kind: "ClusterConfiguration", Patch: b.String(),
		})
	}
	if len(repeated) > 0 && minor < 36 {
		c.KubeadmConfigPatches = append(c.KubeadmConfigPatches,
			fmt.Sprintf("kind: InitConfiguration\npatches:\n  directory: %s/%s\n", NodeFilesPath, PatchesDir))
	}
	files, err := p.NodeFiles()
	if err != nil {
		return nil, err
	}
	if p.ServiceAccountKey != "" || len(files) > 0 {
		c.Nodes[0].ExtraMounts = append(c.Nodes[0].ExtraMounts, v1alpha4.Mount{
			HostPath: p.FilesDir(h), ContainerPath: NodeFilesPath, Readonly: true,
		})
	}
	return c, nil
}

// validate refuses flag values kube-apiserver would refuse at start, so
// that the profile fails with the reason instead of kind's kubeadm timing
// out on an API server that never comes up.
func (p Profile) validate() error {
	if p.NodeImageOverride != nil && p.NodeImageOverride.Ref == "" {
		return fmt.Errorf("profile %s: node image override without an image reference", p.Name)
	}
	if v, ok := p.Arg("service-account-max-token-expiration"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("profile %s: --service-account-max-token-expiration=%s is not a duration: %w", p.Name, v, err)
		}
		if d < time.Hour || d > (1<<32)*time.Second {
			return fmt.Errorf("profile %s: --service-account-max-token-expiration=%s: kube-apiserver refuses to start unless it lies between 1 hour and 2^32 seconds (Gardener narrows it further, to 30d..90d)", p.Name, v)
		}
	}
	return nil
}

// NodeFiles returns the files of the profile's node that follow from its
// definition (the suite-generated key is not among them: the cluster
// lifecycle makes it), by path in the files directory. Below Kubernetes 1.36
// the second and later values of a repeated kube-apiserver flag are a kubeadm
// JSON patch of the static pod, appending them to its command after the
// first value, which kubeadm writes from extraArgs: so the first issuer still
// signs.
func (p Profile) NodeFiles() (map[string][]byte, error) {
	minor, err := p.Minor()
	if err != nil {
		return nil, err
	}
	if minor >= 36 {
		return nil, nil
	}
	_, rest := firstOfEach(p.Args())
	if len(rest) == 0 {
		return nil, nil
	}
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value string `json:"value"`
	}
	var ops []op
	for _, a := range rest {
		ops = append(ops, op{"add", "/spec/containers/0/command/-", "--" + a.Name + "=" + a.Value})
	}
	out, err := json.MarshalIndent(ops, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("profile %s: kubeadm patch: %w", p.Name, err)
	}
	return map[string][]byte{PatchesDir + "/kube-apiserver+json.json": append(out, '\n')}, nil
}

// firstOfEach separates the first value of every flag from its later
// values.
func firstOfEach(args []Arg) (first, rest []Arg) {
	seen := map[string]bool{}
	for _, a := range args {
		if seen[a.Name] {
			rest = append(rest, a)
			continue
		}
		seen[a.Name] = true
		first = append(first, a)
	}
	return first, rest
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
