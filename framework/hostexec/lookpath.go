package hostexec

import "os/exec"

// lookPath resolves a program name on PATH (absolute paths are kept).
func lookPath(name string) (string, error) {
	return exec.LookPath(name)
}
