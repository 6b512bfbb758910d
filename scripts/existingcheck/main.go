// Command existingcheck checks what the suite did on a cluster it did not
// make (make existing-check): a kind cluster of profile existing-v1.35,
// created outside the suite and tested through --kubeconfig, so that the
// existing-cluster mode, its detection and its skips are seen for real.
//
//	existingcheck --run DIR --require-run DIR [--profile existing-v1.35]
//
// DIR are the artifacts directories of two runs on that cluster: the
// ordinary one, and one with --require=podCertificates. What is expected
// follows from the profile: the versions its runtime-config serves the
// trust-bundle API at, and its gates. It prints every check and exits 1
// when one fails, 2 on bad input.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kube-identity-conformance/kube-identity-conformance/clusters"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/results"
	"github.com/kube-identity-conformance/kube-identity-conformance/framework/runtime"
)

func main() {
	runDir := flag.String("run", "", "artifacts directory of the existing-cluster run")
	requireDir := flag.String("require-run", "", "artifacts directory of the run with --require=podCertificates")
	profile := flag.String("profile", "existing-v1.35", "the profile the cluster was created from")
	flag.Parse()
	if *runDir == "" || *requireDir == "" {
		fmt.Fprintln(os.Stderr, "existingcheck: --run and --require-run are required")
		os.Exit(2)
	}
	p, err := clusters.Lookup(*profile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "existingcheck: %v\n", err)
		os.Exit(2)
	}
	c := &checker{}
	if err := c.check(p, *runDir, *requireDir); err != nil {
		fmt.Fprintf(os.Stderr, "existingcheck: %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("existingcheck: %d checks, %d failed\n", c.n, len(c.failed))
	if len(c.failed) > 0 {
		for _, f := range c.failed {
			fmt.Printf("  FAILED: %s\n", f)
		}
		os.Exit(1)
	}
}

type checker struct {
	n      int
	failed []string
}

func (c *checker) expect(ok bool, format string, args ...any) {
	c.n++
	msg := fmt.Sprintf(format, args...)
	if ok {
		fmt.Printf("ok      %s\n", msg)
		return
	}
	fmt.Printf("FAILED  %s\n", msg)
	c.failed = append(c.failed, msg)
}

// feature is a feature-level result of a run: TestXxx/feature.
type feature struct {
	name, action, reason string
}

func features(r *results.Run, area string) []feature {
	var out []feature
	for _, name := range r.Order {
		parts := strings.Split(name, "/")
		if len(parts) != 2 || (area != "" && parts[0] != area) {
			continue
		}
		t := r.Tests[name]
		out = append(out, feature{name: name, action: t.Action, reason: strings.Join(t.Output, " ")})
	}
	return out
}

func (c *checker) check(p clusters.Profile, runDir, requireDir string) error {
	run, err := results.LoadTests(runDir)
	if err != nil {
		return err
	}
	req, err := results.LoadTests(requireDir)
	if err != nil {
		return err
	}
	progress, err := os.ReadFile(filepath.Join(runDir, "progress.log"))
	if err != nil {
		return fmt.Errorf("the run's progress log: %w", err)
	}
	rc, err := p.RuntimeConfig()
	if err != nil {
		return err
	}
	var ctbVersions []string
	for k := range rc {
		if strings.HasSuffix(k, "/clustertrustbundles") {
			ctbVersions = append(ctbVersions, strings.Split(k, "/")[1])
		}
	}
	sort.Strings(ctbVersions)
	minor := p.KubernetesVersion[:strings.LastIndex(p.KubernetesVersion, ".")]
	if minor < "v1.37" {
		// Below 1.37 v1 does not exist; runtime-config adds the beta.
		c.detected(progress, "certificates.k8s.io serves clustertrustbundles in "+strings.Join(ctbVersions, ", "))
	}
	pcrOn := p.FeatureGates["PodCertificateRequest"]
	if !pcrOn {
		c.detected(progress, "certificates.k8s.io serves podcertificaterequests in no version")
		c.detected(progress, "pod certificate projection (a pod's podCertificate source kept by a dry-run create): off")
	}
	c.detected(progress, "kubelet "+p.KubernetesVersion)

	all := features(run, "")
	var skipsWithoutReason, failedNames []string
	disruptive := 0
	for _, f := range all {
		switch f.action {
		case "fail":
			failedNames = append(failedNames, f.name)
		case "skip":
			if strings.TrimSpace(f.reason) == "" {
				skipsWithoutReason = append(skipsWithoutReason, f.name)
			}
			if strings.Contains(f.reason, runtime.DisruptiveSkip) {
				disruptive++
			}
		}
	}
	c.expect(len(all) > 0, "the run has features (%d)", len(all))
	c.expect(len(failedNames) == 0, "no feature failed on the existing cluster (failed: %v)", failedNames)
	c.expect(len(skipsWithoutReason) == 0, "every skipped feature says why (without a reason: %v)", skipsWithoutReason)
	c.expect(disruptive > 0, "disruptive features are skipped with %q (%d)", runtime.DisruptiveSkip, disruptive)

	ctb := features(run, "TestClusterTrustBundles")
	passed := 0
	for _, f := range ctb {
		if f.action == "pass" {
			passed++
		}
	}
	c.expect(len(ctb) > 0 && passed > 0, "trust-bundle features run at the served %v API and pass (%d of %d)", ctbVersions, passed, len(ctb))

	if !pcrOn {
		pc := features(run, "TestPodCertificates")
		var notSkipped []string
		for _, f := range pc {
			if f.action != "skip" || !strings.Contains(f.reason, "podcertificaterequests in no version") {
				notSkipped = append(notSkipped, f.name+" ("+f.action+")")
			}
		}
		c.expect(len(pc) > 0 && len(notSkipped) == 0, "every pod-certificate feature (%d) is skipped, naming the missing API (not so: %v)", len(pc), notSkipped)

		rpc := features(req, "TestPodCertificates")
		var notFailed []string
		for _, f := range rpc {
			if f.action != "fail" || !strings.Contains(f.reason, "--require=podCertificates asked for it") {
				notFailed = append(notFailed, f.name+" ("+f.action+")")
			}
		}
		c.expect(len(rpc) > 0 && len(notFailed) == 0, "with --require=podCertificates every pod-certificate feature (%d) fails, saying so (not so: %v)", len(rpc), notFailed)
	}
	return nil
}

// detected checks a "detected:" line of the run's header.
func (c *checker) detected(progress []byte, want string) {
	lines := strings.Split(string(progress), "\n")
	found := slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "detected: ") && strings.Contains(l, want) })
	c.expect(found, "the header says %q", want)
}
