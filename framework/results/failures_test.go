package results

import (
	"strings"
	"testing"
)

func TestFailureFile(t *testing.T) {
	if got, want := FailureFile(`TestX/a pod's "token"_[v1.36]`), "failures/TestX__a_pod_s__token___v1.36_.txt"; got != want {
		t.Errorf("FailureFile = %q, want %q", got, want)
	}
	long := "TestX/" + strings.Repeat("a", 300)
	a, b := FailureFile(long), FailureFile(long+"b")
	if len(a) > 220 || a == b {
		t.Errorf("long names: %q and %q (want short and distinct)", a, b)
	}
}
