package defects

// The known defects the suite checks for. Each was found while preparing the
// suite or derived from the source and then seen on a live cluster; the
// tests that check them name them.

// KubeletCTBNilSelector: a clusterTrustBundle projection by signerName with
// no labelSelector matches nothing (API documentation: "If unset,
// interpreted as match nothing"), until a projection of the same signer with
// labelSelector {} has been evaluated on the node.
var KubeletCTBNilSelector = Defect{
	ID:         "kubelet-ctb-nil-selector-cache",
	Title:      "a clusterTrustBundle projection without labelSelector returns every bundle of its signer once a labelSelector: {} projection of that signer was evaluated on the node",
	Component:  "kubelet",
	Introduced: "v1.29.0", // ClusterTrustBundleProjection (alpha) and its cache
	Upstream:   "not filed yet (found by kube-identity-conformance)",
	Steps: []string{
		"Enable ClusterTrustBundle and ClusterTrustBundleProjection (on by default from v1.37).",
		"Create a ClusterTrustBundle `s.example:a:one` with `signerName: s.example/a` and one CA certificate.",
		"Start pod P1 on node N with a projected `clusterTrustBundle: {signerName: s.example/a, path: nil.pem, optional: true}` (no labelSelector): nil.pem is empty, as documented.",
		"Start pod P2 on node N with `clusterTrustBundle: {signerName: s.example/a, labelSelector: {}, path: all.pem}`: all.pem holds the certificate, as documented.",
		"Start pod P3 on node N, the same spec as P1.",
	},
	Expected: "P3's nil.pem is empty: an unset labelSelector matches no ClusterTrustBundle (k8s.io/api core/v1 ClusterTrustBundleProjection.LabelSelector).",
	Actual:   "P3's nil.pem holds every certificate of the signer (and P1's file is filled at its next remount).",
	Cause: "pkg/kubelet/clustertrustbundle/clustertrustbundle_manager.go GetTrustAnchorsBySigner caches the result under " +
		"cacheKeyType{signerName, labelSelector: selector.String()}; metav1.LabelSelectorAsSelector(nil) is labels.Nothing() and " +
		"of &LabelSelector{} is labels.Everything(), and both String() to \"\", so the nil selector reads the {} selector's cached " +
		"anchors (a nil lookup is not cached when it matches nothing, so the order matters). A key that tells the two apart " +
		"(for example a nil flag) fixes it.",
}

// KubeletCTBByNameStale: updating a ClusterTrustBundle that has a signer does
// not invalidate the kubelet's cached copy for projections of it by name.
var KubeletCTBByNameStale = Defect{
	ID:         "kubelet-ctb-by-name-stale",
	Title:      "a clusterTrustBundle projection by name of a signer-linked bundle is not refreshed when the bundle changes, only when the kubelet's 5-minute cache entry expires",
	Component:  "kubelet",
	Introduced: "v1.29.0",
	Upstream:   "not filed yet (found by kube-identity-conformance)",
	Steps: []string{
		"Create a ClusterTrustBundle `s.example:a:one` with `signerName: s.example/a` and certificate C1.",
		"Start a pod projecting it twice: `{name: s.example:a:one, path: by-name.pem}` and `{signerName: s.example/a, labelSelector: {}, path: by-signer.pem}`.",
		"Update the bundle to hold C1 and C2; watch both files.",
	},
	Expected: "both files hold {C1, C2} after about the same delay (the kubelet keeps the file up to date when the bundle changes; seed 003 and the API documentation).",
	Actual:   "by-signer.pem changes at the next pod sync (about a minute); by-name.pem keeps {C1} until the kubelet's cache entry expires, up to 5 minutes later.",
	Cause: "pkg/kubelet/clustertrustbundle/clustertrustbundle_manager.go dropCacheFor: for a bundle with a signerName it removes only the " +
		"cache keys of that signer (cacheKeyType.signerName), never the by-name key cacheKeyType{ctbName}; GetTrustAnchorsByName " +
		"then serves the cached anchors for the cache TTL (5 minutes, ensureManagerSet). Dropping both keys fixes it.",
}

// KubeletPCREventMessage: the kubelet's Warning event for a Denied or Failed
// PodCertificateRequest uses the condition's reason as a format string.
var KubeletPCREventMessage = Defect{
	ID:         "kubelet-pcr-event-format",
	Title:      "the Denied/Failed event of a podCertificate projection has a malformed message (%!(EXTRA string=...))",
	Component:  "kubelet",
	Introduced: "v1.34.0", // PodCertificateRequest (alpha)
	Upstream:   "not filed yet (found by kube-identity-conformance)",
	Steps: []string{
		"Run a signer that denies the PodCertificateRequests of a pod with a `podCertificate` projection (condition Denied, reason R, message M).",
		"List the pod's events.",
	},
	Expected: "a Warning event, reason Denied (or Failed), message `PodCertificateRequest <ns>/<name> was denied, reason=\"R\", message=\"M\"` (for Failed: `... failed, reason=...`).",
	Actual:   "the message is `R%!(EXTRA string=PodCertificateRequest <ns>/<name> was denied, reason=\"R\", message=\"M\")`.",
	Cause: "pkg/kubelet/podcertificate/podcertificatemanager.go calls recorder.Eventf(pod, Warning, <Denied|Failed>, cond.Reason, eventMessage): " +
		"the reason is passed as the format string and the prepared message as an unused argument. recorder.Event(pod, Warning, <type>, eventMessage) fixes it.",
}
