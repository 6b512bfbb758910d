package cluster

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"os"
	"path/filepath"
	"testing"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
)

// The key is made once per files directory and kept: a second write (the
// next run, reusing the cluster) must not replace it, or the suite and the
// running API server would disagree on the key.
func TestNodeFilesKeepTheKey(t *testing.T) {
	dir := t.TempDir()
	h := clusters.Host{FilesDir: dir}
	p := clusters.IssuersV135EC()
	if err := WriteNodeFiles(p, h); err != nil {
		t.Fatal(err)
	}
	k1, err := ServiceAccountKey(p.FilesDir(h))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k1.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("key %T, want ECDSA", k1)
	}
	if err := WriteNodeFiles(p, h); err != nil {
		t.Fatal(err)
	}
	k2, err := ServiceAccountKey(p.FilesDir(h))
	if err != nil {
		t.Fatal(err)
	}
	if !k1.(*ecdsa.PrivateKey).Equal(k2) {
		t.Error("the second write replaced the key")
	}
	st, err := os.Stat(filepath.Join(p.FilesDir(h), clusters.SigningKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("signing key mode %v (%v), want 0600", st.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(p.FilesDir(h), clusters.PatchesDir, "kube-apiserver+json.json")); err != nil {
		t.Errorf("v1.35 profile with repeated flags: kubeadm patch not written: %v", err)
	}
	q := clusters.Issuers()
	if err := WriteNodeFiles(q, h); err != nil {
		t.Fatal(err)
	}
	if k, err := ServiceAccountKey(q.FilesDir(h)); err != nil {
		t.Fatal(err)
	} else if _, ok := k.(*rsa.PrivateKey); !ok {
		t.Errorf("issuers key %T, want RSA", k)
	}
}

func TestNoNodeFilesForAPlainProfile(t *testing.T) {
	dir := t.TempDir()
	if err := WriteNodeFiles(clusters.Default(), clusters.Host{FilesDir: dir}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files written for the default profile: %v", ents)
	}
}
