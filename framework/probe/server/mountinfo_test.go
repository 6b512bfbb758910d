package server

import (
	"reflect"
	"strings"
	"testing"
)

// A mountinfo excerpt of a pod: optional fields of every count before the
// " - " separator, escaped spaces and backslashes, a read-only projected
// volume, and two mounts stacked on one point.
const mountInfoFixture = `1873 1587 0:342 / / rw,relatime master:538 - overlay overlay rw,lowerdir=/var/lib/containerd/l1,upperdir=/u,workdir=/w
1874 1873 0:345 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1875 1873 0:346 / /dev rw,nosuid shared:7 master:9 propagate_from:2 - tmpfs tmpfs rw,size=65536k,mode=755
1880 1873 254:1 /var/lib/kubelet/pods/uid/volumes/kubernetes.io~projected/kube-api-access-x /var/run/secrets/kubernetes.io/serviceaccount ro,relatime - tmpfs tmpfs rw,size=7823028k
1881 1873 254:1 /var/lib/kubelet/pods/uid/volumes/kubernetes.io~empty-dir/my\040dir /data/my\040dir rw,relatime - ext4 /dev/vda1 rw
1882 1873 254:1 /x /weird\134name rw - ext4 /dev/disk\040by\040label rw
1883 1873 0:40 / /var/run rw - tmpfs tmpfs rw
1884 1883 0:41 / /var/run ro - tmpfs tmpfs2 rw

`

func TestParseMountInfo(t *testing.T) {
	got, err := parseMountInfo(strings.NewReader(mountInfoFixture))
	if err != nil {
		t.Fatal(err)
	}
	want := []mount{
		{"/", []string{"rw", "relatime"}, "overlay", "overlay"},
		{"/proc", []string{"rw", "nosuid", "nodev", "noexec", "relatime"}, "proc", "proc"},
		{"/dev", []string{"rw", "nosuid"}, "tmpfs", "tmpfs"},
		{"/var/run/secrets/kubernetes.io/serviceaccount", []string{"ro", "relatime"}, "tmpfs", "tmpfs"},
		{"/data/my dir", []string{"rw", "relatime"}, "ext4", "/dev/vda1"},
		{`/weird\name`, []string{"rw"}, "ext4", "/dev/disk by label"},
		{"/var/run", []string{"rw"}, "tmpfs", "tmpfs"},
		{"/var/run", []string{"ro"}, "tmpfs", "tmpfs2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMountInfo:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseMountInfoErrors(t *testing.T) {
	for _, in := range []string{
		"1873 1587 0:342 / / rw,relatime overlay overlay rw\n",   // no separator
		"1873 1587 0:342 / / rw - overlay\n",                     // too few fields after it
		"1873 1587 0:342 / - rw,relatime - overlay overlay rw\n", // separator too early
	} {
		if _, err := parseMountInfo(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("parseMountInfo(%q) error = %v, want one naming line 1", in, err)
		}
	}
}

func TestMountFor(t *testing.T) {
	mounts, err := parseMountInfo(strings.NewReader(mountInfoFixture))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, mountPoint string
		readOnly         bool
		fsType           string
	}{
		{"/var/run/secrets/kubernetes.io/serviceaccount/token", "/var/run/secrets/kubernetes.io/serviceaccount", true, "tmpfs"},
		{"/var/run/secrets/kubernetes.io/serviceaccount", "/var/run/secrets/kubernetes.io/serviceaccount", true, "tmpfs"},
		{"/var/run/secrets/kubernetes.io/serviceaccountx", "/var/run", true, "tmpfs"}, // prefix, not a parent
		{"/var/run/x", "/var/run", true, "tmpfs"},                                     // the topmost of two stacked mounts
		{"/data/my dir/file", "/data/my dir", false, "ext4"},
		{"/etc/hostname", "/", false, "overlay"},
		{"/proc/self/mountinfo", "/proc", false, "proc"},
	} {
		m := mountFor(mounts, tc.path)
		if m == nil {
			t.Errorf("mountFor(%q) = nil", tc.path)
			continue
		}
		if m.mountPoint != tc.mountPoint || m.readOnly() != tc.readOnly || m.fsType != tc.fsType {
			t.Errorf("mountFor(%q) = %s (ro=%v, %s), want %s (ro=%v, %s)", tc.path, m.mountPoint, m.readOnly(), m.fsType, tc.mountPoint, tc.readOnly, tc.fsType)
		}
	}
	if m := mountFor(nil, "/x"); m != nil {
		t.Errorf("mountFor(nil) = %+v, want nil", m)
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:           "plain",
		`a\040b`:          "a b",
		`tab\011nl\012`:   "tab\tnl\n",
		`back\134slash`:   `back\slash`,
		`short\04`:        `short\04`,
		`notoctal\089`:    `notoctal\089`,
		`trailing\`:       `trailing\`,
		`\040lead\040end`: " lead end",
	} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}
