package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kube-identity-conformance/kube-identity-conformance/framework/hostexec"
)

// sourceEdit is a one-file change a contributor makes: a log message of a
// file only one binary is built from gets a new suffix, so the binary really
// changes (a comment or an unused function would leave it byte for byte the
// same, and its layer would be reused).
type sourceEdit struct {
	binary string
	file   string // relative to the tree
}

var sourceEdits = []sourceEdit{
	{"kubelet", "pkg/kubelet/clustertrustbundle/clustertrustbundle_manager.go"},
	{"kube-apiserver", "pkg/kubeapiserver/options/authentication.go"},
}

// logCallRE finds the message of an error or klog call: fmt.Errorf("...
var logCallRE = regexp.MustCompile(`(fmt\.Errorf|klog\.[A-Za-z]+)\("`)

// editSource gives the first such message of the file the suffix and returns the
// original content.
func editSource(path, suffix string) ([]byte, error) {
	orig, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	loc := logCallRE.FindIndex(orig)
	if loc == nil {
		return nil, fmt.Errorf("%s has no klog call to edit", path)
	}
	edited := append(append(append([]byte{}, orig[:loc[1]]...), []byte(suffix+" ")...), orig[loc[1]:]...)
	return orig, os.WriteFile(path, edited, 0o644)
}

// measureSourceRebuild times the node image built from a tree (the release
// unpacked under _build/bench): with nothing changed, and after a one-file
// change in the kubelet and in kube-apiserver, with a warm Go build cache.
// The tree is put back as it was after each change.
func measureSourceRebuild(ctx context.Context, version string, runs int, add func(what, value, target string)) error {
	tree, err := filepath.Abs(filepath.Join("_build", "bench", "kubernetes-"+version))
	if err != nil {
		return err
	}
	if _, err := os.Stat(tree); os.IsNotExist(err) {
		if err := hostexec.Command("go", "run", "./scripts/nodeimage", "unpack", "--kubernetes-version", version, "--dir", tree).Run(ctx); err != nil {
			return fmt.Errorf("unpack %s: %w", version, err)
		}
	}
	build := func() (time.Duration, string, error) {
		start := time.Now()
		out, err := hostexec.Command("go", "run", "./scripts/nodeimage", "--kubernetes-source", tree).Output(ctx)
		d := time.Since(start)
		if err != nil {
			return d, out, fmt.Errorf("source image of %s: %w\n%s", tree, err, out)
		}
		return d, out, nil
	}
	// Warm: the Go build cache and the tree's build directory.
	if _, _, err := build(); err != nil {
		return err
	}
	var same []time.Duration
	for i := 0; i < runs; i++ {
		d, _, err := build()
		if err != nil {
			return err
		}
		same = append(same, d)
	}
	add("source node image, tree unchanged (median of "+strconv.Itoa(runs)+")", median(same), "< 30 s")
	for _, e := range sourceEdits {
		var ds []time.Duration
		var written string
		for i := 0; i < runs; i++ {
			path := filepath.Join(tree, e.file)
			orig, err := editSource(path, fmt.Sprintf("(bench %d)", time.Now().UnixNano()))
			if err != nil {
				return err
			}
			d, out, err := build()
			if rerr := os.WriteFile(path, orig, 0o644); rerr != nil && err == nil {
				err = rerr
			}
			if err != nil {
				return err
			}
			ds = append(ds, d)
			written = layersWritten(out)
		}
		add(fmt.Sprintf("source node image after a one-file change in the %s (median of %d; layers written: %s)", e.binary, runs, written), median(ds), "< 90 s")
	}
	// Leave the image of the unchanged tree in place.
	_, _, err = build()
	return err
}

// layersWritten reads the build's "source layers written: ..." line.
func layersWritten(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(line, "source layers written: "); ok {
			w, _, _ := strings.Cut(rest, ";")
			return w
		}
	}
	return "?"
}
