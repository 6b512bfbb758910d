// Package probe is how tests ask the probe (the program every example pod
// runs, see cmd/probe) what the pod sees on its filesystem.
//
// The probe answers over HTTP on Port; Files and Healthy reach it through the
// API server's pod proxy, so tests need no port-forward and no network path
// to the pod. The JSON types are defined in package server, which the probe
// binary shares, and are aliased here so that tests only import probe.
//
// The client never polls or waits: callers own waits (framework/wait) and
// decide what a failed request means.
package probe

import (
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/probe/server"
)

// Port is the TCP port the probe serves HTTP on.
const Port = server.Port

// PortEnv is the environment variable that makes a probe listen elsewhere.
const PortEnv = server.PortEnv

// ContentLimit is the most file content a FileReport carries; longer files
// are cut and marked Truncated.
const ContentLimit = server.ContentLimit

// Report is the probe's answer for a set of paths: who answered, when, and
// one FileReport per path. Report.File picks one path out of it.
type Report = server.Report

// FileReport is what the pod sees at one path: existence, type, symlink
// target, mode and owner of the target and of the link, size, content and
// SHA-256, and the mount that holds it. See server.FileReport for each field.
type FileReport = server.FileReport

// DirEntry is one entry of a directory in a FileReport, seen through Lstat.
type DirEntry = server.DirEntry

// Watch is the probe's record of every read of one path while it watched
// it, grouped into generations of distinct content.
type Watch = server.Watch

// Generation is one content a watched path had.
type Generation = server.Generation

// WriteTest says whether a file could be created in a directory, and why not.
type WriteTest = server.WriteTest

// Relying is what a relying party inside the pod read from the issuer.
type Relying = server.Relying

// SecretKey is the key of the run's secret in the Secret a probe container
// reads it from.
const SecretKey = "secret"

// ServiceAccountDir is where the kubelet mounts the automounted API
// credentials (kube-api-access); it is on every probe's allow-list, and
// simply missing in a pod that does not automount them.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Env is the environment a probe container needs: the run's secret, read
// from key SecretKey of the Secret secretName in the pod's namespace (so the
// value is not in the pod spec), and the allow-list: the container's volume
// mount paths and ServiceAccountDir.
func Env(secretName string, mounts []corev1.VolumeMount) []corev1.EnvVar {
	allow := []string{ServiceAccountDir}
	for _, m := range mounts {
		allow = append(allow, filepath.Clean(m.MountPath))
	}
	return []corev1.EnvVar{{
		Name: server.SecretEnv,
		ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secretName},
			Key:                  SecretKey,
		}},
	}, {
		Name:  server.AllowEnv,
		Value: strings.Join(allow, ":"),
	}}
}

// MinSecretLength is the shortest run secret a probe accepts.
const MinSecretLength = server.MinSecretLength

// TLSServe is a mutual-TLS listener the probe runs with the pod's
// credentials, and every handshake it has seen.
type TLSServe = server.TLSServe

// TLSHandshake is one connection a TLSServe listener accepted.
type TLSHandshake = server.TLSHandshake

// TLSPeer is the certificate the other side of a handshake presented: its
// leaf's subject, SANs and SHA-256, and the length of the verified chain.
type TLSPeer = server.TLSPeer

// TLSDial is one mutual-TLS connection a probe made with the pod's
// credentials.
type TLSDial = server.TLSDial

// MaxTLSHandshakes is how many handshakes a TLSServe keeps (the last ones).
const MaxTLSHandshakes = server.MaxTLSHandshakes

// TLSCredentials names the pod's credential files, as the kubelet projects
// them in a podCertificate volume: Bundle (credentialBundlePath: a PKCS#8
// "PRIVATE KEY" block, then CERTIFICATE blocks leaf first), or Key and
// Chain (keyPath and certificateChainPath). Every path must be in the
// probe's allow-list.
type TLSCredentials struct {
	Bundle, Key, Chain string
}
