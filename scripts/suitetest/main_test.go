package main

import (
	"slices"
	"testing"
)

func TestTranslateWritesGoTestFlagsTheBinaryWay(t *testing.T) {
	got := translate([]string{"-count=1", "-timeout", "60m", "-run", "TestX/a b", "-args", "--cluster=kind", "-run", "kept"})
	want := []string{"-test.count=1", "-test.timeout", "60m", "-test.run", "TestX/a b", "--cluster=kind", "-run", "kept"}
	if !slices.Equal(got, want) {
		t.Errorf("translate = %q, want %q", got, want)
	}
}
