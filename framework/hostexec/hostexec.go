// Package hostexec runs host tools (docker, debootstrap, go, apt-get) for the
// suite's scripts and cluster plumbing.
//
// It is the one way the project starts a host process. Commands are built on
// gexe, but arguments are always passed as an argv slice: nothing is parsed
// from a string, so paths with spaces, '$' and quotes reach the tool intact.
// Errors name the command and carry the tail of its output.
package hostexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	gexec "github.com/vladimirvivien/gexe/exec"
)

// Cmd describes one invocation of a host tool.
type Cmd struct {
	// Name is the program (looked up on PATH) and Args its arguments.
	Name string
	Args []string
	// Dir is the working directory ("" = current).
	Dir string
	// Env, when non-empty, is added to the current environment.
	Env []string
	// Stdin feeds the process; nil means no input.
	Stdin io.Reader
	// Stdout and Stderr, when set, receive the streams. When both are nil the
	// combined output is captured and returned by Output.
	Stdout, Stderr io.Writer
}

// Command returns a Cmd for name with args.
func Command(name string, args ...string) *Cmd {
	return &Cmd{Name: name, Args: args}
}

// String renders the command line for messages (not for execution).
func (c *Cmd) String() string {
	parts := append([]string{c.Name}, c.Args...)
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, " \t\"'$\\") {
			parts[i] = fmt.Sprintf("%q", p)
		}
	}
	return strings.Join(parts, " ")
}

// Run runs the command to completion. On failure the error names the command,
// its exit status and (when output was captured) the last lines of output.
func (c *Cmd) Run(ctx context.Context) error {
	_, err := c.run(ctx)
	return err
}

// Output runs the command and returns its combined output, trimmed.
func (c *Cmd) Output(ctx context.Context) (string, error) {
	out, err := c.run(ctx)
	return strings.TrimSpace(out), err
}

func (c *Cmd) run(ctx context.Context) (string, error) {
	if c.Name == "" {
		return "", errors.New("hostexec: empty command name")
	}
	// Build the process with gexe from the bare program name (no parsing of
	// user data), then set the argv directly.
	p := gexec.NewProcWithContext(ctx, "placeholder")
	if err := p.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", c, err)
	}
	cmd := p.Command()
	path, lookErr := lookPath(c.Name)
	if lookErr != nil {
		return "", fmt.Errorf("%s: %w", c, lookErr)
	}
	cmd.Path = path
	cmd.Err = nil // the placeholder's failed lookup; path was resolved above
	cmd.Args = append([]string{c.Name}, c.Args...)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	cmd.Stdin = c.Stdin
	var buf bytes.Buffer
	captured := c.Stdout == nil && c.Stderr == nil
	if captured {
		cmd.Stdout, cmd.Stderr = &buf, &buf
	} else {
		cmd.Stdout, cmd.Stderr = orDiscard(c.Stdout), orDiscard(c.Stderr)
	}
	if err := p.Run().Err(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return buf.String(), fmt.Errorf("%s: %w (%v)", c, ctxErr, err)
		}
		if captured {
			return buf.String(), fmt.Errorf("%s: %w%s", c, err, tail(buf.String(), 20))
		}
		return buf.String(), fmt.Errorf("%s: %w", c, err)
	}
	return buf.String(), nil
}

// Available reports whether name is on PATH.
func Available(name string) bool {
	_, err := lookPath(name)
	return err == nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// tail returns the last n lines of s, prefixed for an error message.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return "\n  " + strings.Join(lines, "\n  ")
}
