package steps

import (
	"slices"
	"testing"
)

func TestSetFlagReplacesEveryValueWhereTheFirstWas(t *testing.T) {
	cmd := []string{"kube-apiserver", "--a=1", "--service-account-issuer=A", "--b=2", "--service-account-issuer=C", "--z=9"}
	for _, tc := range []struct {
		name   string
		values []string
		want   []string
	}{
		{"two issuers, B first", []string{"B", "A"}, []string{"kube-apiserver", "--a=1", "--service-account-issuer=B", "--service-account-issuer=A", "--b=2", "--z=9"}},
		{"removed", nil, []string{"kube-apiserver", "--a=1", "--b=2", "--z=9"}},
	} {
		if got := SetFlag(slices.Clone(cmd), "service-account-issuer", tc.values...); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := SetFlag([]string{"x", "--a=1"}, "service-account-jwks-uri", "https://j"); !slices.Equal(got, []string{"x", "--a=1", "--service-account-jwks-uri=https://j"}) {
		t.Errorf("a new flag goes at the end: %q", got)
	}
	// A flag whose name is a prefix of another is not touched.
	if got := FlagValues([]string{"--service-account-key-file=k", "--service-account-key-file-extra=x"}, "service-account-key-file"); !slices.Equal(got, []string{"k"}) {
		t.Errorf("FlagValues: %q", got)
	}
}

func TestDiffFlagsNamesAddedAndRemoved(t *testing.T) {
	got := diffFlags([]string{"--a=1", "--b=2"}, []string{"--a=1", "--c=3"})
	if !slices.Equal(got, []string{"+--c=3", "---b=2"}) {
		t.Errorf("diffFlags: %q", got)
	}
	if got := diffFlags([]string{"--a", "--b"}, []string{"--b", "--a"}); len(got) != 1 {
		t.Errorf("reordered: %q", got)
	}
}
