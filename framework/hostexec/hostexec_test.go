package hostexec

import (
	"context"
	"strings"
	"testing"
)

func TestArgumentsReachTheToolUnparsed(t *testing.T) {
	out, err := Command("printf", "%s|", "a b", "$HOME", `"q"`).Output(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := `a b|$HOME|"q"|`; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
}

func TestFailureNamesCommandAndOutput(t *testing.T) {
	err := Command("sh", "-c", "echo boom; exit 3").Run(context.Background())
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"sh -c", "exit status 3", "boom"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestMissingProgram(t *testing.T) {
	if err := Command("no-such-program-kic").Run(context.Background()); err == nil {
		t.Fatal("want an error for a missing program")
	}
	if Available("no-such-program-kic") {
		t.Fatal("Available reported a missing program")
	}
}
